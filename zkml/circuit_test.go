package zkml_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// TestDigitsBitExact holds the circuit to the runtime on every row of the
// digits data in runtime/testdata (calibration and held-out: 872 rows) for
// the three reference models: the constraints must be satisfiable with the
// output runtime.Reference computes, sample by sample.
func TestDigitsBitExact(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"digits_mlp", "digits_cnn", "digits_tanh"} {
		t.Run(name, func(t *testing.T) {
			m := loadModel(t, name)
			c, err := zkml.Compile(m, zkml.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rows := append(digits(t, m, "digits_calib.csv"), digits(t, m, "digits_test.csv")...)
			if testing.Short() {
				rows = rows[:40]
			}
			salt, _ := zkml.NewSalt()
			want, err := zkml.Commit(m, salt)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, len(rows))
			sem := make(chan struct{}, 2)
			for i, r := range rows {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					pub, err := zkml.Solve(c, m, salt, r, []byte("job"))
					if err == nil && pub.Commitment != want {
						err = errors.New("commitment differs from Commit")
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("row %d: %v", i, err)
				}
			}
		})
	}
}

// TestRandomModelsBitExact covers what the digits models do not: every
// layer kind, padding, strides, per-tensor requantisation, saturation at
// both ends, extreme weights and inputs.
func TestRandomModelsBitExact(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	m := tinyModel()
	c, err := zkml.Compile(m, zkml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		// New parameters, same architecture: the same circuit proves them.
		randomize(rng, m)
		in := make([]int8, 16)
		for j := range in {
			in[j] = int8(rng.IntN(256) - 128)
			if i%4 == 0 {
				in[j] = []int8{-128, 127}[rng.IntN(2)]
			}
		}
		if _, err := zkml.Solve(c, m, zkml.Salt{}, in, nil); err != nil {
			t.Fatalf("model %d: %v", i, err)
		}
	}
}

// randomize draws new parameters for m's dense and conv layers and tables.
func randomize(rng *rand.Rand, m *runtime.Model) {
	w8 := func(w []int8) {
		for i := range w {
			w[i] = int8(rng.IntN(256) - 128)
		}
	}
	req := func(r runtime.Requant, b []int32) {
		for i := range b {
			b[i] = int32(rng.IntN(1<<16) - 1<<15)
		}
		for i := range r.Mult {
			r.Mult[i] = int32(1 + rng.IntN(1<<31-1))
			r.Shift[i] = uint8(20 + rng.IntN(20))
			if rng.IntN(5) == 0 {
				r.Mult[i], r.Shift[i] = 1, uint8(rng.IntN(3))
			}
		}
	}
	for _, l := range m.Layers {
		switch l := l.(type) {
		case *runtime.Dense:
			w8(l.Weights)
			req(l.Requant, l.Bias)
		case *runtime.Conv2D:
			w8(l.Weights)
			req(l.Requant, l.Bias)
		case *runtime.LUT:
			w8(l.Table[:])
		}
	}
}

func TestUnsupported(t *testing.T) {
	t.Parallel()
	big := &runtime.Model{Input: runtime.Shape{4096}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{&runtime.Dense{In: 4096, Out: 1025, Weights: make([]int8, 4096*1025), Bias: make([]int32, 1025),
			Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}}}
	if _, err := zkml.Compile(big, zkml.Options{}); !errors.Is(err, zkml.ErrUnsupported) {
		t.Fatalf("Compile(4M parameters) = %v, want ErrUnsupported", err)
	}
	if _, err := zkml.Compile(&runtime.Model{}, zkml.Options{}); !errors.Is(err, runtime.ErrInvalid) {
		t.Fatalf("Compile(empty) = %v, want ErrInvalid", err)
	}
}
