package onnx

// The lowering of each supported ONNX operator to float layers.

import (
	"fmt"
	"math"
	"slices"

	vairt "github.com/vai-dev/vai/runtime"
)

func (l *lowering) gemm(n *nodeProto, out string) error {
	if len(l.shape) != 1 {
		return fmt.Errorf("input of shape %v; flatten it first", l.shape)
	}
	if len(n.inputs) < 2 {
		return fmt.Errorf("needs two inputs")
	}
	alpha, beta := float64(attrFloat(n, "alpha", 1)), float64(attrFloat(n, "beta", 1))
	transB := attrInt(n, "transB", 0)
	if n.opType == "MatMul" {
		alpha, beta, transB = 1, 0, 0
	} else if attrInt(n, "transA", 0) != 0 {
		return fmt.Errorf("transA=1 would transpose the batch dimension")
	}
	w, dims, err := l.constant(n.inputs[1])
	if err != nil {
		return err
	}
	if len(dims) != 2 {
		return fmt.Errorf("weights of rank %d, want 2", len(dims))
	}
	K, N := int(dims[0]), int(dims[1])
	if transB != 0 {
		K, N = N, K
	}
	if K != l.shape[0] {
		return fmt.Errorf("weights %v do not match input of size %d", dims, l.shape[0])
	}
	if N < 1 || N > 1<<24 {
		return fmt.Errorf("weights %v: %d outputs not supported", dims, N)
	}
	d := &Dense{In: K, Out: N, W: make([]float32, K*N), B: make([]float32, N)}
	for o := 0; o < N; o++ {
		for i := 0; i < K; i++ {
			var v float64
			if transB != 0 {
				v = w[o*K+i]
			} else {
				v = w[i*N+o]
			}
			d.W[o*K+i] = float32(alpha * v)
		}
	}
	if len(n.inputs) > 2 && n.inputs[2] != "" && beta != 0 {
		c, cdims, err := l.constant(n.inputs[2])
		if err != nil {
			return err
		}
		if err := broadcastBias(d.B, c, cdims, beta, 1); err != nil {
			return err
		}
	}
	l.emit(d, vairt.Shape{N}, out)
	return nil
}

// broadcastBias adds scale·c to b when c broadcasts to one value per channel
// (shape [], [1], [N], [1, N], or [N, 1, 1] / [1, N, 1, 1] for convolutions
// when spatial is 3).
func broadcastBias(b []float32, c []float64, dims []int64, scale float64, spatial int) error {
	N := len(b)
	lead, ones := 0, true
	for _, d := range dims {
		if d != 1 {
			ones = false
		}
	}
	switch {
	case len(c) == 1:
		for i := range b {
			b[i] += float32(scale * c[0])
		}
		return nil
	case len(c) == N && !ones:
		// Find the axis holding N; everything else must be 1, and N must
		// be the channel axis: last for dense, third from last for conv.
		for i, d := range dims {
			if d == int64(N) {
				lead = len(dims) - 1 - i
			}
		}
		want := 0
		if spatial == 3 {
			want = 2
		}
		if lead != want {
			return fmt.Errorf("bias of shape %v does not broadcast per channel", dims)
		}
		for i := range b {
			b[i] += float32(scale * c[i])
		}
		return nil
	}
	return fmt.Errorf("bias of shape %v does not broadcast to %d channels (per-row biases are not supported)", dims, N)
}

func (l *lowering) add(n *nodeProto, out string) error {
	if len(n.inputs) != 2 {
		return fmt.Errorf("needs two inputs")
	}
	if !l.fusable {
		return fmt.Errorf("Add is supported only as the bias of a preceding MatMul, Gemm or Conv")
	}
	c, dims, err := l.constant(n.inputs[1])
	if err != nil {
		return fmt.Errorf("Add of two computed tensors is not supported: %v", err)
	}
	switch ly := l.out[len(l.out)-1].(type) {
	case *Dense:
		err = broadcastBias(ly.B, c, dims, 1, 1)
	case *Conv:
		err = broadcastBias(ly.B, c, dims, 1, 3)
	}
	if err != nil {
		return err
	}
	l.cur = out
	return nil
}

// window reads kernel_shape, strides, pads, auto_pad and dilations of a
// 2-D Conv or pool over an input of height h, width w.
func (l *lowering) window(n *nodeProto, kh, kw int) (vairt.Pool, error) {
	var p vairt.Pool
	if len(l.shape) != 3 {
		return p, fmt.Errorf("input of shape %v; only 2-D [C H W] inputs are supported", l.shape)
	}
	if ks := attrInts(n, "kernel_shape"); ks != nil {
		if len(ks) != 2 || (kh != 0 && (int(ks[0]) != kh || int(ks[1]) != kw)) {
			return p, fmt.Errorf("kernel_shape %v: only 2-D kernels matching the weights are supported", ks)
		}
		kh, kw = int(ks[0]), int(ks[1])
	}
	if kh < 1 || kw < 1 || kh > 255 || kw > 255 {
		return p, fmt.Errorf("kernel %dx%d not supported", kh, kw)
	}
	p.KH, p.KW, p.StrideH, p.StrideW = kh, kw, 1, 1
	if s := attrInts(n, "strides"); s != nil {
		if len(s) != 2 || s[0] < 1 || s[1] < 1 || s[0] > 255 || s[1] > 255 {
			return p, fmt.Errorf("strides %v not supported", s)
		}
		p.StrideH, p.StrideW = int(s[0]), int(s[1])
	}
	for _, d := range attrInts(n, "dilations") {
		if d != 1 {
			return p, fmt.Errorf("dilations %v not supported", attrInts(n, "dilations"))
		}
	}
	if attrInt(n, "ceil_mode", 0) != 0 {
		return p, fmt.Errorf("ceil_mode=1 not supported")
	}
	H, W := l.shape[1], l.shape[2]
	autoPad := ""
	if a := attr(n, "auto_pad"); a != nil {
		autoPad = string(a.s)
	}
	switch autoPad {
	case "", "NOTSET":
		if pads := attrInts(n, "pads"); pads != nil {
			if len(pads) != 4 {
				return p, fmt.Errorf("pads %v, want 4 values", pads)
			}
			for _, v := range pads {
				if v < 0 || v > 254 {
					return p, fmt.Errorf("pads %v not supported", pads)
				}
			}
			p.PadTop, p.PadLeft, p.PadBottom, p.PadRight = int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		ph := max((ceilDiv(H, p.StrideH)-1)*p.StrideH+p.KH-H, 0)
		pw := max((ceilDiv(W, p.StrideW)-1)*p.StrideW+p.KW-W, 0)
		p.PadTop, p.PadLeft = ph/2, pw/2
		if autoPad == "SAME_LOWER" {
			p.PadTop, p.PadLeft = ph-ph/2, pw-pw/2
		}
		p.PadBottom, p.PadRight = ph-p.PadTop, pw-p.PadLeft
	default:
		return p, fmt.Errorf("auto_pad %q not supported", autoPad)
	}
	if l.pad != nil {
		p.PadTop += l.pad[0]
		p.PadLeft += l.pad[1]
		p.PadBottom += l.pad[2]
		p.PadRight += l.pad[3]
	}
	if p.PadTop >= p.KH || p.PadBottom >= p.KH || p.PadLeft >= p.KW || p.PadRight >= p.KW {
		return p, fmt.Errorf("padding %d,%d,%d,%d not smaller than the %dx%d kernel", p.PadTop, p.PadLeft, p.PadBottom, p.PadRight, p.KH, p.KW)
	}
	if H+p.PadTop+p.PadBottom < p.KH || W+p.PadLeft+p.PadRight < p.KW {
		return p, fmt.Errorf("kernel larger than the padded input")
	}
	return p, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func outHW(p vairt.Pool, h, w int) (int, int) {
	return (h+p.PadTop+p.PadBottom-p.KH)/p.StrideH + 1, (w+p.PadLeft+p.PadRight-p.KW)/p.StrideW + 1
}

func (l *lowering) conv(n *nodeProto, out string) error {
	if g := attrInt(n, "group", 1); g != 1 {
		return fmt.Errorf("group=%d not supported", g)
	}
	if len(n.inputs) < 2 {
		return fmt.Errorf("needs weights")
	}
	w, dims, err := l.constant(n.inputs[1])
	if err != nil {
		return err
	}
	if len(dims) != 4 {
		return fmt.Errorf("weights of rank %d; only 2-D convolutions are supported", len(dims))
	}
	if len(l.shape) != 3 || int(dims[1]) != l.shape[0] {
		return fmt.Errorf("weights %v do not match input %v", dims, l.shape)
	}
	if dims[0] < 1 || dims[0] > 1<<16 {
		return fmt.Errorf("weights %v: %d output channels not supported", dims, dims[0])
	}
	p, err := l.window(n, int(dims[2]), int(dims[3]))
	if err != nil {
		return err
	}
	l.pad = nil
	c := &Conv{InC: int(dims[1]), OutC: int(dims[0]), Pool: p, W: make([]float32, len(w)), B: make([]float32, dims[0])}
	for i, v := range w {
		c.W[i] = float32(v)
	}
	if len(n.inputs) > 2 && n.inputs[2] != "" {
		b, bdims, err := l.constant(n.inputs[2])
		if err != nil {
			return err
		}
		if len(b) != c.OutC {
			return fmt.Errorf("bias of shape %v for %d channels", bdims, c.OutC)
		}
		for i, v := range b {
			c.B[i] = float32(v)
		}
	}
	oh, ow := outHW(p, l.shape[1], l.shape[2])
	l.emit(c, vairt.Shape{c.OutC, oh, ow}, out)
	return nil
}

func (l *lowering) pool(n *nodeProto, out string) error {
	if attrInt(n, "storage_order", 0) != 0 {
		return fmt.Errorf("storage_order=1 not supported")
	}
	p, err := l.window(n, 0, 0)
	if err != nil {
		return err
	}
	var ly Layer = &MaxPool{Pool: p}
	if n.opType == "AveragePool" {
		cip := attrInt(n, "count_include_pad", 0) != 0
		if l.pad != nil {
			// Padding from a Pad node holds real zeros, which count.
			if own := attrInts(n, "pads"); !cip && slices.ContainsFunc(own, func(v int64) bool { return v != 0 }) {
				return fmt.Errorf("Pad before an AveragePool with its own uncounted padding is not supported")
			}
			cip = true
		}
		ly = &AvgPool{Pool: p, CountIncludePad: cip}
	}
	l.pad = nil
	oh, ow := outHW(p, l.shape[1], l.shape[2])
	l.emit(ly, vairt.Shape{l.shape[0], oh, ow}, out)
	l.fusable = false
	return nil
}

func (l *lowering) padNode(n *nodeProto, out string) error {
	if a := attr(n, "mode"); a != nil && string(a.s) != "constant" {
		return fmt.Errorf("mode %q not supported", a.s)
	}
	pads := attrInts(n, "pads") // opset < 11
	if len(n.inputs) > 1 && n.inputs[1] != "" {
		v, _, err := l.constant(n.inputs[1])
		if err != nil {
			return err
		}
		pads = nil
		for _, x := range v {
			pads = append(pads, int64(x))
		}
	}
	if len(n.inputs) > 2 && n.inputs[2] != "" {
		v, _, err := l.constant(n.inputs[2])
		if err != nil {
			return err
		}
		if len(v) != 1 || v[0] != 0 {
			return fmt.Errorf("only zero padding is supported")
		}
	}
	if attrFloat(n, "value", 0) != 0 {
		return fmt.Errorf("only zero padding is supported")
	}
	r := len(l.shape) + 1
	if len(pads) != 2*r {
		return fmt.Errorf("pads %v for a tensor of rank %d", pads, r)
	}
	nonzero := slices.ContainsFunc(pads, func(v int64) bool { return v != 0 })
	if !nonzero {
		l.cur = out
		return nil
	}
	if r != 4 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 {
		return fmt.Errorf("pads %v: only spatial padding of [N C H W] is supported", pads)
	}
	for _, v := range pads {
		if v < 0 || v > 254 {
			return fmt.Errorf("pads %v not supported", pads)
		}
	}
	l.pad = []int{int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])}
	l.cur = out
	return nil
}

func (l *lowering) reshape(n *nodeProto, out string) error {
	if len(n.inputs) < 2 {
		return fmt.Errorf("needs a shape input (opset 5 or later)")
	}
	if attrInt(n, "allowzero", 0) != 0 {
		return fmt.Errorf("allowzero=1 not supported")
	}
	v, _, err := l.constant(n.inputs[1])
	if err != nil {
		return err
	}
	if len(v) < 2 || len(v) > 5 {
		return fmt.Errorf("target shape %v: want the batch and 1 to 4 dimensions", v)
	}
	full := append([]int{-2}, l.shape...) // -2: the batch, unknown here
	switch {
	case v[0] == 0, v[0] == -1 && !slices.Contains(v[1:], -1), l.batch > 0 && v[0] == float64(l.batch):
	default:
		return fmt.Errorf("target shape %v does not keep the batch dimension first", v)
	}
	var s vairt.Shape
	infer := -1
	for i, x := range v[1:] {
		switch {
		case x == 0:
			if i+1 >= len(full) {
				return fmt.Errorf("target shape %v copies a dimension the input lacks", v)
			}
			s = append(s, full[i+1])
		case x == -1:
			if infer >= 0 {
				return fmt.Errorf("target shape %v has two -1", v)
			}
			infer = len(s)
			s = append(s, 1)
		case x >= 1 && x <= 1<<24 && x == math.Trunc(x):
			s = append(s, int(x))
		default:
			return fmt.Errorf("target shape %v not supported", v)
		}
	}
	if infer >= 0 {
		rest := s.Size()
		if rest == 0 || l.shape.Size()%rest != 0 {
			return fmt.Errorf("cannot infer -1 in %v for %v", v, l.shape)
		}
		s[infer] = l.shape.Size() / rest
	}
	if s.Size() != l.shape.Size() {
		return fmt.Errorf("target shape %v does not hold %v", v, l.shape)
	}
	l.emit(&Reshape{Shape: s}, s, out)
	l.fusable = false
	return nil
}

func (l *lowering) batchNorm(n *nodeProto, out string) error {
	if attrInt(n, "training_mode", 0) != 0 {
		return fmt.Errorf("training_mode=1 not supported")
	}
	if len(n.inputs) != 5 {
		return fmt.Errorf("needs 5 inputs")
	}
	eps := float64(attrFloat(n, "epsilon", 1e-5))
	var p [4][]float64
	for i := range p {
		v, _, err := l.constant(n.inputs[i+1])
		if err != nil {
			return err
		}
		p[i] = v
	}
	C := l.shape[0]
	for i := range p {
		if len(p[i]) != C {
			return fmt.Errorf("parameter %d has %d values for %d channels", i+1, len(p[i]), C)
		}
	}
	gain, shift := make([]float64, C), make([]float64, C)
	for c := range C {
		if p[3][c]+eps <= 0 {
			return fmt.Errorf("variance %v + epsilon is not positive", p[3][c])
		}
		gain[c] = p[0][c] / math.Sqrt(p[3][c]+eps)
		shift[c] = p[1][c] - float64(p[2][c]*gain[c]) // explicit rounding: no FMA, reproducible import
	}
	if l.fusable { // fold into the Dense or Conv before
		var w, b []float32
		switch ly := l.out[len(l.out)-1].(type) {
		case *Dense:
			w, b = ly.W, ly.B
		case *Conv:
			w, b = ly.W, ly.B
		}
		k := len(w) / C
		for c := range C {
			for i := c * k; i < (c+1)*k; i++ {
				w[i] = float32(float64(w[i]) * gain[c])
			}
			b[c] = float32(float64(float64(b[c])*gain[c]) + shift[c])
		}
		l.cur = out
		return nil
	}
	// A BatchNormalization on its own becomes a diagonal layer.
	w := make([]float32, C*C)
	b := make([]float32, C)
	for c := range C {
		w[c*C+c], b[c] = float32(gain[c]), float32(shift[c])
	}
	switch len(l.shape) {
	case 1:
		l.emit(&Dense{In: C, Out: C, W: w, B: b}, l.shape, out)
	case 3:
		l.emit(&Conv{InC: C, OutC: C, Pool: vairt.Pool{KH: 1, KW: 1, StrideH: 1, StrideW: 1}, W: w, B: b}, l.shape, out)
	default:
		return fmt.Errorf("input of shape %v not supported", l.shape)
	}
	return nil
}

// transpose2D folds a Transpose of a 2-D constant (perm [1 0] or absent).
func transpose2D(t *tensorProto, perm []int64) (*tensorProto, error) {
	if len(t.dims) != 2 || (perm != nil && !slices.Equal(perm, []int64{1, 0})) {
		return nil, fmt.Errorf("only 2-D transposes of constants are supported")
	}
	v, err := t.floats()
	if err != nil {
		return nil, err
	}
	r, c := int(t.dims[0]), int(t.dims[1])
	out := &tensorProto{dims: []int64{t.dims[1], t.dims[0]}, dataType: dtDouble, doubleData: make([]float64, len(v))}
	for i := range r {
		for j := range c {
			out.doubleData[j*r+i] = v[i*c+j]
		}
	}
	return out, nil
}
