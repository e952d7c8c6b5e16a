package onnx_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/runtime/onnx"
)

func readCSV(t *testing.T, name string, features int) *vairt.Dataset {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := vairt.ReadCSV(f, features)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func load(t *testing.T, name string) *onnx.Graph {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Load(b, onnx.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func quantize(t *testing.T, g *onnx.Graph, cfg onnx.QuantConfig) *vairt.Model {
	t.Helper()
	cal := readCSV(t, "digits_calib.csv", g.Input.Size())
	x, err := onnx.ParseRows(cal.Rows)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Quantize(g, x, len(cal.Rows), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReferenceModels imports the PyTorch-exported digits models: the float
// graph reproduces PyTorch's held-out accuracy (printed by train_digits.py),
// int8 meets the bars, and the import reproduces the committed
// .vaim byte for byte.
func TestReferenceModels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		torchAcc     float64 // float32 accuracy PyTorch reported
		minInt8      float64
		maxDropPoint float64
	}{
		{"digits_mlp", 0.9778, 0.95, 2},
		{"digits_cnn", 0.9806, 0.95, 2},
		{"digits_tanh", 0.9639, 0.94, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := load(t, tc.name+".onnx")
			test := readCSV(t, "digits_test.csv", g.Input.Size())
			pf, err := g.Classify(test)
			if err != nil {
				t.Fatal(err)
			}
			fa := vairt.Accuracy(pf, test.Labels)
			if math.Abs(fa-tc.torchAcc) > 0.00005 {
				t.Errorf("float accuracy %.4f, PyTorch reported %.4f", fa, tc.torchAcc)
			}
			for _, pow2 := range []bool{false, true} {
				m := quantize(t, g, onnx.QuantConfig{PowerOfTwo: pow2})
				e, err := vairt.NewExecutor(m, vairt.ExecConfig{})
				if err != nil {
					t.Fatal(err)
				}
				pq, err := e.Classify(test, false)
				if err != nil {
					t.Fatal(err)
				}
				qa := vairt.Accuracy(pq, test.Labels)
				t.Logf("pow2=%v: float %.4f int8 %.4f", pow2, fa, qa)
				if qa < tc.minInt8 || 100*(fa-qa) > tc.maxDropPoint {
					t.Errorf("pow2=%v: int8 accuracy %.4f (float %.4f)", pow2, qa, fa)
				}
				if pow2 {
					continue
				}
				m.Meta["name"] = tc.name
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join("..", "testdata", tc.name+".vaim"))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, want) {
					t.Errorf("import is not reproducible: differs from testdata/%s.vaim", tc.name)
				}
			}
		})
	}
}

// TestCNNLowering checks BatchNorm folding, ReLU fusion and Pad merging on
// the PyTorch CNN (Conv-BN-Relu-MaxPool-Conv-BN-Relu-Pad-AveragePool-
// Flatten-Gemm), and that folding BN preserves the float function.
func TestCNNLowering(t *testing.T) {
	t.Parallel()
	g := load(t, "digits_cnn.onnx")
	var kinds []string
	for _, l := range g.Layers {
		kinds = append(kinds, l.Kind())
	}
	if want := []string{"conv2d", "maxpool", "conv2d", "avgpool", "reshape", "dense"}; !slices.Equal(kinds, want) {
		t.Fatalf("layers %v, want %v", kinds, want)
	}
	if c := g.Layers[0].(*onnx.Conv); !c.Relu || c.PadTop != 1 {
		t.Errorf("first conv: relu %v pads %d, want fused relu and padding 1", c.Relu, c.PadTop)
	}
	if g.Meta["source.producer"] != "pytorch" || len(g.Meta["source.sha256"]) != 64 {
		t.Errorf("meta %v", g.Meta)
	}
}

func TestUnsupportedListsAll(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/unsupported.onnx")
	if err != nil {
		t.Fatal(err)
	}
	_, err = onnx.Load(b, onnx.DefaultLimits)
	var ue *onnx.UnsupportedOpsError
	if !errors.As(err, &ue) || !errors.Is(err, onnx.ErrUnsupported) {
		t.Fatalf("error %v, want *UnsupportedOpsError", err)
	}
	if diff := cmp.Diff([]string{"LeakyRelu (1 node)", "Softmax (1 node)"}, ue.Ops); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
}

// TestBuiltGraphs covers lowering rules on small hand-built graphs.
func TestBuiltGraphs(t *testing.T) {
	t.Parallel()
	w := tensor{"w", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6}} // MatMul weights K=3, N=2
	bias := tensor{"b", []int64{2}, []float32{0.5, -0.5}}
	tests := []struct {
		name    string
		onnx    []byte
		in, out []float32 // one sample
		err     error
	}{{
		name: "matmul+add+relu",
		onnx: model([]node{{op: "MatMul", inputs: []string{"x", "w"}, outputs: []string{"m"}},
			{op: "Add", inputs: []string{"b", "m"}, outputs: []string{"a"}},
			{op: "Relu", inputs: []string{"a"}, outputs: []string{"y"}}}, []tensor{w, bias}, "y", 3),
		in: []float32{1, -1, 0.5}, out: []float32{1 - 3 + 2.5 + 0.5, max(0, 2-4+3-0.5)},
	}, {
		name: "gemm transB alpha beta",
		onnx: model([]node{{op: "Gemm", inputs: []string{"x", "w", "b"}, outputs: []string{"y"},
			ints: map[string][]int64{"transB": {1}}, floats: map[string]float32{"alpha": 2, "beta": 3}}},
			[]tensor{{"w", []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6}}, bias}, "y", 3),
		in: []float32{1, 0, -1}, out: []float32{2*(1-3) + 1.5, 2*(4-6) - 1.5},
	}, {
		name: "add of two computed tensors",
		onnx: model([]node{{op: "Relu", inputs: []string{"x"}, outputs: []string{"r"}},
			{op: "Add", inputs: []string{"r", "x"}, outputs: []string{"y"}}}, nil, "y", 3),
		err: onnx.ErrUnsupported,
	}, {
		name: "NaN weight",
		onnx: model([]node{{op: "MatMul", inputs: []string{"x", "w"}, outputs: []string{"y"}}},
			[]tensor{{"w", []int64{3, 2}, []float32{1, 2, float32(math.NaN()), 4, 5, 6}}}, "y", 3),
		err: errQuantize,
	}, {
		name: "shape mismatch",
		onnx: model([]node{{op: "MatMul", inputs: []string{"x", "w"}, outputs: []string{"y"}}}, []tensor{w}, "y", 4),
		err:  onnx.ErrUnsupported,
	}, {
		name: "zero outputs",
		onnx: model([]node{{op: "MatMul", inputs: []string{"x", "w"}, outputs: []string{"y"}}},
			[]tensor{{"w", []int64{3, 0}, nil}}, "y", 3),
		err: onnx.ErrUnsupported,
	}, {
		name: "zero output channels",
		onnx: model([]node{{op: "Conv", inputs: []string{"x", "w"}, outputs: []string{"y"}}},
			[]tensor{{"w", []int64{0, 1, 2, 2}, nil}}, "y", 1, 3, 3),
		err: onnx.ErrUnsupported,
	}, {
		name: "ceil mode",
		onnx: model([]node{{op: "MaxPool", inputs: []string{"x"}, outputs: []string{"y"},
			ints: map[string][]int64{"kernel_shape": {2, 2}, "ceil_mode": {1}}}}, nil, "y", 1, 3, 3),
		err: onnx.ErrUnsupported,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := onnx.Load(tt.onnx, onnx.DefaultLimits)
			if err == nil && tt.err == errQuantize {
				_, err = onnx.Quantize(g, []float32{1, 2, 3}, 1, onnx.QuantConfig{})
				if err != nil {
					err = errQuantize
				}
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Run(tt.in, 1)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.out, got); diff != "" {
				t.Errorf("float output (-want +got):\n%s", diff)
			}
		})
	}
}

var errQuantize = errors.New("quantize failed")

// TestLoadCorrupt truncates and corrupts a real model: errors, never panics.
func TestLoadCorrupt(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/digits_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n += 7 {
		if _, err := onnx.Load(b[:n], onnx.DefaultLimits); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		c := bytes.Clone(b)
		for range 1 + r.IntN(3) {
			c[r.IntN(len(c))] = byte(r.IntN(256))
		}
		g, err := onnx.Load(c, onnx.DefaultLimits)
		if err != nil {
			if !errors.Is(err, onnx.ErrFormat) && !errors.Is(err, onnx.ErrUnsupported) && !errors.Is(err, onnx.ErrTooLarge) {
				t.Fatalf("error %v wraps none of the sentinels", err)
			}
			continue
		}
		x := make([]float32, g.Input.Size())
		_, _ = onnx.Quantize(g, x, 1, onnx.QuantConfig{})
	}
}

func TestLoadLimits(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/digits_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for _, lim := range []onnx.Limits{
		{MaxBytes: 100, MaxElements: 1 << 20, MaxNodes: 100},
		{MaxBytes: 1 << 20, MaxElements: 1000, MaxNodes: 100},
		{MaxBytes: 1 << 20, MaxElements: 1 << 20, MaxNodes: 2},
	} {
		if _, err := onnx.Load(b, lim); !errors.Is(err, onnx.ErrTooLarge) {
			t.Errorf("limits %+v: error %v, want ErrTooLarge", lim, err)
		}
	}
}

// TestGraphValidate checks that graphs built by hand with inconsistent
// sizes are errors for Run and Quantize, not panics.
func TestGraphValidate(t *testing.T) {
	t.Parallel()
	for _, g := range []*onnx.Graph{
		{Input: vairt.Shape{3}},
		{Input: vairt.Shape{3}, Layers: []onnx.Layer{&onnx.Dense{In: 3, Out: 0}}},
		{Input: vairt.Shape{3}, Layers: []onnx.Layer{&onnx.Dense{In: 3, Out: 2, W: make([]float32, 5), B: make([]float32, 2)}}},
		{Input: vairt.Shape{4}, Layers: []onnx.Layer{&onnx.Dense{In: 3, Out: 2, W: make([]float32, 6), B: make([]float32, 2)}}},
		{Input: vairt.Shape{1, 2, 2}, Layers: []onnx.Layer{&onnx.MaxPool{Pool: vairt.Pool{KH: 3, KW: 3, StrideH: 1, StrideW: 1}}}},
		{Input: vairt.Shape{1, 2, 2}, Layers: []onnx.Layer{&onnx.Conv{InC: 2, OutC: 1, Pool: vairt.Pool{KH: 1, KW: 1, StrideH: 1, StrideW: 1}}}},
		{Input: vairt.Shape{4}, Layers: []onnx.Layer{&onnx.Reshape{Shape: vairt.Shape{5}}}},
	} {
		if _, err := g.Run(make([]float32, g.Input.Size()), 1); !errors.Is(err, onnx.ErrUnsupported) {
			t.Errorf("Run(%+v): error %v, want ErrUnsupported", g, err)
		}
		if _, err := onnx.Quantize(g, make([]float32, g.Input.Size()), 1, onnx.QuantConfig{}); err == nil {
			t.Errorf("Quantize(%+v): no error", g)
		}
	}
}
