package runtime_test

import (
	"math/rand/v2"

	"github.com/vai-dev/vai/runtime"
)

// randRequant returns a requantisation for accumulators of typical magnitude
// 2^mag, sometimes per channel, sometimes a pure power-of-two shift.
func randRequant(r *rand.Rand, rows, mag int) runtime.Requant {
	n := 1
	if r.IntN(2) == 0 {
		n = rows
	}
	q := runtime.Requant{Mult: make([]int32, n), Shift: make([]uint8, n)}
	pow2 := r.IntN(3) == 0
	for i := range n {
		if pow2 {
			q.Mult[i], q.Shift[i] = 1, uint8(max(0, mag-5+r.IntN(3)-1))
		} else {
			q.Mult[i], q.Shift[i] = int32(1<<14+r.IntN(1<<14)), uint8(mag-5+14+r.IntN(3)-1)
		}
	}
	return q
}

func randInt8s(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(256) - 128)
	}
	return v
}

func randBias(r *rand.Rand, n int) []int32 {
	b := make([]int32, n)
	for i := range b {
		b[i] = int32(r.IntN(1<<16) - 1<<15)
	}
	return b
}

func bitsFor(v int) int {
	n := 0
	for v > 1 {
		v >>= 1
		n++
	}
	return n
}

func randAct(r *rand.Rand) runtime.Activation { return runtime.Activation(r.IntN(2)) }

func randDense(r *rand.Rand, in, out int) *runtime.Dense {
	return &runtime.Dense{In: in, Out: out, Weights: randInt8s(r, in*out), Bias: randBias(r, out),
		Requant: randRequant(r, out, 13+bitsFor(in)/2), Act: randAct(r)}
}

func randConv(r *rand.Rand, inC, outC int) *runtime.Conv2D {
	k := 1 + r.IntN(3)
	c := &runtime.Conv2D{InC: inC, OutC: outC, KH: k, KW: 1 + r.IntN(3), StrideH: 1 + r.IntN(2), StrideW: 1 + r.IntN(2)}
	c.PadTop, c.PadLeft, c.PadBottom, c.PadRight = r.IntN(c.KH), r.IntN(c.KW), r.IntN(c.KH), r.IntN(c.KW)
	kk := inC * c.KH * c.KW
	c.Weights, c.Bias, c.Requant, c.Act = randInt8s(r, outC*kk), randBias(r, outC), randRequant(r, outC, 13+bitsFor(kk)/2), randAct(r)
	return c
}

func randPool(r *rand.Rand) runtime.Pool {
	if r.IntN(3) == 0 { // the common 2×2 stride-2 pool has fast paths of its own
		return runtime.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	}
	p := runtime.Pool{KH: 1 + r.IntN(3), KW: 1 + r.IntN(3), StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3)}
	p.PadTop, p.PadLeft, p.PadBottom, p.PadRight = r.IntN(p.KH), r.IntN(p.KW), r.IntN(p.KH), r.IntN(p.KW)
	return p
}

func randLUT(r *rand.Rand) *runtime.LUT {
	l := &runtime.LUT{Name: "random"}
	copy(l.Table[:], randInt8s(r, 256))
	return l
}

// randMLP returns a random MLP with 1 to 3 dense layers and element-wise
// layers between them.
func randMLP(r *rand.Rand) *runtime.Model {
	in := 1 + r.IntN(80)
	m := &runtime.Model{Input: runtime.Shape{in}, InputScale: runtime.Fixed{Mult: 3, Shift: 1}, OutputScale: runtime.Fixed{Mult: 1, Shift: 4}}
	for range 1 + r.IntN(3) {
		out := 1 + r.IntN(40)
		m.Layers = append(m.Layers, randDense(r, in, out))
		switch r.IntN(4) {
		case 0:
			m.Layers = append(m.Layers, &runtime.Relu{})
		case 1:
			m.Layers = append(m.Layers, randLUT(r))
		}
		in = out
	}
	return m
}

// randCNN returns a random CNN: conv and pool layers on a small image, then
// a flatten and a dense layer.
func randCNN(r *rand.Rand) *runtime.Model {
	c, h, w := 1+r.IntN(3), 4+r.IntN(8), 4+r.IntN(8)
	m := &runtime.Model{Input: runtime.Shape{c, h, w}, InputScale: runtime.Fixed{Mult: 1, Shift: 0}, OutputScale: runtime.Fixed{Mult: 1, Shift: 4}}
	shape := m.Input
	for range 1 + r.IntN(3) {
		var l runtime.Layer
		switch r.IntN(4) {
		case 0, 1:
			l = randConv(r, shape[0], 1+r.IntN(9))
		case 2:
			l = &runtime.MaxPool{Pool: randPool(r)}
		case 3:
			l = &runtime.AvgPool{Pool: randPool(r), CountIncludePad: r.IntN(2) == 0}
		}
		out, err := l.OutShape(shape)
		if err != nil || out[1] < 1 || out[2] < 1 {
			continue
		}
		m.Layers = append(m.Layers, l)
		shape = out
		if r.IntN(4) == 0 {
			m.Layers = append(m.Layers, &runtime.Relu{})
		}
	}
	n := shape.Size()
	m.Layers = append(m.Layers, &runtime.Reshape{Shape: runtime.Shape{n}}, randDense(r, n, 1+r.IntN(12)))
	return m
}
