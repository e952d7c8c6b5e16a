package onnx

import (
	"fmt"
	"math"
	"strconv"

	vairt "github.com/vai-dev/vai/runtime"
)

// QuantConfig configures Quantize.
type QuantConfig struct {
	// PowerOfTwo rounds every scale to a power of two, so that every
	// requantisation is a pure shift (multiplier 1). Otherwise each output
	// channel gets a 31-bit fixed-point multiplier and a shift.
	PowerOfTwo bool
}

// Quantize turns g into an int8 runtime.Model, calibrating activation ranges
// on n samples of calib (float inputs, sample after sample):
//
//   - the input scale is max|x|/127 over the calibration inputs;
//   - weights get one symmetric scale per output channel, max|W[c]|/127
//     (values in [−127, 127]), biases the scale s_in·s_w[c] in int32;
//   - each Dense/Conv output gets the scale max|y|/127 of its float output
//     (after a fused ReLU) on the calibration data, and the requantisation
//     multiplier s_in·s_w[c]/s_out as a Fixed;
//   - pools, ReLU and reshapes keep their input's scale; sigmoid and tanh
//     become 256-entry tables with output scale 1/127.
//
// Calibration inputs must be finite.
func Quantize(g *Graph, calib []float32, n int, cfg QuantConfig) (*vairt.Model, error) {
	if n < 1 {
		return nil, fmt.Errorf("calibration needs at least one sample")
	}
	for i, v := range calib {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("calibration value %d is %v", i, v)
		}
	}
	maxIn := maxAbs(calib)
	maxOut := make([]float64, len(g.Layers))
	_, err := g.run(calib, n, func(i int, y []float32) {
		maxOut[i] = max(maxOut[i], maxAbs(y))
	})
	if err != nil {
		return nil, err
	}
	q := quantizer{cfg: cfg}
	inScale := q.scale(maxIn)
	m := &vairt.Model{Input: g.Input, Meta: map[string]string{}}
	for k, v := range g.Meta {
		m.Meta[k] = v
	}
	m.Meta["quant.calibration_samples"] = strconv.Itoa(n)
	m.Meta["quant.scheme"] = "symmetric int8, per-channel weights, fixed-point requantisation"
	if cfg.PowerOfTwo {
		m.Meta["quant.scheme"] = "symmetric int8, power-of-two scales, shift requantisation"
	}
	// The input multiplier is 1/s_in; the scale the rest of the model sees
	// is the one that multiplier really implements.
	m.InputScale, err = toFixed(1 / inScale)
	if err != nil {
		return nil, fmt.Errorf("input scale: %v", err)
	}
	s := 1 / m.InputScale.Float()
	for i, l := range g.Layers {
		var ly vairt.Layer
		switch l := l.(type) {
		case *Dense:
			var outScale float64
			d := &vairt.Dense{In: l.In, Out: l.Out, Act: act(l.Relu)}
			d.Weights, d.Bias, d.Requant, outScale, err = q.affine(l.W, l.B, l.Out, s, maxOut[i])
			ly, s = d, outScale
		case *Conv:
			var outScale float64
			c := &vairt.Conv2D{InC: l.InC, OutC: l.OutC, KH: l.KH, KW: l.KW, StrideH: l.StrideH, StrideW: l.StrideW,
				PadTop: l.PadTop, PadLeft: l.PadLeft, PadBottom: l.PadBottom, PadRight: l.PadRight, Act: act(l.Relu)}
			c.Weights, c.Bias, c.Requant, outScale, err = q.affine(l.W, l.B, l.OutC, s, maxOut[i])
			ly, s = c, outScale
		case *MaxPool:
			ly = &vairt.MaxPool{Pool: l.Pool}
		case *AvgPool:
			ly = &vairt.AvgPool{Pool: l.Pool, CountIncludePad: l.CountIncludePad}
		case *Relu:
			ly = &vairt.Relu{}
		case *Sigmoid:
			ly, s = lut("sigmoid", s, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }), 1.0/127
		case *Tanh:
			ly, s = lut("tanh", s, math.Tanh), 1.0/127
		case *Reshape:
			ly = &vairt.Reshape{Shape: l.Shape}
		default:
			err = fmt.Errorf("unknown layer %T", l)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %v", i, l.Kind(), err)
		}
		m.Layers = append(m.Layers, ly)
	}
	if m.OutputScale, err = toFixed(s); err != nil {
		return nil, fmt.Errorf("output scale: %v", err)
	}
	if err := m.Validate(vairt.Limits{}); err != nil {
		return nil, err
	}
	return m, nil
}

func act(relu bool) vairt.Activation {
	if relu {
		return vairt.ActRelu
	}
	return vairt.ActNone
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

type quantizer struct{ cfg QuantConfig }

// scale returns the scale that maps max|x| to 127 (a power of two at least
// that large in PowerOfTwo mode).
func (q quantizer) scale(maxAbs float64) float64 {
	if maxAbs == 0 || math.IsNaN(maxAbs) || math.IsInf(maxAbs, 0) {
		maxAbs = 1
	}
	s := maxAbs / 127
	if q.cfg.PowerOfTwo {
		s = math.Exp2(math.Ceil(math.Log2(s)))
	}
	return s
}

// affine quantises the weights and biases of rows output channels for
// input scale sIn and calibrated output magnitude maxOut.
func (q quantizer) affine(w, b []float32, rows int, sIn, maxOut float64) ([]int8, []int32, vairt.Requant, float64, error) {
	k := len(w) / rows
	sOut := q.scale(maxOut)
	wq := make([]int8, len(w))
	bq := make([]int32, rows)
	r := vairt.Requant{Mult: make([]int32, rows), Shift: make([]uint8, rows)}
	for c := range rows {
		row := w[c*k : (c+1)*k]
		for _, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, r, 0, fmt.Errorf("weight %v", v)
			}
		}
		sw := q.scale(maxAbs(row))
		for i, v := range row {
			wq[c*k+i] = int8(max(-127, min(127, math.Round(float64(v)/sw))))
		}
		bv := math.Round(float64(b[c]) / (sIn * sw))
		if math.IsNaN(bv) || math.Abs(bv) > 1<<30 {
			return nil, nil, r, 0, fmt.Errorf("bias %v of channel %d cannot be quantised at scale %g", b[c], c, sIn*sw)
		}
		bq[c] = int32(bv)
		f, err := toFixed(sIn * sw / sOut)
		if err != nil {
			return nil, nil, r, 0, fmt.Errorf("channel %d: %v", c, err)
		}
		r.Mult[c], r.Shift[c] = f.Mult, f.Shift
	}
	return wq, bq, r, sOut, nil
}

// toFixed returns the Fixed M/2^S closest to v with M as large as 31 bits
// allow (exact for powers of two: M = 1).
func toFixed(v float64) (vairt.Fixed, error) {
	if !(v > 0) || math.IsInf(v, 0) {
		return vairt.Fixed{}, fmt.Errorf("scale %v is not a positive number", v)
	}
	frac, exp := math.Frexp(v) // v = frac·2^exp, frac in [0.5, 1)
	if frac == 0.5 {           // a power of two
		if exp-1 >= 0 {
			if exp-1 > 30 {
				return vairt.Fixed{}, fmt.Errorf("scale %v too large", v)
			}
			return vairt.Fixed{Mult: 1 << (exp - 1)}, nil
		}
		if 1-exp > vairt.MaxShift {
			return vairt.Fixed{}, fmt.Errorf("scale %v too small", v)
		}
		return vairt.Fixed{Mult: 1, Shift: uint8(1 - exp)}, nil
	}
	shift := 31 - exp
	if shift < 0 {
		return vairt.Fixed{}, fmt.Errorf("scale %v too large", v)
	}
	if shift > vairt.MaxShift {
		shift = vairt.MaxShift
	}
	m := math.Round(math.Ldexp(v, shift))
	for m >= 1<<31 && shift > 0 {
		shift--
		m = math.Round(math.Ldexp(v, shift))
	}
	if m < 1 {
		return vairt.Fixed{}, fmt.Errorf("scale %v too small", v)
	}
	return vairt.Fixed{Mult: int32(m), Shift: uint8(shift)}, nil
}

// lut builds the table of f for inputs at scale sIn and outputs at 1/127.
func lut(name string, sIn float64, f func(float64) float64) *vairt.LUT {
	l := &vairt.LUT{Name: name}
	for i := range l.Table {
		y := math.Round(f(float64(i-128)*sIn) * 127)
		l.Table[i] = int8(max(-127, min(127, y)))
	}
	return l
}
