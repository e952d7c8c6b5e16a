package runtime

import (
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
// bit for bit, organised for speed. Weights are packed two output channels
// to an int64 so that one 64-bit multiply-add computes two int8×int8
// products (exact, because each channel's sum is proven to fit in 32 bits);
// the integer matmul walks four samples (or conv positions) per pass over a
// weight row; convolutions are lowered to that matmul with im2col; a batch is
// split across workers. An Executor is safe for concurrent use.
type Executor struct {
	m       *Model
	shapes  []Shape
	layers  []compiled
	workers int
	maxAct  int // largest per-sample activation
	maxCol  int // largest im2col buffer of one sample
	pool    sync.Pool
}

// compiled is a layer with its packed weights.
type compiled struct {
	l      Layer
	packed []int64 // ceil(rows/2)×cols: channels 2j and 2j+1 of column i at [j·cols+i]
	rq     []Fixed // one per output channel
	lo     int64
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
			c.packed, c.rq, c.lo = pack(l.Out, l.In, l.Weights, l.Requant), fixeds(l.Out, l.Requant), l.Act.lo()
		case *Conv2D:
			k := l.InC * l.KH * l.KW
			c.packed, c.rq, c.lo = pack(l.OutC, k, l.Weights, l.Requant), fixeds(l.OutC, l.Requant), l.Act.lo()
			out := shapes[i+1]
			e.maxCol = max(e.maxCol, out[1]*out[2]*k)
		}
		e.layers = append(e.layers, c)
	}
	e.pool.New = func() any {
		return &scratch{
			a:   make([]int8, tile*e.maxAct),
			b:   make([]int8, tile*e.maxAct),
			col: make([]int8, e.maxCol),
		}
	}
	return e, nil
}

type scratch struct{ a, b, col []int8 }

func pack(rows, cols int, w []int8, _ Requant) []int64 {
	p := make([]int64, (rows+1)/2*cols)
	for r := 0; r < rows; r++ {
		j, hi := r/2, r%2 == 1
		for i := 0; i < cols; i++ {
			v := int64(w[r*cols+i])
			if hi {
				p[j*cols+i] += v << 32
			} else {
				p[j*cols+i] += v
			}
		}
	}
	return p
}

func fixeds(rows int, r Requant) []Fixed {
	f := make([]Fixed, rows)
	for c := range f {
		f[c] = r.at(c)
	}
	return f
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
			e.layer(&e.layers[i], e.shapes[i], e.shapes[i+1], x, y, n, s.col)
			x = y
			cur, next = next, cur
		}
		copy(out[t*osz:(t+n)*osz], x)
	}
}

func (e *Executor) layer(c *compiled, in, out Shape, x, y []int8, n int, col []int8) {
	isz, osz := in.Size(), out.Size()
	switch l := c.l.(type) {
	case *Dense:
		gemm(x, n, l.In, c.packed, l.Out, l.Bias, c.rq, c.lo, y, l.Out, 1)
	case *Conv2D:
		k := l.InC * l.KH * l.KW
		P := out[1] * out[2]
		for s := 0; s < n; s++ {
			cols := col[:P*k]
			im2col(l, in, out, x[s*isz:(s+1)*isz], cols)
			gemm(cols, P, k, c.packed, l.OutC, l.Bias, c.rq, c.lo, y[s*osz:(s+1)*osz], 1, P)
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
// y[r·rs + c·cs] = requant(bias[c] + Σ_i x[r,i]·W[c,i]).
func gemm(x []int8, rows, k int, packed []int64, outC int, bias []int32, rq []Fixed, lo int64, y []int8, rs, cs int) {
	for j := 0; j < (outC+1)/2; j++ {
		w := packed[j*k : (j+1)*k]
		c0, c1 := 2*j, min(2*j+1, outC-1) // c1 == c0 when outC is odd: its lane is zero and not written
		o0, o1 := newOut(rq[c0], bias[c0], lo), newOut(rq[c1], bias[c1], lo)
		y0, y1 := y[c0*cs:], y[c1*cs:]
		odd := 2*j+1 >= outC
		r := 0
		for ; r+4 <= rows; r += 4 {
			x0 := x[r*k : r*k+k][:len(w)]
			x1 := x[(r+1)*k : (r+1)*k+k][:len(w)]
			x2 := x[(r+2)*k : (r+2)*k+k][:len(w)]
			x3 := x[(r+3)*k : (r+3)*k+k][:len(w)]
			var a0, a1, a2, a3 int64
			for i, wv := range w {
				a0 += int64(x0[i]) * wv
				a1 += int64(x1[i]) * wv
				a2 += int64(x2[i]) * wv
				a3 += int64(x3[i]) * wv
			}
			for q, a := range [4]int64{a0, a1, a2, a3} {
				s0 := int64(int32(a)) // low lane, sign-extended; the high lane absorbed its borrow
				y0[(r+q)*rs] = o0.apply(s0)
				if !odd {
					y1[(r+q)*rs] = o1.apply((a - s0) >> 32)
				}
			}
		}
		for ; r < rows; r++ {
			x0 := x[r*k : r*k+k][:len(w)]
			var a int64
			for i, wv := range w {
				a += int64(x0[i]) * wv
			}
			s0 := int64(int32(a))
			y0[r*rs] = o0.apply(s0)
			if !odd {
				y1[r*rs] = o1.apply((a - s0) >> 32)
			}
		}
	}
}

// out is one channel's requantisation, hoisted out of the inner loops.
type out struct {
	mult, round, bias, lo int64
	shift                 uint8
}

func newOut(f Fixed, bias int32, lo int64) out {
	o := out{mult: int64(f.Mult), bias: int64(bias), lo: lo, shift: f.Shift}
	if f.Shift > 0 {
		o.round = 1 << (f.Shift - 1)
	}
	return o
}

// apply is Fixed.Scale and sat8 on bias + acc (the same arithmetic).
func (o out) apply(acc int64) int8 {
	v := ((acc+o.bias)*o.mult + o.round) >> o.shift
	if v < o.lo {
		return int8(o.lo)
	}
	if v > 127 {
		return 127
	}
	return int8(v)
}

// im2col writes, for each output position p, the InC×KH×KW input patch (zero
// where padded) as row p of cols.
func im2col(l *Conv2D, in, out Shape, x, cols []int8) {
	H, W, OH, OW := in[1], in[2], out[1], out[2]
	k := l.InC * l.KH * l.KW
	for oy := 0; oy < OH; oy++ {
		for ox := 0; ox < OW; ox++ {
			row := cols[(oy*OW+ox)*k : (oy*OW+ox+1)*k]
			x0 := ox*l.StrideW - l.PadLeft
			inside := x0 >= 0 && x0+l.KW <= W
			i := 0
			for ic := 0; ic < l.InC; ic++ {
				plane := x[ic*H*W : (ic+1)*H*W]
				for ky := 0; ky < l.KH; ky++ {
					iy := oy*l.StrideH + ky - l.PadTop
					dst := row[i : i+l.KW]
					i += l.KW
					if iy < 0 || iy >= H {
						clear(dst)
						continue
					}
					line := plane[iy*W : (iy+1)*W]
					if inside {
						src := line[x0 : x0+len(dst)]
						for j := range dst {
							dst[j] = src[j]
						}
						continue
					}
					for kx := range dst {
						if ix := x0 + kx; ix >= 0 && ix < W {
							dst[kx] = line[ix]
						} else {
							dst[kx] = 0
						}
					}
				}
			}
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
