package runtime

import (
	"errors"
	"fmt"
	"math"
)

// Shape is the shape of one sample's tensor, without the batch dimension:
// [N] for vectors, [C, H, W] for images. Tensors are stored row-major (C, then
// H, then W), as ONNX's NCHW without N.
type Shape []int

// Size returns the number of elements of a tensor of shape s.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (s Shape) String() string { return fmt.Sprint([]int(s)) }

// Activation is an activation fused into a Dense or Conv2D layer's
// requantisation.
type Activation uint8

// Fused activations.
const (
	ActNone Activation = 0 // clamp to [−128, 127]
	ActRelu Activation = 1 // saturating ReLU: clamp to [0, 127]
)

func (a Activation) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActRelu:
		return "relu"
	}
	return fmt.Sprintf("activation(%d)", uint8(a))
}

func (a Activation) lo() int64 {
	if a == ActRelu {
		return 0
	}
	return -128
}

// Layer is one operator of a Model. The implementations are *Dense, *Conv2D,
// *MaxPool, *AvgPool, *Relu, *LUT and *Reshape; the set is closed, because
// every layer's arithmetic is part of the format's specification.
type Layer interface {
	// Kind names the operator, e.g. "dense".
	Kind() string
	// OutShape returns the output shape for input shape in, or an error if
	// the layer cannot take in.
	OutShape(in Shape) (Shape, error)
	// Params returns the number of weights and biases.
	Params() int
	op() opcode
}

type opcode uint8

const (
	opDense   opcode = 1
	opConv2D  opcode = 2
	opMaxPool opcode = 3
	opAvgPool opcode = 4
	opRelu    opcode = 5
	opLUT     opcode = 6
	opReshape opcode = 7
)

// Dense is a fully connected layer (ONNX Gemm, or MatMul + Add):
// acc[o] = Bias[o] + Σ_i Weights[o·In+i]·x[i], y[o] = Requant(acc[o]).
type Dense struct {
	In, Out int
	Weights []int8  // Out×In, row-major: one contiguous row per output
	Bias    []int32 // Out
	Requant Requant // 1 or Out entries
	Act     Activation
}

// Conv2D is a 2-D convolution (ONNX Conv, group 1, dilation 1) over an input
// of shape [InC, H, W] with zero padding (zero is the real 0 in the
// symmetric quantisation):
// acc[oc,y,x] = Bias[oc] + Σ_{ic,ky,kx} W[oc,ic,ky,kx]·in[ic, y·SH+ky−PadTop, x·SW+kx−PadLeft].
type Conv2D struct {
	InC, OutC                            int
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
	Weights                              []int8  // OutC×InC×KH×KW
	Bias                                 []int32 // OutC
	Requant                              Requant // 1 or OutC entries
	Act                                  Activation
}

// Pool holds the window of MaxPool and AvgPool. Padded positions are not
// values: they are skipped by MaxPool and, unless CountIncludePad, not
// counted by AvgPool.
type Pool struct {
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
}

// MaxPool takes the maximum over each window.
type MaxPool struct{ Pool }

// AvgPool takes the mean over each window, rounded half towards +∞:
// y = floor((2·sum + n) / (2·n)), where n is the window's count of input
// values, or KH·KW when CountIncludePad (padding then counts as zeros).
type AvgPool struct {
	Pool
	CountIncludePad bool
}

// Relu is y = max(x, 0).
type Relu struct{}

// LUT is an element-wise function given by a table: y = Table[x + 128]. The
// importer builds tables for sigmoid and tanh.
type LUT struct {
	Name  string // what the table computes, e.g. "sigmoid"; informative only
	Table [256]int8
}

// Reshape changes the shape without moving data (ONNX Flatten and Reshape).
type Reshape struct{ Shape Shape }

var (
	_ Layer = (*Dense)(nil)
	_ Layer = (*Conv2D)(nil)
	_ Layer = (*MaxPool)(nil)
	_ Layer = (*AvgPool)(nil)
	_ Layer = (*Relu)(nil)
	_ Layer = (*LUT)(nil)
	_ Layer = (*Reshape)(nil)
)

func (*Dense) Kind() string   { return "dense" }
func (*Conv2D) Kind() string  { return "conv2d" }
func (*MaxPool) Kind() string { return "maxpool" }
func (*AvgPool) Kind() string { return "avgpool" }
func (*Relu) Kind() string    { return "relu" }
func (*LUT) Kind() string     { return "lut" }
func (*Reshape) Kind() string { return "reshape" }

func (*Dense) op() opcode   { return opDense }
func (*Conv2D) op() opcode  { return opConv2D }
func (*MaxPool) op() opcode { return opMaxPool }
func (*AvgPool) op() opcode { return opAvgPool }
func (*Relu) op() opcode    { return opRelu }
func (*LUT) op() opcode     { return opLUT }
func (*Reshape) op() opcode { return opReshape }

func (l *Dense) Params() int                   { return len(l.Weights) + len(l.Bias) }
func (l *Conv2D) Params() int                  { return len(l.Weights) + len(l.Bias) }
func (*MaxPool) Params() int                   { return 0 }
func (*AvgPool) Params() int                   { return 0 }
func (*Relu) Params() int                      { return 0 }
func (*LUT) Params() int                       { return 256 }
func (*Reshape) Params() int                   { return 0 }
func (*Relu) OutShape(in Shape) (Shape, error) { return in, nil }
func (*LUT) OutShape(in Shape) (Shape, error)  { return in, nil }

func (l *Dense) OutShape(in Shape) (Shape, error) {
	if len(in) != 1 || in[0] != l.In {
		return nil, fmt.Errorf("dense takes [%d], got %v", l.In, in)
	}
	return Shape{l.Out}, nil
}

func (l *Conv2D) OutShape(in Shape) (Shape, error) {
	if len(in) != 3 || in[0] != l.InC {
		return nil, fmt.Errorf("conv2d takes [%d H W], got %v", l.InC, in)
	}
	p := Pool{l.KH, l.KW, l.StrideH, l.StrideW, l.PadTop, l.PadLeft, l.PadBottom, l.PadRight}
	oh, ow, err := p.out(in[1], in[2])
	if err != nil {
		return nil, fmt.Errorf("conv2d: %v", err)
	}
	return Shape{l.OutC, oh, ow}, nil
}

func (p *Pool) out(h, w int) (int, int, error) {
	if err := p.check(); err != nil {
		return 0, 0, err
	}
	eh, ew := h+p.PadTop+p.PadBottom, w+p.PadLeft+p.PadRight
	if eh < p.KH || ew < p.KW {
		return 0, 0, fmt.Errorf("%dx%d kernel larger than padded input %dx%d", p.KH, p.KW, eh, ew)
	}
	return (eh-p.KH)/p.StrideH + 1, (ew-p.KW)/p.StrideW + 1, nil
}

func (l *MaxPool) OutShape(in Shape) (Shape, error) { return l.Pool.outShape("maxpool", in) }
func (l *AvgPool) OutShape(in Shape) (Shape, error) { return l.Pool.outShape("avgpool", in) }

func (p *Pool) outShape(kind string, in Shape) (Shape, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%s takes [C H W], got %v", kind, in)
	}
	oh, ow, err := p.out(in[1], in[2])
	if err != nil {
		return nil, fmt.Errorf("%s: %v", kind, err)
	}
	return Shape{in[0], oh, ow}, nil
}

func (l *Reshape) OutShape(in Shape) (Shape, error) {
	if l.Shape.Size() != in.Size() {
		return nil, fmt.Errorf("reshape %v to %v changes the number of elements", in, l.Shape)
	}
	return l.Shape, nil
}

// Model is a quantised model: a chain of layers, each taking the previous
// layer's output. Input values are quantised with InputScale
// (Fixed.QuantizeInput); output values q stand for q·OutputScale.
type Model struct {
	Input       Shape
	InputScale  Fixed // real input x → int8 round(x·InputScale)
	OutputScale Fixed // int8 output q → real q·OutputScale
	Layers      []Layer
	// Meta holds informative text (name, source, labels); it is covered by
	// the digest but never affects results.
	Meta map[string]string
}

// Limits bound what a decoder and executor accept, so that a hostile or
// mistaken model cannot exhaust memory.
type Limits struct {
	MaxBytes  int64 // encoded size
	MaxMemory int64 // Model.MemoryEstimate
	MaxLayers int
}

// DefaultLimits are generous for the MLPs and small CNNs the runtime is for.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxMemory: 1 << 30, MaxLayers: 256}

// ErrInvalid is wrapped by every error that says a model is malformed.
var ErrInvalid = errors.New("invalid model")

// ErrTooLarge is wrapped by errors for models over a Limits bound.
var ErrTooLarge = errors.New("model over limit")

// Shapes returns the input shape followed by every layer's output shape.
func (m *Model) Shapes() ([]Shape, error) {
	if len(m.Input) == 0 || len(m.Input) > 4 {
		return nil, fmt.Errorf("%w: input rank %d, want 1..4", ErrInvalid, len(m.Input))
	}
	for _, d := range m.Input {
		if d < 1 || d > 1<<24 {
			return nil, fmt.Errorf("%w: input dimension %d out of range", ErrInvalid, d)
		}
	}
	if m.Input.Size() > 1<<28 {
		return nil, fmt.Errorf("%w: input of %v elements", ErrTooLarge, m.Input.Size())
	}
	shapes := []Shape{m.Input}
	in := m.Input
	for i, l := range m.Layers {
		out, err := l.OutShape(in)
		if err != nil {
			return nil, fmt.Errorf("%w: layer %d: %v", ErrInvalid, i, err)
		}
		shapes = append(shapes, out)
		in = out
	}
	return shapes, nil
}

// OutputShape returns the shape of the model's output.
func (m *Model) OutputShape() Shape {
	s, err := m.Shapes()
	if err != nil {
		return nil
	}
	return s[len(s)-1]
}

// Params returns the number of parameters (weights, biases, table entries).
func (m *Model) Params() int {
	n := 0
	for _, l := range m.Layers {
		n += l.Params()
	}
	return n
}

// MemoryEstimate returns the bytes an Executor needs for the model and for
// one sample in flight: the weights (once as int8, once packed into int64
// lanes for the fast kernels, at most 4 bytes a weight), the biases, and the
// largest two activations plus the im2col scratch of the largest
// convolution.
func (m *Model) MemoryEstimate() (int64, error) {
	shapes, err := m.Shapes()
	if err != nil {
		return 0, err
	}
	var total, act int64
	for i, l := range m.Layers {
		switch l := l.(type) {
		case *Dense:
			total += int64(len(l.Weights))*5 + int64(len(l.Bias))*4
		case *Conv2D:
			total += int64(len(l.Weights))*5 + int64(len(l.Bias))*4
			out := shapes[i+1]
			act = max(act, int64(out[1]*out[2])*int64(l.InC*l.KH*l.KW))
		case *LUT:
			total += 256
		}
	}
	var big1, big2 int64
	for _, s := range shapes {
		n := int64(s.Size())
		if n > big1 {
			big1, big2 = n, big1
		} else if n > big2 {
			big2 = n
		}
	}
	return total + act + (big1+big2)*4, nil
}

// Validate checks that m is well formed and within lim: shapes chain, every
// array has its length, scales are in range, and no accumulator can leave the
// int32 range for any input — so inference is exact integer arithmetic with
// no overflow, as a zk circuit needs.
func (m *Model) Validate(lim Limits) error {
	if len(m.Layers) == 0 {
		return fmt.Errorf("%w: no layers", ErrInvalid)
	}
	if lim.MaxLayers > 0 && len(m.Layers) > lim.MaxLayers {
		return fmt.Errorf("%w: %d layers, limit %d", ErrTooLarge, len(m.Layers), lim.MaxLayers)
	}
	if !m.InputScale.valid() || !m.OutputScale.valid() {
		return fmt.Errorf("%w: input or output scale out of range", ErrInvalid)
	}
	for i, l := range m.Layers {
		if l == nil {
			return fmt.Errorf("%w: layer %d is nil", ErrInvalid, i)
		}
		if err := validateLayer(l); err != nil {
			return fmt.Errorf("%w: layer %d (%s): %v", ErrInvalid, i, l.Kind(), err)
		}
	}
	mem, err := m.MemoryEstimate()
	if err != nil {
		return err
	}
	if lim.MaxMemory > 0 && mem > lim.MaxMemory {
		return fmt.Errorf("%w: needs about %d bytes of memory, limit %d", ErrTooLarge, mem, lim.MaxMemory)
	}
	return nil
}

func validateLayer(l Layer) error {
	switch l := l.(type) {
	case *Dense:
		if l.In < 1 || l.Out < 1 || l.In > 1<<24 || l.Out > 1<<24 {
			return fmt.Errorf("dimensions %dx%d out of range", l.Out, l.In)
		}
		return checkAffine(l.Out, l.In, l.Weights, l.Bias, l.Requant, l.Act)
	case *Conv2D:
		if l.InC < 1 || l.OutC < 1 || l.InC > 1<<16 || l.OutC > 1<<16 {
			return fmt.Errorf("channels %d→%d out of range", l.InC, l.OutC)
		}
		p := Pool{l.KH, l.KW, l.StrideH, l.StrideW, l.PadTop, l.PadLeft, l.PadBottom, l.PadRight}
		if err := p.check(); err != nil {
			return err
		}
		return checkAffine(l.OutC, l.InC*l.KH*l.KW, l.Weights, l.Bias, l.Requant, l.Act)
	case *MaxPool:
		return l.check()
	case *AvgPool:
		return l.check()
	case *Relu:
		return nil
	case *LUT:
		if len(l.Name) > 64 {
			return fmt.Errorf("name longer than 64 bytes")
		}
		return nil
	case *Reshape:
		if len(l.Shape) == 0 || len(l.Shape) > 4 {
			return fmt.Errorf("rank %d, want 1..4", len(l.Shape))
		}
		for _, d := range l.Shape {
			if d < 1 || d > 1<<24 {
				return fmt.Errorf("dimension %d out of range", d)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown layer type %T", l)
}

func (p *Pool) check() error {
	if p.KH < 1 || p.KW < 1 || p.KH > 255 || p.KW > 255 {
		return fmt.Errorf("kernel %dx%d out of range 1..255", p.KH, p.KW)
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.StrideH > 255 || p.StrideW > 255 {
		return fmt.Errorf("stride %dx%d out of range 1..255", p.StrideH, p.StrideW)
	}
	for _, v := range []int{p.PadTop, p.PadBottom} {
		if v < 0 || v >= p.KH {
			return fmt.Errorf("padding %d not in [0, kernel height %d)", v, p.KH)
		}
	}
	for _, v := range []int{p.PadLeft, p.PadRight} {
		if v < 0 || v >= p.KW {
			return fmt.Errorf("padding %d not in [0, kernel width %d)", v, p.KW)
		}
	}
	return nil
}

// checkAffine checks a weight matrix of rows×cols and proves the accumulator
// bound: |Bias[o]| + 128·Σ|W[o,·]| < 2^31 for every row o.
func checkAffine(rows, cols int, w []int8, b []int32, r Requant, act Activation) error {
	if len(w) != rows*cols {
		return fmt.Errorf("%d weights, want %d", len(w), rows*cols)
	}
	if len(b) != rows {
		return fmt.Errorf("%d biases, want %d", len(b), rows)
	}
	if len(r.Mult) != len(r.Shift) || (len(r.Mult) != 1 && len(r.Mult) != rows) {
		return fmt.Errorf("%d requantisation multipliers and %d shifts, want 1 or %d", len(r.Mult), len(r.Shift), rows)
	}
	for c := range r.Mult {
		if !(Fixed{r.Mult[c], r.Shift[c]}).valid() {
			return fmt.Errorf("requantisation %d: multiplier %d or shift %d out of range", c, r.Mult[c], r.Shift[c])
		}
	}
	if act != ActNone && act != ActRelu {
		return fmt.Errorf("unknown activation %d", act)
	}
	for o := 0; o < rows; o++ {
		bound := int64(b[o])
		if bound < 0 {
			bound = -bound
		}
		for _, v := range w[o*cols : (o+1)*cols] {
			bound += 128 * int64(absInt8(v))
		}
		if bound > math.MaxInt32 {
			return fmt.Errorf("output %d: accumulator could reach %d, beyond int32", o, bound)
		}
	}
	return nil
}

func absInt8(v int8) int32 {
	if v < 0 {
		return -int32(v)
	}
	return int32(v)
}
