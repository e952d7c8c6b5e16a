package onnx_test

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A minimal ONNX protobuf writer for tests: enough to build small graphs
// with float initialisers.

type node struct {
	op      string
	inputs  []string
	outputs []string
	ints    map[string][]int64
	floats  map[string]float32
}

type tensor struct {
	name string
	dims []int64
	data []float32
}

func msg(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}

func bytesF(num protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func varintF(num protowire.Number, v int64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func (t tensor) encode() []byte {
	b := bytesF(8, []byte(t.name))
	for _, d := range t.dims {
		b = append(b, varintF(1, d)...)
	}
	b = append(b, varintF(2, 1)...) // FLOAT
	raw := make([]byte, 4*len(t.data))
	for i, v := range t.data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return append(b, bytesF(9, raw)...)
}

func (n node) encode() []byte {
	var b []byte
	for _, in := range n.inputs {
		b = append(b, bytesF(1, []byte(in))...)
	}
	for _, out := range n.outputs {
		b = append(b, bytesF(2, []byte(out))...)
	}
	b = append(b, bytesF(4, []byte(n.op))...)
	for name, v := range n.ints {
		a := bytesF(1, []byte(name))
		if len(v) == 1 && name != "pads" && name != "kernel_shape" && name != "strides" {
			a = append(a, varintF(3, v[0])...)
			a = append(a, varintF(20, 2)...)
		} else {
			var packed []byte
			for _, x := range v {
				packed = protowire.AppendVarint(packed, uint64(x))
			}
			a = append(a, bytesF(8, packed)...)
			a = append(a, varintF(20, 7)...)
		}
		b = append(b, bytesF(5, a)...)
	}
	for name, v := range n.floats {
		a := bytesF(1, []byte(name))
		a = protowire.AppendTag(a, 2, protowire.Fixed32Type)
		a = protowire.AppendFixed32(a, math.Float32bits(v))
		a = append(a, varintF(20, 1)...)
		b = append(b, bytesF(5, a)...)
	}
	return b
}

// valueInfo encodes a float input/output; dim 0 is the symbolic batch.
func valueInfo(name string, dims ...int64) []byte {
	shape := bytesF(1, bytesF(2, []byte("batch")))
	for _, d := range dims {
		shape = append(shape, bytesF(1, varintF(1, d))...)
	}
	tt := msg(varintF(1, 1), bytesF(2, shape))
	return msg(bytesF(1, []byte(name)), bytesF(2, bytesF(1, tt)))
}

// model encodes a model whose graph reads "x" of per-sample shape in and
// writes output out.
func model(nodes []node, inits []tensor, out string, in ...int64) []byte {
	var g []byte
	for _, n := range nodes {
		g = append(g, bytesF(1, n.encode())...)
	}
	g = append(g, bytesF(2, []byte("test"))...)
	for _, t := range inits {
		g = append(g, bytesF(5, t.encode())...)
	}
	g = append(g, bytesF(11, valueInfo("x", in...))...)
	g = append(g, bytesF(12, valueInfo(out))...)
	opset := msg(bytesF(1, nil), varintF(2, 13))
	return msg(varintF(1, 8), bytesF(2, []byte("vai-test")), bytesF(7, g), bytesF(8, opset))
}
