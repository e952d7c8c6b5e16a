package onnx_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/runtime/onnx"
)

func seedModels() [][]byte {
	var seeds [][]byte
	for _, name := range []string{"digits_mlp", "digits_cnn", "digits_tanh", "unsupported"} {
		if b, err := os.ReadFile(filepath.Join("..", "testdata", name+".onnx")); err == nil {
			seeds = append(seeds, b)
		}
	}
	w := tensor{"w", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6}}
	seeds = append(seeds,
		model([]node{{op: "MatMul", inputs: []string{"x", "w"}, outputs: []string{"m"}},
			{op: "Relu", inputs: []string{"m"}, outputs: []string{"y"}}}, []tensor{w}, "y", 3),
		model([]node{{op: "MaxPool", inputs: []string{"x"}, outputs: []string{"p"}, ints: map[string][]int64{"kernel_shape": {2, 2}, "pads": {1, 1, 0, 0}}},
			{op: "Flatten", inputs: []string{"p"}, outputs: []string{"y"}}}, nil, "y", 1, 3, 3))
	return seeds
}

// FuzzLoad checks that the ONNX importer never panics on arbitrary bytes,
// and that whatever it accepts quantises (or fails cleanly) into a model on
// which the executor agrees with the reference. The seed corpus is in
// testdata/fuzz/FuzzLoad; run longer with
// go test ./runtime/onnx -run '^$' -fuzz FuzzLoad -fuzztime 60s -fuzzminimizetime 2s
// (minimising a new input found from the 10 KB seed models is slow).
func FuzzLoad(f *testing.F) {
	for _, s := range seedModels() {
		f.Add(s)
	}
	lim := onnx.Limits{MaxBytes: 1 << 20, MaxElements: 1 << 18, MaxNodes: 64}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := onnx.Load(b, lim)
		if err != nil {
			return
		}
		if g.Input.Size() > 4096 {
			return
		}
		x := make([]float32, 2*g.Input.Size())
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		if _, err := g.Run(x, 2); err != nil {
			t.Fatalf("float run: %v", err)
		}
		m, err := onnx.Quantize(g, x, 2, onnx.QuantConfig{})
		if err != nil {
			return
		}
		in := make([]int8, len(x))
		for i := range in {
			in[i] = int8(i*31 + 5)
		}
		want, err := vairt.Reference(m, in, 2)
		if err != nil {
			t.Fatal(err)
		}
		e, err := vairt.NewExecutor(m, vairt.ExecConfig{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Run(in, 2)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("executor %v (%v) != reference %v", got, err, want)
		}
	})
}

var genCorpus = flag.Bool("gencorpus", false, "write the fuzz seed corpus to testdata/fuzz")

// TestGenCorpus writes the committed seed corpus of FuzzLoad (with -gencorpus).
func TestGenCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz/FuzzLoad")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := seedModels()
	seeds = append(seeds, seeds[0][:len(seeds[0])/3], []byte{0x08, 0x08, 0x3a, 0xff, 0xff, 0x03})
	for _, s := range seeds {
		sum := sha256.Sum256(s)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
