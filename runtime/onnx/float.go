package onnx

import (
	"fmt"
	"math"

	vairt "github.com/vai-dev/vai/runtime"
)

// Shapes returns the input shape followed by every layer's output shape, for
// a graph that passes Validate.
func (g *Graph) Shapes() []vairt.Shape {
	shapes := []vairt.Shape{g.Input}
	s := g.Input
	for _, l := range g.Layers {
		switch l := l.(type) {
		case *Dense:
			s = vairt.Shape{l.Out}
		case *Conv:
			oh, ow := outHW(l.Pool, s[1], s[2])
			s = vairt.Shape{l.OutC, oh, ow}
		case *MaxPool:
			oh, ow := outHW(l.Pool, s[1], s[2])
			s = vairt.Shape{s[0], oh, ow}
		case *AvgPool:
			oh, ow := outHW(l.Pool, s[1], s[2])
			s = vairt.Shape{s[0], oh, ow}
		case *Reshape:
			s = l.Shape
		}
		shapes = append(shapes, s)
	}
	return shapes
}

// Run executes the graph in float32 (accumulating in float64) on n samples
// and returns the outputs. It is the float reference the int8 model is
// compared with.
func (g *Graph) Run(x []float32, n int) ([]float32, error) {
	outs, err := g.run(x, n, nil)
	return outs, err
}

// run executes the graph; if observe is set it is called with every layer's
// output (index i is layer i's output) for calibration.
func (g *Graph) run(x []float32, n int, observe func(i int, y []float32)) ([]float32, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	shapes := g.Shapes()
	isz := g.Input.Size()
	if n < 0 || len(x) != n*isz {
		return nil, fmt.Errorf("%w: %d values for %d samples of %v", vairt.ErrShape, len(x), n, g.Input)
	}
	var out []float32
	for s := range n {
		v := x[s*isz : (s+1)*isz]
		for i, l := range g.Layers {
			v = floatLayer(l, shapes[i], shapes[i+1], v)
			if observe != nil {
				observe(i, v)
			}
		}
		out = append(out, v...)
	}
	return out, nil
}

func floatLayer(l Layer, in, out vairt.Shape, x []float32) []float32 {
	y := make([]float32, out.Size())
	switch l := l.(type) {
	case *Dense:
		for o := range l.Out {
			acc := float64(l.B[o])
			for i, w := range l.W[o*l.In : (o+1)*l.In] {
				acc += float64(float64(w) * float64(x[i])) // no FMA: import must be reproducible
			}
			y[o] = relu(float32(acc), l.Relu)
		}
	case *Conv:
		H, W, OH, OW := in[1], in[2], out[1], out[2]
		for oc := range l.OutC {
			for oy := range OH {
				for ox := range OW {
					acc := float64(l.B[oc])
					for ic := range l.InC {
						for ky := range l.KH {
							iy := oy*l.StrideH + ky - l.PadTop
							if iy < 0 || iy >= H {
								continue
							}
							for kx := range l.KW {
								ix := ox*l.StrideW + kx - l.PadLeft
								if ix < 0 || ix >= W {
									continue
								}
								acc += float64(float64(l.W[((oc*l.InC+ic)*l.KH+ky)*l.KW+kx]) * float64(x[(ic*H+iy)*W+ix]))
							}
						}
					}
					y[(oc*OH+oy)*OW+ox] = relu(float32(acc), l.Relu)
				}
			}
		}
	case *MaxPool:
		floatPool(l.Pool, in, out, x, y, func(sum float64, mx float32, n, _ int) float32 { return mx })
	case *AvgPool:
		floatPool(l.Pool, in, out, x, y, func(sum float64, _ float32, n, full int) float32 {
			if l.CountIncludePad {
				n = full
			}
			return float32(sum / float64(n))
		})
	case *Relu:
		for i, v := range x {
			y[i] = relu(v, true)
		}
	case *Sigmoid:
		for i, v := range x {
			y[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case *Tanh:
		for i, v := range x {
			y[i] = float32(math.Tanh(float64(v)))
		}
	case *Reshape:
		copy(y, x)
	}
	return y
}

func relu(v float32, on bool) float32 {
	if on && v < 0 {
		return 0
	}
	return v
}

func floatPool(p vairt.Pool, in, out vairt.Shape, x, y []float32, f func(sum float64, mx float32, n, full int) float32) {
	C, H, W, OH, OW := in[0], in[1], in[2], out[1], out[2]
	for c := range C {
		for oy := range OH {
			for ox := range OW {
				var sum float64
				mx := float32(math.Inf(-1))
				n := 0
				for ky := range p.KH {
					for kx := range p.KW {
						iy, ix := oy*p.StrideH+ky-p.PadTop, ox*p.StrideW+kx-p.PadLeft
						if iy >= 0 && iy < H && ix >= 0 && ix < W {
							v := x[(c*H+iy)*W+ix]
							sum += float64(v)
							mx = max(mx, v)
							n++
						}
					}
				}
				y[(c*OH+oy)*OW+ox] = f(sum, mx, n, p.KH*p.KW)
			}
		}
	}
}

// Validate checks that the layers chain and their parameters have the sizes
// their dimensions say (Load only makes such graphs; Run and Quantize check
// graphs built by hand).
func (g *Graph) Validate() error {
	s := g.Input
	if len(s) == 0 || len(s) > 4 || s.Size() < 1 || s.Size() > 1<<24 {
		return fmt.Errorf("%w: input shape %v", ErrUnsupported, s)
	}
	if len(g.Layers) == 0 {
		return fmt.Errorf("%w: no layers", ErrUnsupported)
	}
	for i, l := range g.Layers {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: layer %d (%s): %s", ErrUnsupported, i, l.Kind(), fmt.Sprintf(format, args...))
		}
		window := func(p vairt.Pool) (int, int, error) {
			if len(s) != 3 {
				return 0, 0, bad("input %v is not [C H W]", s)
			}
			if _, err := (&vairt.MaxPool{Pool: p}).OutShape(s); err != nil {
				return 0, 0, bad("%v", err)
			}
			oh, ow := outHW(p, s[1], s[2])
			return oh, ow, nil
		}
		switch l := l.(type) {
		case *Dense:
			if len(s) != 1 || s[0] != l.In || l.Out < 1 || len(l.W) != l.In*l.Out || len(l.B) != l.Out {
				return bad("%d→%d with %d weights and %d biases on input %v", l.In, l.Out, len(l.W), len(l.B), s)
			}
			s = vairt.Shape{l.Out}
		case *Conv:
			oh, ow, err := window(l.Pool)
			if err != nil {
				return err
			}
			if s[0] != l.InC || l.OutC < 1 || len(l.W) != l.OutC*l.InC*l.KH*l.KW || len(l.B) != l.OutC {
				return bad("%d→%d channels with %d weights and %d biases on input %v", l.InC, l.OutC, len(l.W), len(l.B), s)
			}
			s = vairt.Shape{l.OutC, oh, ow}
		case *MaxPool:
			oh, ow, err := window(l.Pool)
			if err != nil {
				return err
			}
			s = vairt.Shape{s[0], oh, ow}
		case *AvgPool:
			oh, ow, err := window(l.Pool)
			if err != nil {
				return err
			}
			s = vairt.Shape{s[0], oh, ow}
		case *Reshape:
			if len(l.Shape) == 0 || len(l.Shape) > 4 || l.Shape.Size() != s.Size() {
				return bad("reshape %v to %v", s, l.Shape)
			}
			s = l.Shape
		case *Relu, *Sigmoid, *Tanh:
		default:
			return bad("unknown layer type %T", l)
		}
	}
	return nil
}
