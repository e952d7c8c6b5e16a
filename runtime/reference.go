package runtime

import "fmt"

// Reference runs the model on a batch of n samples (n·Input.Size() int8
// values, sample after sample) and returns n·OutputShape().Size() int8
// outputs. It is the plain, one-loop-per-formula statement of the arithmetic
// in the package documentation: slow, obvious, and the yardstick that the
// Executor is tested against bit for bit.
func Reference(m *Model, in []int8, n int) ([]int8, error) {
	if err := m.Validate(Limits{}); err != nil {
		return nil, err
	}
	shapes, err := m.Shapes()
	if err != nil {
		return nil, err
	}
	if n < 0 || len(in) != n*m.Input.Size() {
		return nil, fmt.Errorf("%w: %d input values for %d samples of %v", ErrShape, len(in), n, m.Input)
	}
	var out []int8
	for s := 0; s < n; s++ {
		x := in[s*m.Input.Size() : (s+1)*m.Input.Size()]
		for i, l := range m.Layers {
			x = refLayer(l, shapes[i], shapes[i+1], x)
		}
		out = append(out, x...)
	}
	return out, nil
}

func refLayer(l Layer, in, out Shape, x []int8) []int8 {
	y := make([]int8, out.Size())
	switch l := l.(type) {
	case *Dense:
		for o := 0; o < l.Out; o++ {
			acc := l.Bias[o]
			for i := 0; i < l.In; i++ {
				acc += int32(l.Weights[o*l.In+i]) * int32(x[i])
			}
			y[o] = requant(acc, l.Requant.at(o), l.Act.lo())
		}
	case *Conv2D:
		H, W, OH, OW := in[1], in[2], out[1], out[2]
		for oc := 0; oc < l.OutC; oc++ {
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					acc := l.Bias[oc]
					for ic := 0; ic < l.InC; ic++ {
						for ky := 0; ky < l.KH; ky++ {
							for kx := 0; kx < l.KW; kx++ {
								iy, ix := oy*l.StrideH+ky-l.PadTop, ox*l.StrideW+kx-l.PadLeft
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue // zero padding
								}
								w := l.Weights[((oc*l.InC+ic)*l.KH+ky)*l.KW+kx]
								acc += int32(w) * int32(x[(ic*H+iy)*W+ix])
							}
						}
					}
					y[(oc*OH+oy)*OW+ox] = requant(acc, l.Requant.at(oc), l.Act.lo())
				}
			}
		}
	case *MaxPool:
		refPool(&l.Pool, in, out, x, y, func(vals []int8, _ int) int8 {
			m := vals[0]
			for _, v := range vals {
				m = max(m, v)
			}
			return m
		})
	case *AvgPool:
		refPool(&l.Pool, in, out, x, y, func(vals []int8, full int) int8 {
			var sum int64
			for _, v := range vals {
				sum += int64(v)
			}
			n := int64(len(vals))
			if l.CountIncludePad {
				n = int64(full)
			}
			return int8(divRoundHalfUp(sum, n))
		})
	case *Relu:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case *LUT:
		for i, v := range x {
			y[i] = l.Table[int(v)+128]
		}
	case *Reshape:
		copy(y, x)
	}
	return y
}

// refPool calls f on the in-bounds values of every window (full = KH·KW).
func refPool(p *Pool, in, out Shape, x, y []int8, f func(vals []int8, full int) int8) {
	C, H, W, OH, OW := in[0], in[1], in[2], out[1], out[2]
	vals := make([]int8, 0, p.KH*p.KW)
	for c := 0; c < C; c++ {
		for oy := 0; oy < OH; oy++ {
			for ox := 0; ox < OW; ox++ {
				vals = vals[:0]
				for ky := 0; ky < p.KH; ky++ {
					for kx := 0; kx < p.KW; kx++ {
						iy, ix := oy*p.StrideH+ky-p.PadTop, ox*p.StrideW+kx-p.PadLeft
						if iy >= 0 && iy < H && ix >= 0 && ix < W {
							vals = append(vals, x[(c*H+iy)*W+ix])
						}
					}
				}
				y[(c*OH+oy)*OW+ox] = f(vals, p.KH*p.KW)
			}
		}
	}
}
