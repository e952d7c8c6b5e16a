package main

import (
	"os"

	"github.com/rogpeppe/go-internal/testscript"

	vairt "github.com/vai-dev/vai/runtime"
)

// zkmodel FILE [VARIANT]: write a small .vaim model (4 → 2, ReLU) for the
// zk scripts: variant "other" has other weights (same architecture),
// "wide" another architecture.
func zkModel(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: zkmodel FILE [other|wide]")
	}
	in, w := 4, []int8{1, -2, 3, -4, 50, 60, -70, 80}
	if len(args) == 2 && args[1] == "other" {
		w[0] = 2
	}
	if len(args) == 2 && args[1] == "wide" {
		in, w = 5, []int8{1, -2, 3, -4, 5, 50, 60, -70, 80, 90}
	}
	m := &vairt.Model{
		Input: vairt.Shape{in}, InputScale: vairt.Fixed{Mult: 1}, OutputScale: vairt.Fixed{Mult: 1},
		Layers: []vairt.Layer{&vairt.Dense{In: in, Out: 2, Weights: w, Bias: []int32{7, -7},
			Requant: vairt.Requant{Mult: []int32{3 << 28}, Shift: []uint8{33}}, Act: vairt.ActRelu}},
	}
	b, err := m.MarshalBinary()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}
