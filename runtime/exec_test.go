package runtime_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/vai-dev/vai/runtime"
)

// TestExecutorMatchesReference checks the optimised executor bit for bit
// against the reference interpreter on random models, batch sizes and worker
// counts (run it with -race: workers share the executor).
func TestExecutorMatchesReference(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		var m *runtime.Model
		if seed%2 == 0 {
			m = randMLP(r)
		} else {
			m = randCNN(r)
		}
		n := []int{1, 3, 4, 5, 17, 70}[r.IntN(6)]
		in := randInt8s(r, n*m.Input.Size())
		want, err := runtime.Reference(m, in, n)
		if err != nil {
			t.Fatalf("seed %d: reference: %v", seed, err)
		}
		for _, workers := range []int{1, 3} {
			e, err := runtime.NewExecutor(m, runtime.ExecConfig{Workers: workers})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			got, err := e.Run(in, n)
			if err != nil {
				t.Fatalf("seed %d: run: %v", seed, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d workers %d: executor and reference differ\n got %v\nwant %v\nmodel %s", seed, workers, got, want, describe(m))
			}
		}
	}
}

func describe(m *runtime.Model) string {
	s := fmt.Sprint(m.Input)
	for _, l := range m.Layers {
		s += " → " + l.Kind()
		if c, ok := l.(*runtime.Conv2D); ok {
			s += fmt.Sprintf("%+v", *c)
		}
	}
	return s
}

// TestExecutorConcurrent runs one executor from many goroutines at once.
func TestExecutorConcurrent(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	m := randCNN(r)
	e, err := runtime.NewExecutor(m, runtime.ExecConfig{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	in := randInt8s(r, 40*m.Input.Size())
	want, err := runtime.Reference(m, in, 40)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := e.Run(in, 40)
			if err == nil && !slices.Equal(got, want) {
				err = errors.New("concurrent run differs from reference")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestHandComputed checks both implementations against values worked out by
// hand from the documented arithmetic, so they cannot agree on a wrong answer.
func TestHandComputed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    *runtime.Model
		in   []int8
		want []int8
	}{{
		// acc = [10 + 1·3 + 2·(−4), −10 + 100·3 + 100·(−4)] = [5, −110]
		// y0 = (5·3 + 2) >> 2 = 4 (5·3/4 = 3.75), y1 = (−110·3 + 2) >> 2 = −82 (−82.5 rounds up)
		name: "dense",
		m: model(runtime.Shape{2}, &runtime.Dense{In: 2, Out: 2, Weights: []int8{1, 2, 100, 100}, Bias: []int32{10, -10},
			Requant: runtime.Requant{Mult: []int32{3}, Shift: []uint8{2}}}),
		in: []int8{3, -4}, want: []int8{4, -82},
	}, {
		// per channel: channel 0 ×1 (shift 0) saturates at 127, channel 1 ×1/2: −110/2 = −55
		name: "dense per-channel saturating relu",
		m: model(runtime.Shape{2}, &runtime.Dense{In: 2, Out: 3, Weights: []int8{100, 100, 100, 100, -1, 0}, Bias: []int32{0, -10, 0},
			Requant: runtime.Requant{Mult: []int32{1, 1, 1}, Shift: []uint8{0, 1, 0}}, Act: runtime.ActRelu}),
		in: []int8{3, -4}, want: []int8{0, 0, 0},
	}, {
		name: "dense saturates",
		m: model(runtime.Shape{2}, &runtime.Dense{In: 2, Out: 2, Weights: []int8{127, 127, -127, -127}, Bias: []int32{0, 0},
			Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}),
		in: []int8{100, 100}, want: []int8{127, -128},
	}, {
		// 1×3×3 input, 2×2 kernel of ones, stride 1, pad bottom/right 1:
		// windows sum [1+2+4+5, 2+3+5+6, 3+6, 4+5+7+8, 5+6+8+9, 6+9, 7+8, 8+9, 9]
		name: "conv padded",
		m: model(runtime.Shape{1, 3, 3}, &runtime.Conv2D{InC: 1, OutC: 1, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadBottom: 1, PadRight: 1,
			Weights: []int8{1, 1, 1, 1}, Bias: []int32{0}, Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}),
		in: []int8{1, 2, 3, 4, 5, 6, 7, 8, 9}, want: []int8{12, 16, 9, 24, 28, 15, 15, 17, 9},
	}, {
		name: "conv stride 2 pad top-left",
		m: model(runtime.Shape{1, 3, 3}, &runtime.Conv2D{InC: 1, OutC: 1, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1,
			Weights: []int8{1, 2, 3, 4}, Bias: []int32{1}, Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}),
		// windows: (−1..0,−1..0)=4·1; (−1..0,1..2)=3·2+4·3; (1..2,−1..0)=2·4+4·7; (1..2,1..2)=1·5+2·6+3·8+4·9
		in: []int8{1, 2, 3, 4, 5, 6, 7, 8, 9}, want: []int8{5, 19, 37, 78},
	}, {
		name: "maxpool padded",
		m:    model(runtime.Shape{1, 2, 3}, &runtime.MaxPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadRight: 1}}),
		in:   []int8{-5, -3, -9, -2, -7, -8}, want: []int8{-2, -8},
	}, {
		// sums 1+2+4+5 = 12 → 3; 3+6 = 9 over 2 → 4.5 → 5 (half up); −1−2−4−4 = −11 → −2.75 → −3; −3−2 = −5 → −2.5 → −2
		name: "avgpool rounding",
		m:    model(runtime.Shape{2, 2, 3}, &runtime.AvgPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadRight: 1}}),
		in:   []int8{1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -4, -2}, want: []int8{3, 5, -3, -2},
	}, {
		// count_include_pad: 9 over 4 = 2.25 → 2; −5 over 4 = −1.25 → −1
		name: "avgpool count pad",
		m:    model(runtime.Shape{2, 2, 3}, &runtime.AvgPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadRight: 1}, CountIncludePad: true}),
		in:   []int8{1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -4, -2}, want: []int8{3, 2, -3, -1},
	}, {
		name: "relu lut reshape",
		m:    model(runtime.Shape{1, 2, 2}, &runtime.Relu{}, &runtime.Reshape{Shape: runtime.Shape{4}}, negLUT()),
		in:   []int8{-128, -1, 0, 127}, want: []int8{0, 0, 0, -127},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := runtime.Reference(tt.m, tt.in, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reference = %v, want %v", got, tt.want)
			}
			e, err := runtime.NewExecutor(tt.m, runtime.ExecConfig{})
			if err != nil {
				t.Fatal(err)
			}
			got, err = e.Run(tt.in, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("executor = %v, want %v", got, tt.want)
			}
		})
	}
}

func negLUT() *runtime.LUT {
	l := &runtime.LUT{Name: "neg"}
	for i := range l.Table {
		l.Table[i] = int8(max(-127, -(i - 128)))
	}
	return l
}

func model(in runtime.Shape, layers ...runtime.Layer) *runtime.Model {
	return &runtime.Model{Input: in, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1}, Layers: layers}
}

func TestRunShapeErrors(t *testing.T) {
	t.Parallel()
	m := model(runtime.Shape{2}, &runtime.Relu{})
	e, err := runtime.NewExecutor(m, runtime.ExecConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in []int8
		n  int
	}{{[]int8{1}, 1}, {[]int8{1, 2, 3}, 1}, {[]int8{1, 2}, 2}, {nil, -1}} {
		if _, err := e.Run(tc.in, tc.n); !errors.Is(err, runtime.ErrShape) {
			t.Errorf("Run(%d values, n=%d) error = %v, want ErrShape", len(tc.in), tc.n, err)
		}
		if _, err := runtime.Reference(m, tc.in, tc.n); !errors.Is(err, runtime.ErrShape) {
			t.Errorf("Reference(%d values, n=%d) error = %v, want ErrShape", len(tc.in), tc.n, err)
		}
	}
	if got, err := e.Run(nil, 0); err != nil || len(got) != 0 {
		t.Errorf("Run(empty batch) = %v, %v", got, err)
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	dense := func(mod func(d *runtime.Dense)) *runtime.Model {
		d := &runtime.Dense{In: 2, Out: 1, Weights: []int8{1, 1}, Bias: []int32{0}, Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}
		mod(d)
		return model(runtime.Shape{2}, d)
	}
	tests := []struct {
		name string
		m    *runtime.Model
		want error
	}{
		{"no layers", model(runtime.Shape{2}), runtime.ErrInvalid},
		{"short weights", dense(func(d *runtime.Dense) { d.Weights = d.Weights[:1] }), runtime.ErrInvalid},
		{"bias count", dense(func(d *runtime.Dense) { d.Bias = nil }), runtime.ErrInvalid},
		{"zero multiplier", dense(func(d *runtime.Dense) { d.Requant.Mult[0] = 0 }), runtime.ErrInvalid},
		{"shift too big", dense(func(d *runtime.Dense) { d.Requant.Shift[0] = 63 }), runtime.ErrInvalid},
		{"accumulator overflow", dense(func(d *runtime.Dense) { d.Bias[0] = 1<<31 - 200 }), runtime.ErrInvalid},
		{"bad activation", dense(func(d *runtime.Dense) { d.Act = 9 }), runtime.ErrInvalid},
		{"shape chain", model(runtime.Shape{3}, &runtime.Dense{In: 2, Out: 1, Weights: []int8{1, 1}, Bias: []int32{0}, Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}), runtime.ErrInvalid},
		{"pad not below kernel", model(runtime.Shape{1, 4, 4}, &runtime.MaxPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadTop: 2}}), runtime.ErrInvalid},
		{"reshape size", model(runtime.Shape{4}, &runtime.Reshape{Shape: runtime.Shape{5}}), runtime.ErrInvalid},
		{"input rank", model(runtime.Shape{}, &runtime.Relu{}), runtime.ErrInvalid},
	}
	for _, tt := range tests {
		if err := tt.m.Validate(runtime.DefaultLimits); !errors.Is(err, tt.want) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, tt := range tests {
		if _, err := runtime.Reference(tt.m, make([]int8, tt.m.Input.Size()), 1); !errors.Is(err, tt.want) {
			t.Errorf("%s: Reference error = %v, want %v", tt.name, err, tt.want)
		}
		if _, err := runtime.NewExecutor(tt.m, runtime.ExecConfig{}); !errors.Is(err, tt.want) {
			t.Errorf("%s: NewExecutor error = %v, want %v", tt.name, err, tt.want)
		}
	}
	big := dense(func(d *runtime.Dense) {})
	if err := big.Validate(runtime.Limits{MaxMemory: 10}); !errors.Is(err, runtime.ErrTooLarge) {
		t.Errorf("memory limit: Validate = %v, want ErrTooLarge", err)
	}
}

func TestArgmax(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    []int8
		want int
	}{{nil, -1}, {[]int8{-128}, 0}, {[]int8{1, 5, 5, 2}, 1}, {[]int8{-3, -2, -2}, 1}, {[]int8{127, 127}, 0}} {
		if got := runtime.Argmax(tc.v); got != tc.want {
			t.Errorf("Argmax(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// TestDigitsModelsMatchReference runs the committed digits models on the
// held-out digits with both implementations.
func TestDigitsModelsMatchReference(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"digits_mlp", "digits_cnn", "digits_tanh"} {
		raw, err := os.ReadFile("testdata/" + name + ".vaim")
		if err != nil {
			t.Fatal(err)
		}
		m, err := runtime.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open("testdata/digits_test.csv")
		if err != nil {
			t.Fatal(err)
		}
		d, err := runtime.ReadCSV(f, m.Input.Size())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		in, err := m.QuantizeRows(d.Rows, false)
		if err != nil {
			t.Fatal(err)
		}
		want, err := runtime.Reference(m, in, len(d.Rows))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int{1, 2, 5} {
			e, err := runtime.NewExecutor(m, runtime.ExecConfig{Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Run(in, len(d.Rows))
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("%s, %d workers: executor differs from reference (%v)", name, w, err)
			}
		}
	}
}

// TestDigitsGoldenOutputs pins the int8 outputs of the committed digits
// models on the held-out digits: SHA-256 over all output bytes. Any change
// of arithmetic, on any machine or build, fails here ("identical outputs on
// every run and machine").
func TestDigitsGoldenOutputs(t *testing.T) {
	t.Parallel()
	golden := map[string]string{
		"digits_mlp":  "4cec44319f1d64e241fd23771010c566ef529c828348f7d71fb5cfd04607abea",
		"digits_cnn":  "6c05d9640c2543c566cb981d4ccd99e9c132a5e40102ceeb8eb4c6ea201dadf1",
		"digits_tanh": "64849d841f03c8a21d2562045e427420d791941f7c77992829d2d5c3ba36307d",
	}
	for name, want := range golden {
		raw, err := os.ReadFile("testdata/" + name + ".vaim")
		if err != nil {
			t.Fatal(err)
		}
		m, err := runtime.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open("testdata/digits_test.csv")
		if err != nil {
			t.Fatal(err)
		}
		d, err := runtime.ReadCSV(f, m.Input.Size())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		in, err := m.QuantizeRows(d.Rows, false)
		if err != nil {
			t.Fatal(err)
		}
		e, err := runtime.NewExecutor(m, runtime.ExecConfig{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Run(in, len(d.Rows))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, len(out))
		for i, v := range out {
			b[i] = byte(v)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: outputs on digits_test.csv hash to %s, want %s", name, got, want)
		}
	}
}
