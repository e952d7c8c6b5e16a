package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	vairt "github.com/vai-dev/vai/runtime"
)

// ErrUnsupported is wrapped by errors for valid ONNX that the runtime cannot
// express: unknown operators, attributes or graph shapes.
var ErrUnsupported = errors.New("unsupported onnx")

// ErrTooLarge is wrapped by errors for models over a Limits bound.
var ErrTooLarge = errors.New("onnx model over limit")

// UnsupportedOpsError lists every operator type of a model that the importer
// does not support. It wraps ErrUnsupported.
type UnsupportedOpsError struct {
	Ops []string // "Softmax (2 nodes)", sorted
}

func (e *UnsupportedOpsError) Error() string {
	return "unsupported onnx operators: " + strings.Join(e.Ops, ", ")
}

func (e *UnsupportedOpsError) Unwrap() error { return ErrUnsupported }

// SupportedOps are the ONNX operators (default domain) the importer lowers.
// Add must be the bias of a MatMul, Gemm or Conv; BatchNormalization is
// folded into the layer before it (or becomes a diagonal 1×1 layer); Pad must
// feed a Conv or AveragePool; Identity and Dropout are no-ops in inference.
// Transpose is supported on constants only (PyTorch exports some weights
// through a Transpose), where it is folded at import.
var SupportedOps = []string{"Add", "AveragePool", "BatchNormalization", "Constant", "Conv", "Dropout",
	"Flatten", "Gemm", "Identity", "MatMul", "MaxPool", "Pad", "Relu", "Reshape", "Sigmoid", "Tanh", "Transpose"}

// Graph is an imported model in float: a chain of layers over one sample,
// mirroring the int8 layers of a runtime.Model. Run executes it in float32
// (the reference for accuracy); Quantize turns it into a runtime.Model.
type Graph struct {
	Input  vairt.Shape
	Layers []Layer
	// Meta records where the graph came from (producer, source digest).
	Meta map[string]string
}

// Layer is a float layer: *Dense, *Conv, *MaxPool, *AvgPool, *Relu,
// *Sigmoid, *Tanh or *Reshape.
type Layer interface{ Kind() string }

// Dense is y = W·x + B (W is Out×In), then ReLU if Relu.
type Dense struct {
	In, Out int
	W, B    []float32
	Relu    bool
}

// Conv is a 2-D convolution with zero padding (W is OutC×InC×KH×KW), then
// ReLU if Relu.
type Conv struct {
	InC, OutC int
	vairt.Pool
	W, B []float32
	Relu bool
}

// MaxPool, AvgPool, Relu, Sigmoid, Tanh and Reshape are as in ONNX.
type (
	MaxPool struct{ vairt.Pool }
	AvgPool struct {
		vairt.Pool
		CountIncludePad bool
	}
	Relu    struct{}
	Sigmoid struct{}
	Tanh    struct{}
	Reshape struct{ Shape vairt.Shape }
)

func (*Dense) Kind() string   { return "dense" }
func (*Conv) Kind() string    { return "conv2d" }
func (*MaxPool) Kind() string { return "maxpool" }
func (*AvgPool) Kind() string { return "avgpool" }
func (*Relu) Kind() string    { return "relu" }
func (*Sigmoid) Kind() string { return "sigmoid" }
func (*Tanh) Kind() string    { return "tanh" }
func (*Reshape) Kind() string { return "reshape" }

// Load parses an ONNX model and lowers it to a float Graph. Errors wrap
// ErrFormat (not ONNX), ErrTooLarge, or ErrUnsupported (with every
// unsupported operator listed, as *UnsupportedOpsError). It never panics.
func Load(b []byte, lim Limits) (*Graph, error) {
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	if int64(len(b)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	d := &pdec{lim: lim}
	mp, err := d.model(b)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	l := &lowering{g: mp.graph, consts: map[string]*tensorProto{}}
	gr, err := l.lower()
	if err != nil {
		return nil, err
	}
	gr.Meta = map[string]string{"source.sha256": hex.EncodeToString(sum[:])}
	if mp.producer != "" {
		gr.Meta["source.producer"] = mp.producer
	}
	if mp.graph.name != "" {
		gr.Meta["source.graph"] = mp.graph.name
	}
	return gr, nil
}

type lowering struct {
	g       *graphProto
	consts  map[string]*tensorProto
	out     []Layer
	shape   vairt.Shape // per-sample shape of cur
	cur     string
	batch   int64 // static batch size of the input, or 0
	pad     []int // pending Pad [t, l, b, r]
	fusable bool  // the last layer is a Dense/Conv whose output is cur, without activation
}

func (l *lowering) lower() (*Graph, error) {
	supported := map[string]bool{}
	for _, op := range SupportedOps {
		supported[op] = true
	}
	bad := map[string]int{}
	for _, n := range l.g.nodes {
		name := n.opType
		if n.domain != "" && n.domain != "ai.onnx" {
			name = n.domain + "." + n.opType
		} else if supported[n.opType] {
			continue
		}
		bad[name]++
	}
	if len(bad) > 0 {
		e := &UnsupportedOpsError{}
		for op, c := range bad {
			s := "nodes"
			if c == 1 {
				s = "node"
			}
			e.Ops = append(e.Ops, fmt.Sprintf("%s (%d %s)", op, c, s))
		}
		sort.Strings(e.Ops)
		return nil, e
	}
	for _, t := range l.g.inits {
		l.consts[t.name] = t
	}
	for _, n := range l.g.nodes {
		if n.opType == "Constant" {
			a := attr(n, "value")
			if a == nil || a.t == nil || len(n.outputs) != 1 {
				return nil, fmt.Errorf("%w: Constant %q without a tensor value", ErrUnsupported, n.name)
			}
			l.consts[n.outputs[0]] = a.t
		}
	}
	folded := map[*nodeProto]bool{}
	for _, n := range l.g.nodes {
		if n.opType == "Transpose" && len(n.inputs) == 1 && len(n.outputs) == 1 && l.consts[n.inputs[0]] != nil {
			t, err := transpose2D(l.consts[n.inputs[0]], attrInts(n, "perm"))
			if err != nil {
				return nil, fmt.Errorf("%w: Transpose node %q: %v", ErrUnsupported, n.name, err)
			}
			t.name = n.outputs[0]
			l.consts[t.name] = t
			folded[n] = true
		}
	}
	var data []*valueInfo
	for _, in := range l.g.inputs {
		if _, ok := l.consts[in.name]; !ok {
			data = append(data, in)
		}
	}
	if len(data) != 1 {
		return nil, fmt.Errorf("%w: %d non-constant graph inputs, want 1", ErrUnsupported, len(data))
	}
	in := data[0]
	if in.elemType != dtFloat {
		return nil, fmt.Errorf("%w: input %q of element type %d, want float", ErrUnsupported, in.name, in.elemType)
	}
	if !in.hasShape || len(in.dims) < 1 || len(in.dims) > 5 {
		return nil, fmt.Errorf("%w: input %q needs a shape of rank 1 to 5 (batch first)", ErrUnsupported, in.name)
	}
	l.batch = in.dims[0].value
	for i, d := range in.dims[1:] {
		if d.value < 1 || d.value > 1<<24 {
			return nil, fmt.Errorf("%w: input %q dimension %d is %q/%d; only the batch dimension may be symbolic", ErrUnsupported, in.name, i+1, d.param, d.value)
		}
		l.shape = append(l.shape, int(d.value))
	}
	if len(l.shape) == 0 {
		l.shape = vairt.Shape{1} // a batch of scalars
	}
	if l.shape.Size() > 1<<24 {
		return nil, fmt.Errorf("%w: input of %d elements", ErrTooLarge, l.shape.Size())
	}
	gr := &Graph{Input: slices.Clone(l.shape)}
	l.cur = in.name
	var problems []string
	for _, n := range l.g.nodes {
		if n.opType == "Constant" || folded[n] {
			continue
		}
		if err := l.node(n); err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrFormat) {
				return nil, err
			}
			problems = append(problems, err.Error())
			break // later nodes depend on this one's output
		}
	}
	if len(problems) == 0 && l.pad != nil {
		problems = append(problems, "Pad must be followed by Conv or AveragePool")
	}
	if len(problems) == 0 && (len(l.g.outputs) != 1 || l.g.outputs[0].name != l.cur) {
		problems = append(problems, "the graph's single output must be the end of the chain of layers")
	}
	if len(problems) == 0 && len(l.out) == 0 {
		problems = append(problems, "no layers")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, strings.Join(problems, "; "))
	}
	gr.Layers = l.out
	return gr, nil
}

func attr(n *nodeProto, name string) *attrProto {
	for _, a := range n.attrs {
		if a.name == name {
			return a
		}
	}
	return nil
}

func attrInt(n *nodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.i
	}
	return def
}

func attrFloat(n *nodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.f
	}
	return def
}

func attrInts(n *nodeProto, name string) []int64 {
	if a := attr(n, name); a != nil {
		return a.ints
	}
	return nil
}

// constant returns the values and dims of the constant named name.
func (l *lowering) constant(name string) ([]float64, []int64, error) {
	t, ok := l.consts[name]
	if !ok {
		return nil, nil, fmt.Errorf("%q is not a constant (weights must be initialisers)", name)
	}
	v, err := t.floats()
	if err != nil {
		return nil, nil, err
	}
	return v, t.dims, nil
}

func (l *lowering) emit(ly Layer, shape vairt.Shape, out string) {
	l.out = append(l.out, ly)
	l.shape, l.cur = shape, out
	_, isDense := ly.(*Dense)
	_, isConv := ly.(*Conv)
	l.fusable = isDense || isConv
}

func (l *lowering) node(n *nodeProto) error {
	where := fmt.Sprintf("%s node %q", n.opType, n.name)
	if len(n.inputs) == 0 || len(n.outputs) == 0 {
		return fmt.Errorf("%s: no inputs or outputs", where)
	}
	if n.opType == "Add" && len(n.inputs) == 2 && n.inputs[1] == l.cur {
		n.inputs[0], n.inputs[1] = n.inputs[1], n.inputs[0]
	}
	if n.inputs[0] != l.cur {
		return fmt.Errorf("%s reads %q, not the output of the layer before: only chains of layers are supported", where, n.inputs[0])
	}
	for _, o := range n.outputs[1:] {
		if o != "" && !(n.opType == "Dropout" || n.opType == "BatchNormalization") {
			return fmt.Errorf("%s: second output %q is not supported", where, o)
		}
	}
	if l.pad != nil && n.opType != "Conv" && n.opType != "AveragePool" {
		return fmt.Errorf("Pad must be followed by Conv or AveragePool, not %s", n.opType)
	}
	out := n.outputs[0]
	var err error
	switch n.opType {
	case "Transpose":
		err = fmt.Errorf("Transpose is supported only on constants")
	case "Identity", "Dropout":
		l.cur = out
	case "Gemm", "MatMul":
		err = l.gemm(n, out)
	case "Add":
		err = l.add(n, out)
	case "Conv":
		err = l.conv(n, out)
	case "BatchNormalization":
		err = l.batchNorm(n, out)
	case "Relu":
		if l.fusable {
			switch ly := l.out[len(l.out)-1].(type) {
			case *Dense:
				ly.Relu = true
			case *Conv:
				ly.Relu = true
			}
			l.cur, l.fusable = out, false
		} else {
			l.emit(&Relu{}, l.shape, out)
		}
	case "Sigmoid":
		l.emit(&Sigmoid{}, l.shape, out)
	case "Tanh":
		l.emit(&Tanh{}, l.shape, out)
	case "MaxPool", "AveragePool":
		err = l.pool(n, out)
	case "Pad":
		err = l.padNode(n, out)
	case "Flatten":
		axis := attrInt(n, "axis", 1)
		if axis < 0 {
			axis += int64(len(l.shape) + 1)
		}
		if axis != 1 {
			return fmt.Errorf("%s: axis %d would merge the batch dimension; only axis 1 is supported", where, attrInt(n, "axis", 1))
		}
		l.emit(&Reshape{Shape: vairt.Shape{l.shape.Size()}}, vairt.Shape{l.shape.Size()}, out)
	case "Reshape":
		err = l.reshape(n, out)
	default:
		err = fmt.Errorf("operator %s", n.opType)
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrFormat) {
			return err
		}
		return fmt.Errorf("%s: %v", where, err)
	}
	return nil
}
