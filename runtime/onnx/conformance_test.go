package onnx

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	vairt "github.com/vai-dev/vai/runtime"
)

// The ONNX backend test data from Debian's libonnx-testdata (installed by
// scripts/install-test-deps.sh). VAI_ONNX_TESTDATA overrides the location.
func onnxTestData(t *testing.T) string {
	dir := os.Getenv("VAI_ONNX_TESTDATA")
	if dir == "" {
		dir = "/usr/share/libonnx-testdata/data"
	}
	if _, err := os.Stat(filepath.Join(dir, "node", "test_relu", "model.onnx")); err != nil {
		t.Skipf("ONNX backend test data not found in %s (run scripts/install-test-deps.sh, which installs Debian's libonnx-testdata): %v", dir, err)
	}
	return dir
}

// mustRun lists node tests the importer must support and pass; the others
// of a supported operator may instead be rejected with ErrUnsupported (for
// instance ceil_mode=1 or 3-D pools), but never give a wrong answer.
var mustRun = []string{
	"node/test_gemm_default_vector_bias", "node/test_gemm_default_no_bias", "node/test_gemm_alpha", "node/test_gemm_beta",
	"node/test_gemm_transposeB", "node/test_gemm_default_scalar_bias", "node/test_matmul_2d",
	"node/test_basic_conv_with_padding", "node/test_basic_conv_without_padding", "node/test_conv_with_strides_padding",
	"node/test_conv_with_strides_no_padding", "node/test_conv_with_strides_and_asymmetric_padding", "node/test_conv_with_autopad_same",
	"node/test_maxpool_2d_default", "node/test_maxpool_2d_pads", "node/test_maxpool_2d_strides", "node/test_maxpool_2d_same_upper",
	"node/test_maxpool_2d_same_lower", "node/test_maxpool_2d_precomputed_pads",
	"node/test_averagepool_2d_default", "node/test_averagepool_2d_pads", "node/test_averagepool_2d_pads_count_include_pad",
	"node/test_averagepool_2d_strides", "node/test_averagepool_2d_same_upper",
	"node/test_relu", "node/test_sigmoid", "node/test_tanh", "node/test_flatten_default_axis", "node/test_flatten_axis1",
	"node/test_reshape_reduced_dims", "node/test_reshape_extended_dims", "node/test_reshape_negative_dim",
	"node/test_batchnorm_example", "node/test_batchnorm_epsilon",
	"pytorch-converted/test_Conv2d", "pytorch-converted/test_Conv2d_no_bias", "pytorch-converted/test_Conv2d_padding",
	"pytorch-converted/test_Conv2d_strided", "pytorch-converted/test_BatchNorm2d_eval", "pytorch-converted/test_BatchNorm2d_momentum_eval",
	"pytorch-converted/test_MaxPool2d", "pytorch-converted/test_AvgPool2d", "pytorch-converted/test_AvgPool2d_stride",
	"pytorch-converted/test_Linear", "pytorch-converted/test_Linear_no_bias", "pytorch-converted/test_ReLU",
	"pytorch-converted/test_Sigmoid", "pytorch-converted/test_Tanh",
}

// TestConformance runs every ONNX backend test (node, pytorch-converted,
// pytorch-operator) whose operators are all supported:
//
//   - float: the float32 graph matches the expected output within ONNX's
//     own tolerance (rtol 1e-3, atol 1e-5);
//   - int8, calibrated on the test input: relu, max pooling and reshapes
//     commute with quantisation, so their int8 outputs must equal the
//     quantised expected outputs exactly; average pooling must be within one
//     quantisation step; dense and conv layers within the worst-case bound
//     of their rounding errors (affineBound); sigmoid and tanh tables within
//     half an input step times the slope plus half an output step.
func TestConformance(t *testing.T) {
	root := onnxTestData(t)
	supported := map[string]bool{}
	for _, op := range SupportedOps {
		supported[op] = true
	}
	ran := map[string]bool{}
	for _, group := range []string{"node", "pytorch-converted", "pytorch-operator"} {
		dirs, err := os.ReadDir(filepath.Join(root, group))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			name := group + "/" + d.Name()
			dir := filepath.Join(root, name)
			b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
			if err != nil {
				continue
			}
			mp, err := (&pdec{lim: DefaultLimits}).model(b)
			if err != nil {
				t.Errorf("%s: parse: %v", name, err)
				continue
			}
			ours := len(mp.graph.nodes) > 0
			for _, n := range mp.graph.nodes {
				ours = ours && supported[n.opType] && n.domain == ""
			}
			if !ours {
				continue
			}
			t.Run(name, func(t *testing.T) {
				if conform(t, mp, dir) {
					ran[name] = true
				}
			})
		}
	}
	for _, name := range mustRun {
		if !ran[name] {
			t.Errorf("%s: required conformance test did not run", name)
		}
	}
	t.Logf("%d conformance tests passed", len(ran))
}

func readTensor(t *testing.T, path string) *tensorProto {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&pdec{lim: DefaultLimits}).tensor(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tp
}

func toFloat32(t *testing.T, tp *tensorProto) []float32 {
	v, err := tp.floats()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// conform checks one test case; it returns false when the model was
// (legitimately) rejected as unsupported.
func conform(t *testing.T, mp *modelProto, dir string) bool {
	set := filepath.Join(dir, "test_data_set_0")
	inits := map[string]bool{}
	for _, tp := range mp.graph.inits {
		inits[tp.name] = true
	}
	var data []*valueInfo
	for _, vi := range mp.graph.inputs {
		if !inits[vi.name] {
			data = append(data, vi)
		}
	}
	if len(data) == 0 {
		t.Skip("a graph without inputs is not a model the runtime runs")
	}
	// Every input after the first is a weight: make it a constant.
	for i, vi := range data[1:] {
		tp := readTensor(t, filepath.Join(set, "input_"+strconv.Itoa(i+1)+".pb"))
		tp.name = vi.name
		mp.graph.inits = append(mp.graph.inits, tp)
	}
	l := &lowering{g: mp.graph, consts: map[string]*tensorProto{}}
	g, err := l.lower()
	if errors.Is(err, ErrUnsupported) {
		t.Logf("rejected: %v", err)
		return false
	}
	if err != nil {
		t.Fatalf("lower: %v", err)
	}
	in := readTensor(t, filepath.Join(set, "input_0.pb"))
	want := toFloat32(t, readTensor(t, filepath.Join(set, "output_0.pb")))
	x := toFloat32(t, in)
	n := 1
	if len(in.dims) > 0 {
		n = int(in.dims[0])
	}
	if n < 1 || len(x)%n != 0 || len(x)/n != g.Input.Size() {
		t.Fatalf("input %v does not match the graph input %v", in.dims, g.Input)
	}
	got, err := g.Run(x, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("float: %d outputs, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5+1e-3*math.Abs(float64(want[i])) {
			t.Fatalf("float: output %d = %v, want %v", i, got[i], want[i])
		}
	}
	checkInt8(t, g, x, n, want)
	return true
}

func decimal(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }

func checkInt8(t *testing.T, g *Graph, x []float32, n int, want []float32) {
	m, err := Quantize(g, x, n, QuantConfig{})
	if err != nil {
		t.Fatalf("quantize: %v", err)
	}
	rows := make([][]string, n)
	isz := g.Input.Size()
	for s := range n {
		for _, v := range x[s*isz : (s+1)*isz] {
			rows[s] = append(rows[s], decimal(v))
		}
	}
	qin, err := m.QuantizeRows(rows, false)
	if err != nil {
		t.Fatal(err)
	}
	e, err := vairt.NewExecutor(m, vairt.ExecConfig{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.Run(qin, n)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := vairt.Reference(m, qin, n)
	if err != nil || !slices.Equal(q, ref) {
		t.Fatalf("executor and reference differ (%v)", err)
	}
	sOut := m.OutputScale.Float()
	sIn := 1 / m.InputScale.Float()
	if len(g.Layers) != 1 {
		// Chains (e.g. Pad folded into a pool is one layer; others are
		// rare here): within 5% of the output range.
		checkClose(t, q, sOut, want, func(int) float64 { return 0.05*maxAbs(want) + sOut })
		return
	}
	switch l := g.Layers[0].(type) {
	case *Relu, *MaxPool, *Reshape:
		for i, w := range want {
			exact, err := m.InputScale.QuantizeInput(decimal(w), false)
			if err != nil {
				t.Fatal(err)
			}
			if q[i] != exact {
				t.Fatalf("int8 output %d = %d, want exactly %d (%v quantised)", i, q[i], exact, w)
			}
		}
	case *AvgPool:
		checkClose(t, q, sOut, want, func(int) float64 { return sOut + 1e-6 })
	case *Sigmoid:
		checkClose(t, q, sOut, want, func(int) float64 { return sIn/2*0.25 + 0.5/127 + 1e-6 })
	case *Tanh:
		checkClose(t, q, sOut, want, func(int) float64 { return sIn/2 + 0.5/127 + 1e-6 })
	case *Dense:
		rq := m.Layers[0].(*vairt.Dense).Requant
		checkClose(t, q, sOut, want, affineBound(l.W, l.In, l.Out, rq, sIn, sOut, x, isz, 1))
	case *Conv:
		rq := m.Layers[0].(*vairt.Conv2D).Requant
		shapes := g.Shapes()
		checkClose(t, q, sOut, want, affineBound(l.W, l.InC*l.KH*l.KW, l.OutC, rq, sIn, sOut, x, isz, shapes[1][1]*shapes[1][2]))
	default:
		t.Fatalf("no int8 check for %T", l)
	}
}

// affineBound returns, for output i (sample-major, channel-major within a
// sample, positions innermost), the worst-case error of the int8 result:
// output rounding s_out/2, input rounding e_x = s_in/2 times Σ|W[c]|, weight
// rounding e_w = s_w[c]/2 times K·max|x|, their product K·e_x·e_w, and bias
// rounding s_in·s_w[c]/2, plus 1e-5 relative for the 31-bit multiplier.
func affineBound(w []float32, k, rows int, rq vairt.Requant, sIn, sOut float64, x []float32, isz, positions int) func(int) float64 {
	sumWs := make([]float64, rows)
	for c := range sumWs {
		for _, v := range w[c*k : (c+1)*k] {
			sumWs[c] += math.Abs(float64(v))
		}
	}
	xmaxs := make([]float64, len(x)/isz)
	for s := range xmaxs {
		xmaxs[s] = maxAbs(x[s*isz : (s+1)*isz])
	}
	return func(i int) float64 {
		s := i / (rows * positions)
		c := (i / positions) % rows
		mult := vairt.Fixed{Mult: rq.Mult[0], Shift: rq.Shift[0]}
		if rq.PerChannel() {
			mult = vairt.Fixed{Mult: rq.Mult[c], Shift: rq.Shift[c]}
		}
		sw := mult.Float() * sOut / sIn
		ex, ew := sIn/2, sw/2
		sumW, xmax := sumWs[c], xmaxs[s]
		return sOut/2 + ex*sumW + ew*float64(k)*xmax + float64(k)*ex*ew + sIn*sw/2 + 1e-5*(sumW*xmax)
	}
}

func checkClose(t *testing.T, q []int8, sOut float64, want []float32, tol func(i int) float64) {
	t.Helper()
	worst := 0.0
	for i, w := range want {
		d := math.Abs(float64(q[i])*sOut - float64(w))
		if d > tol(i) {
			t.Fatalf("int8 output %d = %d·%g = %g, want %g ± %g", i, q[i], sOut, float64(q[i])*sOut, w, tol(i))
		}
		worst = max(worst, d/max(tol(i), 1e-12))
	}
	t.Logf("int8 worst error %.0f%% of its bound", 100*worst)
}
