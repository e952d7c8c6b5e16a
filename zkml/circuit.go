package zkml

import (
	"fmt"
	"math/big"
	"math/bits"

	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/lookup/logderivlookup"

	"github.com/vai-dev/vai/runtime"
)

// circuit is the gnark circuit of one architecture. Its exported fields are
// the witness; their order is the public input layout (see PublicInputs).
type circuit struct {
	Commitment  frontend.Variable   `gnark:",public"`
	JobID       frontend.Variable   `gnark:",public"`
	InputDigest []frontend.Variable `gnark:",public"` // one element, or none when the input is public
	InputPublic []frontend.Variable `gnark:",public"` // the input when public, else none
	Output      []frontend.Variable `gnark:",public"`

	Input []frontend.Variable `gnark:",secret"` // the input when private, else none
	Salt  frontend.Variable   `gnark:",secret"`
	// Params holds each parameter plus its kind's offset (w + 128, b + 2^31,
	// …): non-negative and below 2^width. The prover's multi-exponentiations
	// cost little for small non-negative scalars and full price for
	// negative ones (q − |v|), and a weight appears in three of them.
	Params []frontend.Variable `gnark:",secret"`

	arch *Arch
}

// newCircuit returns an unassigned circuit with its slices sized.
func newCircuit(a *Arch, publicInput bool) *circuit {
	c := &circuit{arch: a, Output: make([]frontend.Variable, a.OutputSize()), Params: make([]frontend.Variable, a.Params())}
	if publicInput {
		c.InputPublic = make([]frontend.Variable, a.InputSize())
	} else {
		c.InputDigest = make([]frontend.Variable, 1)
		c.Input = make([]frontend.Variable, a.InputSize())
	}
	return c
}

// builder holds what one Define call shares across layers.
type builder struct {
	api   frontend.API
	rc    *byteChecker
	pow   logderivlookup.Table // 2^S for S in [0, 62]
	half  logderivlookup.Table // 2^(S-1), and 0 for S = 0
	relu  logderivlookup.Table // max(x, 0) at x+128
	reqCh map[int][2]frontend.Variable
}

// Define implements frontend.Circuit: the runtime's integer arithmetic
// (docs/design/runtime.md) over the committed parameters.
func (c *circuit) Define(api frontend.API) error {
	a := c.arch
	b := &builder{api: api, rc: newByteChecker(api), reqCh: map[int][2]frontend.Variable{}}

	// The parameters: range-checked to their widths, so that packing them
	// is injective and the commitment binds each one.
	p := make([]frontend.Variable, len(c.Params))
	for i, k := range a.kinds {
		b.rc.Check(c.Params[i], k.width())
		p[i] = api.Sub(c.Params[i], k.offset())
	}
	packed := packCircuit(api, c.Params, a.kinds)
	af := a.field()
	comm, err := hashCircuit(api, domainWeights, append([]frontend.Variable{af, c.Salt}, packed...))
	if err != nil {
		return err
	}
	api.AssertIsEqual(comm, c.Commitment)

	// The job id takes part in a constraint, so that the verifying key has a
	// non-zero term for it and a proof is bound to one job.
	api.Mul(c.JobID, c.JobID)

	// The input: int8, committed by its digest unless public.
	x := c.Input
	if len(c.InputPublic) > 0 {
		x = c.InputPublic
	}
	kinds := make([]paramKind, len(x))
	xo := offsetAll(api, x, 128)
	for i := range x {
		b.rc.Check(xo[i], 8)
		kinds[i] = kindWeight
	}
	if len(c.InputDigest) == 1 {
		d, err := hashCircuit(api, domainInput, packCircuit(api, xo, kinds))
		if err != nil {
			return err
		}
		api.AssertIsEqual(d, c.InputDigest[0])
	}

	b.pow, b.half = logderivlookup.New(api), logderivlookup.New(api)
	for s := 0; s <= runtime.MaxShift; s++ {
		b.pow.Insert(new(big.Int).Lsh(big.NewInt(1), uint(s)))
		if s == 0 {
			b.half.Insert(0)
		} else {
			b.half.Insert(new(big.Int).Lsh(big.NewInt(1), uint(s-1)))
		}
	}
	for i, l := range a.model.Layers {
		in, out := a.shapes[i], a.shapes[i+1]
		switch l := l.(type) {
		case *runtime.Dense:
			x = b.dense(l, a.layout[i], p, x)
		case *runtime.Conv2D:
			x = b.conv(l, a.layout[i], p, in, out, x)
		case *runtime.MaxPool:
			x = b.maxPool(&l.Pool, in, out, x)
		case *runtime.AvgPool:
			x = b.avgPool(l, in, out, x)
		case *runtime.Relu:
			if b.relu == nil {
				b.relu = logderivlookup.New(api)
				for v := -128; v < 128; v++ {
					b.relu.Insert(max(v, 0))
				}
			}
			x = b.relu.Lookup(offsetAll(api, x, 128)...)
		case *runtime.LUT:
			t := logderivlookup.New(api)
			for j := range 256 {
				t.Insert(p[a.tables[i]+j])
			}
			x = t.Lookup(offsetAll(api, x, 128)...)
		case *runtime.Reshape:
		default:
			return fmt.Errorf("%w: %s", ErrUnsupported, l.Kind())
		}
	}
	if len(x) != len(c.Output) {
		return fmt.Errorf("zkml: %d outputs computed, %d declared", len(x), len(c.Output))
	}
	for i := range x {
		api.AssertIsEqual(x[i], c.Output[i])
	}
	return nil
}

func offsetAll(api frontend.API, x []frontend.Variable, off int) []frontend.Variable {
	out := make([]frontend.Variable, len(x))
	for i := range x {
		out[i] = api.Add(x[i], off)
	}
	return out
}

// packCircuit is packNative over variables (already offset to be
// non-negative): linear combinations, so free in R1CS. The caller
// range-checks every value.
func packCircuit(api frontend.API, vals []frontend.Variable, kinds []paramKind) []frontend.Variable {
	out := make([]frontend.Variable, 0, packedLen(kinds))
	var acc frontend.Variable = 0
	used := 0
	for i, v := range vals {
		w := kinds[i].width()
		if used+w > packBits {
			out = append(out, acc)
			acc, used = 0, 0
		}
		acc = api.Add(acc, api.Mul(v, new(big.Int).Lsh(big.NewInt(1), uint(used))))
		used += w
	}
	if used > 0 {
		out = append(out, acc)
	}
	return out
}

// laneBits is the width of one lane of a packed accumulator for a dot product
// of fan-in n over int8 values: |Σ w·x| ≤ n·2^14 < 2^(k−1).
func laneBits(n int) int { return bits.Len(uint(n)<<14) + 1 }

// lanes is how many k-bit lanes fit a field element with room for the sign:
// a balanced base-2^k number of that many digits stays below 2^251.
func lanes(k int) int { return 252 / k }

// dots computes the dot products Σ_i w[o][i]·x[i] for a group of outputs
// with one multiplication per input: the weights of the group are packed
// into one field element per input at k-bit spacing, the products summed,
// and the sum split back into lanes by a hint whose digits are range-checked
// (a balanced base-2^k representation below the field's half is unique).
// w(o, i) returns the weight variable, or nil where there is none.
func (b *builder) dots(nOut int, terms []frontend.Variable, w func(o, t int) frontend.Variable, fanIn int) []frontend.Variable {
	api := b.api
	k := laneBits(fanIn)
	L := lanes(k)
	out := make([]frontend.Variable, 0, nOut)
	for o0 := 0; o0 < nOut; o0 += L {
		g := min(L, nOut-o0)
		var sum frontend.Variable = 0
		for t, xt := range terms {
			if xt == nil {
				continue
			}
			var p frontend.Variable = 0
			for j := range g {
				if wv := w(o0+j, t); wv != nil {
					p = api.Add(p, api.Mul(wv, new(big.Int).Lsh(big.NewInt(1), uint(k*j))))
				}
			}
			sum = api.Add(sum, api.Mul(p, xt))
		}
		if g == 1 {
			out = append(out, sum)
			continue
		}
		digits, err := api.Compiler().NewHint(lanesHint, g, k, sum)
		if err != nil {
			panic(err)
		}
		var back frontend.Variable = 0
		for j, d := range digits {
			b.rc.Check(api.Add(d, new(big.Int).Lsh(big.NewInt(1), uint(k-1))), k)
			back = api.Add(back, api.Mul(d, new(big.Int).Lsh(big.NewInt(1), uint(k*j))))
		}
		api.AssertIsEqual(back, sum)
		out = append(out, digits...)
	}
	return out
}

func (b *builder) dense(l *runtime.Dense, lay affineLayout, p []frontend.Variable, x []frontend.Variable) []frontend.Variable {
	acc := b.dots(l.Out, x, func(o, i int) frontend.Variable { return p[lay.w+o*l.In+i] }, l.In)
	y := make([]frontend.Variable, l.Out)
	for o := range y {
		y[o] = b.requant(b.api.Add(acc[o], p[lay.b+o]), lay, p, o, l.Act)
	}
	return y
}

func (b *builder) conv(l *runtime.Conv2D, lay affineLayout, p []frontend.Variable, in, out runtime.Shape, x []frontend.Variable) []frontend.Variable {
	H, W, OH, OW := in[1], in[2], out[1], out[2]
	fan := l.InC * l.KH * l.KW
	y := make([]frontend.Variable, out.Size())
	terms := make([]frontend.Variable, fan)
	for oy := range OH {
		for ox := range OW {
			// terms[t], t = (ic·KH + ky)·KW + kx: the input under the
			// kernel, nil in the zero padding.
			for ic := range l.InC {
				for ky := range l.KH {
					for kx := range l.KW {
						t := (ic*l.KH+ky)*l.KW + kx
						iy, ix := oy*l.StrideH+ky-l.PadTop, ox*l.StrideW+kx-l.PadLeft
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							terms[t] = nil
						} else {
							terms[t] = x[(ic*H+iy)*W+ix]
						}
					}
				}
			}
			acc := b.dots(l.OutC, terms, func(oc, t int) frontend.Variable { return p[lay.w+oc*fan+t] }, fan)
			for oc := range l.OutC {
				y[(oc*OH+oy)*OW+ox] = b.requant(b.api.Add(acc[oc], p[lay.b+oc]), lay, p, oc, l.Act)
			}
		}
	}
	return y
}

// requant is y = clamp(floor((acc·M + R) / 2^S), lo, 127) with R = 2^(S−1)
// (0 when S = 0): the runtime's Fixed.Scale and saturation. A hint gives y;
// the constraints pin it: y in [lo, 127], acc·M + R ≥ y·2^S unless y = lo,
// and acc·M + R < (y+1)·2^S unless y = 127. Every quantity is an integer far
// below the field order, so the range checks decide the inequalities.
func (b *builder) requant(acc frontend.Variable, lay affineLayout, p []frontend.Variable, ch int, act runtime.Activation) frontend.Variable {
	api := b.api
	if lay.nReq == 1 {
		ch = 0
	}
	key := lay.s + ch
	ps, ok := b.reqCh[key]
	if !ok {
		s := p[lay.s+ch]
		ps = [2]frontend.Variable{b.pow.Lookup(s)[0], b.half.Lookup(s)[0]}
		b.reqCh[key] = ps
	}
	pow, half := ps[0], ps[1]
	v := api.Add(api.Mul(acc, p[lay.m+ch]), half)
	lo, loBits := -128, 8
	if act == runtime.ActRelu {
		lo, loBits = 0, 7
	}
	r, err := api.Compiler().NewHint(requantHint, 1, v, pow, lo)
	if err != nil {
		panic(err)
	}
	y := r[0]
	b.rc.Check(api.Sub(y, lo), loBits)
	isLo := api.IsZero(api.Sub(y, lo))
	isHi := api.IsZero(api.Sub(y, 127))
	yp := api.Mul(y, pow)
	e1 := api.Sub(v, yp)
	e2 := api.Sub(api.Add(yp, pow), api.Add(v, 1))
	b.rc.Check(api.Mul(api.Sub(1, isLo), e1), 64)
	b.rc.Check(api.Mul(api.Sub(1, isHi), e2), 64)
	return y
}

// window returns the values of x inside pooling window (c, oy, ox).
func window(p *runtime.Pool, in runtime.Shape, x []frontend.Variable, c, oy, ox int) []frontend.Variable {
	H, W := in[1], in[2]
	var vals []frontend.Variable
	for ky := range p.KH {
		for kx := range p.KW {
			iy, ix := oy*p.StrideH+ky-p.PadTop, ox*p.StrideW+kx-p.PadLeft
			if iy >= 0 && iy < H && ix >= 0 && ix < W {
				vals = append(vals, x[(c*H+iy)*W+ix])
			}
		}
	}
	return vals
}

// maxPool: the hint's m is at least every value (differences in [0, 256))
// and equal to one of them (the product of differences is zero).
func (b *builder) maxPool(p *runtime.Pool, in, out runtime.Shape, x []frontend.Variable) []frontend.Variable {
	api := b.api
	y := make([]frontend.Variable, out.Size())
	for c := range out[0] {
		for oy := range out[1] {
			for ox := range out[2] {
				vals := window(p, in, x, c, oy, ox)
				var m frontend.Variable
				if len(vals) == 1 {
					m = vals[0]
				} else {
					r, err := api.Compiler().NewHint(maxHint, 1, vals...)
					if err != nil {
						panic(err)
					}
					m = r[0]
					var prod frontend.Variable = 1
					for _, v := range vals {
						d := api.Sub(m, v)
						b.rc.Check(d, 8)
						prod = api.Mul(prod, d)
					}
					api.AssertIsEqual(prod, 0)
				}
				y[(c*out[1]+oy)*out[2]+ox] = m
			}
		}
	}
	return y
}

// avgPool: y = floor((2·sum + n) / 2n), pinned by 0 ≤ 2·sum + n − 2n·y < 2n.
func (b *builder) avgPool(l *runtime.AvgPool, in, out runtime.Shape, x []frontend.Variable) []frontend.Variable {
	api := b.api
	y := make([]frontend.Variable, out.Size())
	for c := range out[0] {
		for oy := range out[1] {
			for ox := range out[2] {
				vals := window(&l.Pool, in, x, c, oy, ox)
				n := len(vals)
				if l.CountIncludePad {
					n = l.KH * l.KW
				}
				var sum frontend.Variable = 0
				for _, v := range vals {
					sum = api.Add(sum, v)
				}
				r, err := api.Compiler().NewHint(avgHint, 1, sum, n)
				if err != nil {
					panic(err)
				}
				e := api.Sub(api.Add(api.Mul(sum, 2), n), api.Mul(r[0], 2*n))
				nb := bits.Len(uint(2*n - 1))
				b.rc.Check(e, nb)
				if 2*n != 1<<nb {
					b.rc.Check(api.Sub(2*n-1, e), nb)
				}
				y[(c*out[1]+oy)*out[2]+ox] = r[0]
			}
		}
	}
	return y
}
