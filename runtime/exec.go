package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
)

// ErrShape is wrapped by errors for inputs that do not match the model.
var ErrShape = errors.New("input shape mismatch")

// ExecConfig configures an Executor.
type ExecConfig struct {
	// Workers is the number of goroutines a batch is split across;
	// 0 means GOMAXPROCS. Results never depend on it.
	Workers int
	// Limits bound the model (Validate); zero means DefaultLimits.
	Limits Limits
}

// Executor is the optimised interpreter: the same arithmetic as Reference,
// bit for bit, organised for speed. Weights are packed two or three output
// channels to an int64 so that one 64-bit multiply-add computes two or three
// int8×int8 products (exact, because each channel's sum is proven to fit its
// lane, see pack); the integer matmul walks four samples (or conv positions)
// per pass over a weight row with requantisation constants hoisted;
// convolutions are lowered to that matmul with im2col; a batch is split
// across workers. An Executor is safe for concurrent use.
type Executor struct {
	m       *Model
	shapes  []Shape
	layers  []compiled
	workers int
	maxAct  int // largest per-sample activation
	maxCol  int // largest im2col buffer of one sample
	maxPad  int // largest zero-padded convolution input of one sample
	pool    sync.Pool
}

// compiled is a layer with its packed weights.
type compiled struct {
	l      Layer
	packed []int64 // groups×cols, see pack
	lanes  int     // channels per int64: 2, or 3 when every channel's sum fits 21 bits
	width  uint8   // bits per lane: 32 or 21
	outs   []out   // per output channel: requantisation, bias, clamp
	posOff []int   // conv2d: see offsets
	segOff []int
}

// tile is how many samples a worker pushes through the layers at once: big
// enough for the 4-sample kernel, small enough to stay in cache.
const tile = 32

// NewExecutor validates m and prepares it for fast execution.
func NewExecutor(m *Model, cfg ExecConfig) (*Executor, error) {
	lim := cfg.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	if err := m.Validate(lim); err != nil {
		return nil, err
	}
	shapes, err := m.Shapes()
	if err != nil {
		return nil, err
	}
	e := &Executor{m: m, shapes: shapes, workers: cfg.Workers}
	if e.workers <= 0 {
		e.workers = goruntime.GOMAXPROCS(0)
	}
	for _, s := range shapes {
		e.maxAct = max(e.maxAct, s.Size())
	}
	for i, l := range m.Layers {
		c := compiled{l: l}
		switch l := l.(type) {
		case *Dense:
			c.pack(l.Out, l.In, l.Weights, l.Bias, l.Requant, l.Act)
		case *Conv2D:
			k := l.InC * l.KH * l.KW
			c.pack(l.OutC, k, l.Weights, l.Bias, l.Requant, l.Act)
			c.offsets(l, shapes[i], shapes[i+1])
			out := shapes[i+1]
			e.maxCol = max(e.maxCol, out[1]*out[2]*k)
			in := shapes[i]
			e.maxPad = max(e.maxPad, l.InC*(in[1]+l.PadTop+l.PadBottom)*(in[2]+l.PadLeft+l.PadRight))
		}
		e.layers = append(e.layers, c)
	}
	e.pool.New = func() any {
		return &scratch{
			a:   make([]int8, tile*e.maxAct),
			b:   make([]int8, tile*e.maxAct),
			col: make([]byte, e.maxCol+8),
			pad: make([]byte, e.maxPad+8),
		}
	}
	return e, nil
}

type scratch struct {
	a, b     []int8
	col, pad []byte
}

// pack packs the weights lanes channels to an int64 so that one 64-bit
// multiply-add computes lanes int8×int8 products: channel g·lanes+l of
// column i is at bit l·width of packed[g·cols+i]. This is exact because
// Validate's bound proves each channel's sum of products fits its lane:
// |Σ x·w| ≤ 128·Σ|w| < 2^31 for 32-bit lanes, and we use 21-bit lanes only
// when 128·Σ|w| < 2^20 for every channel. The sum of all lanes stays below
// 2^62 in magnitude, so the int64 never overflows.
func (c *compiled) pack(rows, cols int, w []int8, bias []int32, r Requant, act Activation) {
	c.lanes, c.width = 3, 21
	for o := 0; o < rows; o++ {
		var sum int64
		for _, v := range w[o*cols : (o+1)*cols] {
			sum += int64(absInt8(v))
		}
		if 128*sum >= 1<<20 {
			c.lanes, c.width = 2, 32
		}
	}
	groups := (rows + c.lanes - 1) / c.lanes
	c.packed = make([]int64, groups*cols)
	for o := 0; o < rows; o++ {
		g, l := o/c.lanes, o%c.lanes
		for i := 0; i < cols; i++ {
			c.packed[g*cols+i] += int64(w[o*cols+i]) << (uint(l) * uint(c.width))
		}
	}
	c.outs = make([]out, rows)
	for o := range c.outs {
		c.outs[o] = newOut(r.at(o), bias[o], act.lo())
	}
}

// Model returns the executor's model.
func (e *Executor) Model() *Model { return e.m }

// Run runs a batch of n samples and returns their outputs (see Reference).
func (e *Executor) Run(in []int8, n int) ([]int8, error) {
	if n < 0 || len(in) != n*e.shapes[0].Size() {
		return nil, fmt.Errorf("%w: %d input values for %d samples of %v", ErrShape, len(in), n, e.shapes[0])
	}
	out := make([]int8, n*e.shapes[len(e.shapes)-1].Size())
	if err := e.RunInto(out, in, n); err != nil {
		return nil, err
	}
	return out, nil
}

// RunInto is Run writing into out, which must hold n·OutputShape().Size()
// values.
func (e *Executor) RunInto(out, in []int8, n int) error {
	isz, osz := e.shapes[0].Size(), e.shapes[len(e.shapes)-1].Size()
	if n < 0 || len(in) != n*isz {
		return fmt.Errorf("%w: %d input values for %d samples of %v", ErrShape, len(in), n, e.shapes[0])
	}
	if len(out) != n*osz {
		return fmt.Errorf("%w: output buffer of %d values for %d samples of %v", ErrShape, len(out), n, e.shapes[len(e.shapes)-1])
	}
	w := min(e.workers, n/8) // below 8 samples a worker, goroutines cost more than they save
	if w <= 1 {
		e.runRange(out, in, 0, n)
		return nil
	}
	var wg sync.WaitGroup
	per := (n + w - 1) / w
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Go(func() { e.runRange(out, in, lo, hi) })
	}
	wg.Wait()
	return nil
}

// runRange runs samples [lo, hi) tile by tile.
func (e *Executor) runRange(out, in []int8, lo, hi int) {
	s := e.pool.Get().(*scratch)
	defer e.pool.Put(s)
	isz, osz := e.shapes[0].Size(), e.shapes[len(e.shapes)-1].Size()
	for t := lo; t < hi; t += tile {
		n := min(tile, hi-t)
		x := in[t*isz : (t+n)*isz]
		cur, next := s.a, s.b
		for i := range e.layers {
			y := next[:n*e.shapes[i+1].Size()]
			e.layer(&e.layers[i], e.shapes[i], e.shapes[i+1], x, y, n, s.col, s.pad)
			x = y
			cur, next = next, cur
		}
		copy(out[t*osz:(t+n)*osz], x)
	}
}

func (e *Executor) layer(c *compiled, in, out Shape, x, y []int8, n int, col, pad []byte) {
	isz, osz := in.Size(), out.Size()
	switch l := c.l.(type) {
	case *Dense:
		gemm(x, n, l.In, c, y, l.Out, 1)
	case *Conv2D:
		k := l.InC * l.KH * l.KW
		P := out[1] * out[2]
		for s := 0; s < n; s++ {
			cols := col[:P*k+8]
			im2col(l, c, in, x[s*isz:(s+1)*isz], cols, pad)
			gemm(cols, P, k, c, y[s*osz:(s+1)*osz], 1, P)
		}
	case *MaxPool:
		for s := 0; s < n; s++ {
			maxPool(&l.Pool, in, out, x[s*isz:(s+1)*isz], y[s*osz:(s+1)*osz])
		}
	case *AvgPool:
		for s := 0; s < n; s++ {
			avgPool(l, in, out, x[s*isz:(s+1)*isz], y[s*osz:(s+1)*osz])
		}
	case *Relu:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case *LUT:
		t := &l.Table
		for i, v := range x {
			y[i] = t[uint8(v)^0x80] // v+128 as a byte index
		}
	case *Reshape:
		copy(y, x)
	}
}

// gemm computes, for rows r of x (rows×k, row-major) and output channels c,
// y[r·rs + c·cs] = requant(bias[c] + Σ_i x[r,i]·W[c,i]), with the weights
// packed lanes to an int64 (see pack).
//
// x is int8 data, as []int8 or (for im2col rows) as []byte.
func gemm[T int8 | byte](x []T, rows, k int, c *compiled, y []int8, rs, cs int) {
	groups := len(c.packed) / k
	r := 0
	for ; r+4 <= rows; r += 4 {
		x0 := x[r*k : r*k+k]
		x1 := x[(r+1)*k : (r+1)*k+k]
		x2 := x[(r+2)*k : (r+2)*k+k]
		x3 := x[(r+3)*k : (r+3)*k+k]
		for g := 0; g < groups; g++ {
			w := c.packed[g*k : (g+1)*k]
			x0, x1, x2, x3 := x0[:len(w)], x1[:len(w)], x2[:len(w)], x3[:len(w)]
			var a0, a1, a2, a3 int64
			i := 0
			for ; i < len(w)-1; i += 2 { // unrolled by two: half the loop overhead
				w0, w1 := w[i], w[i+1]
				a0 += int64(int8(x0[i]))*w0 + int64(int8(x0[i+1]))*w1
				a1 += int64(int8(x1[i]))*w0 + int64(int8(x1[i+1]))*w1
				a2 += int64(int8(x2[i]))*w0 + int64(int8(x2[i+1]))*w1
				a3 += int64(int8(x3[i]))*w0 + int64(int8(x3[i+1]))*w1
			}
			if i < len(w) {
				wv := w[i]
				a0 += int64(int8(x0[i])) * wv
				a1 += int64(int8(x1[i])) * wv
				a2 += int64(int8(x2[i])) * wv
				a3 += int64(int8(x3[i])) * wv
			}
			c.emit4(a0, a1, a2, a3, g, y[r*rs:], rs, cs)
		}
	}
	for ; r < rows; r++ {
		x0 := x[r*k : r*k+k]
		for g := 0; g < groups; g++ {
			w := c.packed[g*k : (g+1)*k]
			x0 := x0[:len(w)]
			var a int64
			for i, wv := range w {
				a += int64(int8(x0[i])) * wv
			}
			c.emit(a, g, y[r*rs:], cs)
		}
	}
}

// emit4 is emit for four consecutive rows (rs apart), with the channel
// constants loaded once.
func (c *compiled) emit4(a0, a1, a2, a3 int64, g int, y []int8, rs, cs int) {
	ch := g * c.lanes
	nc := min(c.lanes, len(c.outs)-ch)
	switch {
	case c.lanes == 3 && nc == 3:
		o := (*[3]out)(c.outs[ch : ch+3])
		y0, y1, y2 := y[ch*cs:], y[(ch+1)*cs:], y[(ch+2)*cs:]
		_, _, _ = y0[3*rs], y1[3*rs], y2[3*rs]
		s0, s1, s2 := split3(a0)
		y0[0], y1[0], y2[0] = o[0].apply(s0), o[1].apply(s1), o[2].apply(s2)
		s0, s1, s2 = split3(a1)
		y0[rs], y1[rs], y2[rs] = o[0].apply(s0), o[1].apply(s1), o[2].apply(s2)
		s0, s1, s2 = split3(a2)
		y0[2*rs], y1[2*rs], y2[2*rs] = o[0].apply(s0), o[1].apply(s1), o[2].apply(s2)
		s0, s1, s2 = split3(a3)
		y0[3*rs], y1[3*rs], y2[3*rs] = o[0].apply(s0), o[1].apply(s1), o[2].apply(s2)
		return
	case c.lanes == 3 && nc == 2: // the last group of a layer with 3k+2 channels
		o := (*[2]out)(c.outs[ch : ch+2])
		y0, y1 := y[ch*cs:], y[(ch+1)*cs:]
		_, _ = y0[3*rs], y1[3*rs]
		s0, s1, _ := split3(a0)
		y0[0], y1[0] = o[0].apply(s0), o[1].apply(s1)
		s0, s1, _ = split3(a1)
		y0[rs], y1[rs] = o[0].apply(s0), o[1].apply(s1)
		s0, s1, _ = split3(a2)
		y0[2*rs], y1[2*rs] = o[0].apply(s0), o[1].apply(s1)
		s0, s1, _ = split3(a3)
		y0[3*rs], y1[3*rs] = o[0].apply(s0), o[1].apply(s1)
		return
	case nc == 1: // the last group of a layer holding a single channel
		o := &c.outs[ch]
		y0 := y[ch*cs:]
		_ = y0[3*rs]
		sh := 64 - c.width
		y0[0], y0[rs], y0[2*rs], y0[3*rs] = o.apply(a0<<sh>>sh), o.apply(a1<<sh>>sh), o.apply(a2<<sh>>sh), o.apply(a3<<sh>>sh)
		return
	case c.lanes == 2 && nc == 2:
		o := (*[2]out)(c.outs[ch : ch+2])
		y0, y1 := y[ch*cs:], y[(ch+1)*cs:]
		_, _ = y0[3*rs], y1[3*rs]
		s0, s1 := split2(a0)
		y0[0], y1[0] = o[0].apply(s0), o[1].apply(s1)
		s0, s1 = split2(a1)
		y0[rs], y1[rs] = o[0].apply(s0), o[1].apply(s1)
		s0, s1 = split2(a2)
		y0[2*rs], y1[2*rs] = o[0].apply(s0), o[1].apply(s1)
		s0, s1 = split2(a3)
		y0[3*rs], y1[3*rs] = o[0].apply(s0), o[1].apply(s1)
		return
	}
	for q, a := range [4]int64{a0, a1, a2, a3} {
		c.emit(a, g, y[q*rs:], cs)
	}
}

// split3 splits three 21-bit lanes (see pack).
func split3(a int64) (s0, s1, s2 int64) {
	s0 = a << 43 >> 43
	a = (a - s0) >> 21
	s1 = a << 43 >> 43
	return s0, s1, (a - s1) >> 21
}

// split2 splits two 32-bit lanes (see pack).
func split2(a int64) (s0, s1 int64) {
	s0 = int64(int32(a))
	return s0, (a - s0) >> 32
}

// emit splits the packed accumulator a of lane group g into its channels'
// sums (lowest lane first; each lane is sign-extended and the next lane
// absorbs its borrow) and writes their requantised values at y[c·cs].
func (c *compiled) emit(a int64, g int, y []int8, cs int) {
	ch := g * c.lanes
	if c.lanes == 3 && ch+3 <= len(c.outs) {
		o := c.outs[ch : ch+3 : ch+3]
		s0 := a << 43 >> 43
		a = (a - s0) >> 21
		s1 := a << 43 >> 43
		s2 := (a - s1) >> 21
		_ = y[(ch+2)*cs]
		y[ch*cs], y[(ch+1)*cs], y[(ch+2)*cs] = o[0].apply(s0), o[1].apply(s1), o[2].apply(s2)
		return
	}
	if c.lanes == 2 && ch+2 <= len(c.outs) {
		o := c.outs[ch : ch+2 : ch+2]
		s0 := int64(int32(a))
		_ = y[(ch+1)*cs]
		y[ch*cs], y[(ch+1)*cs] = o[0].apply(s0), o[1].apply((a-s0)>>32)
		return
	}
	sh := 64 - c.width
	for l := 0; l < c.lanes && ch+l < len(c.outs); l++ {
		s := a << sh >> sh
		y[(ch+l)*cs] = c.outs[ch+l].apply(s)
		a = (a - s) >> c.width
	}
}

// out is one channel's requantisation, hoisted out of the inner loops.
type out struct {
	mult, add, lo int64 // add = bias·mult + 2^(shift−1)
	shift         uint8
}

func newOut(f Fixed, bias int32, lo int64) out {
	o := out{mult: int64(f.Mult), add: int64(bias) * int64(f.Mult), lo: lo, shift: f.Shift}
	if f.Shift > 0 {
		o.add += 1 << (f.Shift - 1)
	}
	return o
}

// apply is Fixed.Scale and sat8 on bias + acc: (acc+bias)·M + 2^(S−1) is
// computed as acc·M + add, the same integer (every term is below 2^62 in
// magnitude, so nothing overflows).
func (o out) apply(acc int64) int8 {
	return int8(min(max((acc*o.mult+o.add)>>o.shift, o.lo), 127))
}

// im2col writes, for each output position p, the InC×KH×KW input patch (zero
// where padded) as row p of cols. It first copies the input into a
// zero-padded buffer, so that each kernel row is one unconditional copy
// from precomputed offsets (a single 4- or 8-byte move for kernels up to 8
// wide; pad and cols carry 8 bytes of slack for the over-read and
// over-write; positions are written in order, so each spill lands where a
// later copy writes, or in the slack).
func im2col(l *Conv2D, c *compiled, in Shape, x []int8, cols, pad []byte) {
	H, W := in[1], in[2]
	PH, PW := H+l.PadTop+l.PadBottom, W+l.PadLeft+l.PadRight
	pad = pad[:l.InC*PH*PW+8]
	clear(pad)
	for ic := 0; ic < l.InC; ic++ {
		for iy := 0; iy < H; iy++ {
			dst := pad[(ic*PH+l.PadTop+iy)*PW+l.PadLeft:][:W]
			for j, v := range x[(ic*H+iy)*W : (ic*H+iy+1)*W] {
				dst[j] = byte(v)
			}
		}
	}
	kw := l.KW
	i := 0
	switch {
	case kw <= 4:
		for _, base := range c.posOff {
			for _, so := range c.segOff {
				o := base + so
				binary.LittleEndian.PutUint32(cols[i:i+4], binary.LittleEndian.Uint32(pad[o:o+4]))
				i += kw
			}
		}
	case kw <= 8:
		for _, base := range c.posOff {
			for _, so := range c.segOff {
				o := base + so
				binary.LittleEndian.PutUint64(cols[i:i+8], binary.LittleEndian.Uint64(pad[o:o+8]))
				i += kw
			}
		}
	default:
		for _, base := range c.posOff {
			for _, so := range c.segOff {
				o := base + so
				copy(cols[i:i+kw], pad[o:o+kw])
				i += kw
			}
		}
	}
}

// offsets precomputes im2col's offsets into the padded input: posOff[p] of
// output position p's window, segOff[s] of kernel row s = (ic, ky) within it.
func (c *compiled) offsets(l *Conv2D, in, out Shape) {
	PH, PW := in[1]+l.PadTop+l.PadBottom, in[2]+l.PadLeft+l.PadRight
	for oy := 0; oy < out[1]; oy++ {
		for ox := 0; ox < out[2]; ox++ {
			c.posOff = append(c.posOff, oy*l.StrideH*PW+ox*l.StrideW)
		}
	}
	for ic := 0; ic < l.InC; ic++ {
		for ky := 0; ky < l.KH; ky++ {
			c.segOff = append(c.segOff, (ic*PH+ky)*PW)
		}
	}
}

// window clips a pooling window to the input: rows [y0, y1), columns [x0, x1).
func window(p *Pool, oy, ox, H, W int) (y0, y1, x0, x1 int) {
	y0, x0 = oy*p.StrideH-p.PadTop, ox*p.StrideW-p.PadLeft
	y1, x1 = min(y0+p.KH, H), min(x0+p.KW, W)
	return max(y0, 0), y1, max(x0, 0), x1
}

func maxPool(p *Pool, in, out Shape, x, y []int8) {
	C, H, W, OH, OW := in[0], in[1], in[2], out[1], out[2]
	if p.PadTop|p.PadLeft|p.PadBottom|p.PadRight == 0 && p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 {
		for c := 0; c < C; c++ {
			plane, o := x[c*H*W:(c+1)*H*W], y[c*OH*OW:(c+1)*OH*OW]
			for oy := 0; oy < OH; oy++ {
				r0, r1 := plane[2*oy*W:(2*oy+1)*W], plane[(2*oy+1)*W:(2*oy+2)*W]
				ov := o[oy*OW : (oy+1)*OW]
				for ox := range ov {
					ov[ox] = max(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
				}
			}
		}
		return
	}
	if p.PadTop|p.PadLeft|p.PadBottom|p.PadRight == 0 { // every window inside
		for c := 0; c < C; c++ {
			plane, o := x[c*H*W:(c+1)*H*W], y[c*OH*OW:(c+1)*OH*OW]
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					base := oy*p.StrideH*W + ox*p.StrideW
					m := int8(-128)
					for ky := 0; ky < p.KH; ky++ {
						for _, v := range plane[base+ky*W : base+ky*W+p.KW] {
							m = max(m, v)
						}
					}
					o[oy*OW+ox] = m
				}
			}
		}
		return
	}
	for c := 0; c < C; c++ {
		plane, o := x[c*H*W:(c+1)*H*W], y[c*OH*OW:(c+1)*OH*OW]
		for oy := 0; oy < OH; oy++ {
			for ox := 0; ox < OW; ox++ {
				y0, y1, x0, x1 := window(p, oy, ox, H, W)
				m := int8(-128)
				for iy := y0; iy < y1; iy++ {
					for _, v := range plane[iy*W+x0 : iy*W+x1] {
						m = max(m, v)
					}
				}
				o[oy*OW+ox] = m
			}
		}
	}
}

func avgPool(l *AvgPool, in, out Shape, x, y []int8) {
	p := &l.Pool
	C, H, W, OH, OW := in[0], in[1], in[2], out[1], out[2]
	if p.PadTop|p.PadLeft|p.PadBottom|p.PadRight == 0 && p.KH == 2 && p.KW == 2 && p.StrideH == 2 && p.StrideW == 2 {
		// floor((2·sum + 4) / 8) with an arithmetic (flooring) shift.
		for c := 0; c < C; c++ {
			plane, o := x[c*H*W:(c+1)*H*W], y[c*OH*OW:(c+1)*OH*OW]
			for oy := 0; oy < OH; oy++ {
				r0, r1 := plane[2*oy*W:(2*oy+1)*W], plane[(2*oy+1)*W:(2*oy+2)*W]
				ov := o[oy*OW : (oy+1)*OW]
				for ox := range ov {
					sum := int(r0[2*ox]) + int(r0[2*ox+1]) + int(r1[2*ox]) + int(r1[2*ox+1])
					ov[ox] = int8((2*sum + 4) >> 3)
				}
			}
		}
		return
	}
	for c := 0; c < C; c++ {
		plane, o := x[c*H*W:(c+1)*H*W], y[c*OH*OW:(c+1)*OH*OW]
		for oy := 0; oy < OH; oy++ {
			for ox := 0; ox < OW; ox++ {
				y0, y1, x0, x1 := window(p, oy, ox, H, W)
				var sum int64
				for iy := y0; iy < y1; iy++ {
					for _, v := range plane[iy*W+x0 : iy*W+x1] {
						sum += int64(v)
					}
				}
				n := int64((y1 - y0) * (x1 - x0))
				if l.CountIncludePad {
					n = int64(p.KH * p.KW)
				}
				o[oy*OW+ox] = int8(divRoundHalfUp(sum, n))
			}
		}
	}
}
