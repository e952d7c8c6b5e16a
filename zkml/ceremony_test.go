package zkml_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// tinyModel is a small model of every circuit-relevant kind that proves in
// well under a second: conv2d, max and average pooling, relu, a table, dense.
func tinyModel() *runtime.Model {
	table := [256]int8{}
	for i := range table {
		table[i] = int8((i - 128) / 2)
	}
	return &runtime.Model{
		Input: runtime.Shape{1, 4, 4}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{
			&runtime.Conv2D{InC: 1, OutC: 2, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1,
				Weights: []int8{3, -7, 12, 5, -9, 4, 8, -2}, Bias: []int32{10, -20},
				Requant: runtime.Requant{Mult: []int32{1 << 20, 3 << 19}, Shift: []uint8{24, 23}}, Act: runtime.ActRelu},
			&runtime.MaxPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
			&runtime.AvgPool{Pool: runtime.Pool{KH: 2, KW: 3, StrideH: 1, StrideW: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
			&runtime.Reshape{Shape: runtime.Shape{8}},
			&runtime.LUT{Name: "half", Table: table},
			&runtime.Relu{},
			&runtime.Dense{In: 8, Out: 3, Weights: []int8{1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 0, 1, 2, 3, 4, 5, -1, -1, -1, -1, 9, 9, 9, 9},
				Bias: []int32{100, -100, 0}, Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}},
		},
	}
}

// smallModel is the smallest model worth a ceremony: its circuit is mostly
// the commitment's hash and the lookup tables.
func smallModel() *runtime.Model {
	return &runtime.Model{
		Input: runtime.Shape{4}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{
			&runtime.Dense{In: 4, Out: 2, Weights: []int8{1, -2, 3, -4, 50, 60, -70, 80}, Bias: []int32{7, -7},
				Requant: runtime.Requant{Mult: []int32{3 << 28}, Shift: []uint8{33}}, Act: runtime.ActRelu},
		},
	}
}

func TestCeremony(t *testing.T) {
	t.Parallel()
	m := smallModel()
	c, err := zkml.Compile(m, zkml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ceremony")
	cer, err := zkml.NewCeremony(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"owner", "alice"} {
		if _, err := cer.Contribute(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := cer.Seal([]byte("beacon for phase one, block 1234")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"owner", "bob", "carol"} {
		if _, err := cer.Contribute(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := cer.Seal([]byte("beacon for phase two, block 1300")); err != nil {
		t.Fatal(err)
	}
	rep, err := zkml.VerifyCeremony(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Phase1) != 2 || len(rep.Phase2) != 3 || rep.Circuit != c.ID() {
		t.Fatalf("report %+v", rep)
	}
	pk, vk, err := cer.Keys()
	if err != nil {
		t.Fatal(err)
	}
	salt, _ := zkml.NewSalt()
	in := []int8{100, -20, 3, 127}
	p, err := zkml.Prove(c, pk, m, salt, in, []byte("job-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := zkml.Verify(vk, p); err != nil {
		t.Fatal(err)
	}

	// A contribution that starts afresh instead of building on the one
	// before: its author alone would know the toxic waste. Recorded with a
	// correct file digest, so only the cryptographic check can catch it.
	t.Run("restarted contribution", func(t *testing.T) {
		bad := copyDir(t, dir)
		p1 := mpcsetup.NewPhase1(cer.Manifest().Domain)
		p1.Contribute()
		replaceContribution(t, bad, "phase1/0002.bin", p1)
		if _, err := zkml.VerifyCeremony(bad); !errors.Is(err, zkml.ErrBadContribution) {
			t.Fatalf("VerifyCeremony = %v, want ErrBadContribution", err)
		}
	})
	t.Run("replayed contribution", func(t *testing.T) {
		bad := copyDir(t, dir)
		b, err := os.ReadFile(filepath.Join(bad, "phase2/0001.bin"))
		if err != nil {
			t.Fatal(err)
		}
		var p2 mpcsetup.Phase2
		if _, err := p2.ReadFrom(bytesReader(b)); err != nil {
			t.Fatal(err)
		}
		replaceContribution(t, bad, "phase2/0003.bin", &p2)
		if _, err := zkml.VerifyCeremony(bad); !errors.Is(err, zkml.ErrBadContribution) {
			t.Fatalf("VerifyCeremony = %v, want ErrBadContribution", err)
		}
	})
	t.Run("edited file", func(t *testing.T) {
		bad := copyDir(t, dir)
		f := filepath.Join(bad, "phase2/0002.bin")
		b, _ := os.ReadFile(f)
		b[len(b)/2] ^= 1
		os.WriteFile(f, b, 0o644)
		if _, err := zkml.VerifyCeremony(bad); !errors.Is(err, zkml.ErrCeremony) {
			t.Fatalf("VerifyCeremony = %v, want ErrCeremony", err)
		}
	})
}
