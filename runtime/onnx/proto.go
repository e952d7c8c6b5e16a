package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The ONNX protobuf messages, decoded by hand with protowire: only the fields
// the importer needs are kept, unknown fields are skipped, sub-graphs (If,
// Loop bodies) are never descended into, and every count and size is bounded
// before allocation. Field numbers are those of onnx/onnx.proto (IR version 8).

type modelProto struct {
	irVersion int64
	producer  string
	opsets    []opsetID
	graph     *graphProto
}

type opsetID struct {
	domain  string
	version int64
}

type graphProto struct {
	name    string
	nodes   []*nodeProto
	inits   []*tensorProto
	inputs  []*valueInfo
	outputs []*valueInfo
}

type nodeProto struct {
	inputs, outputs      []string
	name, opType, domain string
	attrs                []*attrProto
}

type attrProto struct {
	name   string
	typ    int64
	f      float32
	i      int64
	s      []byte
	t      *tensorProto
	floats []float32
	ints   []int64
}

type tensorProto struct {
	name       string
	dims       []int64
	dataType   int64
	floatData  []float32
	int32Data  []int32
	int64Data  []int64
	doubleData []float64
	rawData    []byte
	external   bool
}

// Tensor element types (TensorProto.DataType).
const (
	dtFloat  = 1
	dtUint8  = 2
	dtInt8   = 3
	dtInt32  = 6
	dtInt64  = 7
	dtDouble = 11
)

type valueInfo struct {
	name     string
	elemType int64
	dims     []dim
	hasShape bool
}

type dim struct {
	value int64
	param string
}

// ErrFormat is wrapped by errors for bytes that are not a well-formed ONNX
// model.
var ErrFormat = errors.New("malformed onnx")

// Limits bound what the importer accepts.
type Limits struct {
	MaxBytes    int64 // size of the .onnx file
	MaxElements int64 // elements of any one tensor, and of all initialisers together
	MaxNodes    int
}

// DefaultLimits suit the MLPs and small CNNs the runtime is for.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxElements: 64 << 20, MaxNodes: 10000}

type pdec struct {
	lim      Limits
	elements int64 // running total of tensor elements
	nodes    int
}

// fields calls f for each field of msg; f consumes the value from b and
// returns the remaining bytes.
func fields(msg []byte, f func(num protowire.Number, typ protowire.Type, b []byte) (int, error)) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: bad tag: %v", ErrFormat, protowire.ParseError(n))
		}
		msg = msg[n:]
		used, err := f(num, typ, msg)
		if err != nil {
			return err
		}
		if used == 0 { // not consumed by f: skip
			used = protowire.ConsumeFieldValue(num, typ, msg)
			if used < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrFormat, num, protowire.ParseError(used))
			}
		}
		msg = msg[used:]
	}
	return nil
}

func bytesField(typ protowire.Type, b []byte) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, fmt.Errorf("%w: expected length-delimited field, got wire type %d", ErrFormat, typ)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, fmt.Errorf("%w: %v", ErrFormat, protowire.ParseError(n))
	}
	return v, n, nil
}

func varintField(typ protowire.Type, b []byte) (int64, int, error) {
	if typ != protowire.VarintType {
		return 0, 0, fmt.Errorf("%w: expected varint field, got wire type %d", ErrFormat, typ)
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, fmt.Errorf("%w: %v", ErrFormat, protowire.ParseError(n))
	}
	return int64(v), n, nil
}

func (d *pdec) count(n int64) error {
	d.elements += n
	if n < 0 || n > d.lim.MaxElements || d.elements > d.lim.MaxElements {
		return fmt.Errorf("%w: more than %d tensor elements", ErrTooLarge, d.lim.MaxElements)
	}
	return nil
}

// repeatedVarints reads a packed or unpacked repeated varint field.
func (d *pdec) repeatedVarints(dst *[]int64, typ protowire.Type, b []byte) (int, error) {
	if typ == protowire.VarintType {
		v, n, err := varintField(typ, b)
		if err != nil {
			return 0, err
		}
		if err := d.count(1); err != nil {
			return 0, err
		}
		*dst = append(*dst, v)
		return n, nil
	}
	p, n, err := bytesField(typ, b)
	if err != nil {
		return 0, err
	}
	for len(p) > 0 {
		v, m := protowire.ConsumeVarint(p)
		if m < 0 {
			return 0, fmt.Errorf("%w: packed varint: %v", ErrFormat, protowire.ParseError(m))
		}
		if err := d.count(1); err != nil {
			return 0, err
		}
		*dst = append(*dst, int64(v))
		p = p[m:]
	}
	return n, nil
}

// repeatedFixed32 reads a packed or unpacked repeated float field.
func (d *pdec) repeatedFloats(dst *[]float32, typ protowire.Type, b []byte) (int, error) {
	if typ == protowire.Fixed32Type {
		v, n := protowire.ConsumeFixed32(b)
		if n < 0 {
			return 0, fmt.Errorf("%w: %v", ErrFormat, protowire.ParseError(n))
		}
		if err := d.count(1); err != nil {
			return 0, err
		}
		*dst = append(*dst, math.Float32frombits(v))
		return n, nil
	}
	p, n, err := bytesField(typ, b)
	if err != nil {
		return 0, err
	}
	if len(p)%4 != 0 {
		return 0, fmt.Errorf("%w: packed floats of %d bytes", ErrFormat, len(p))
	}
	if err := d.count(int64(len(p) / 4)); err != nil {
		return 0, err
	}
	for i := 0; i < len(p); i += 4 {
		*dst = append(*dst, math.Float32frombits(binary.LittleEndian.Uint32(p[i:])))
	}
	return n, nil
}

func (d *pdec) repeatedDoubles(dst *[]float64, typ protowire.Type, b []byte) (int, error) {
	if typ == protowire.Fixed64Type {
		v, n := protowire.ConsumeFixed64(b)
		if n < 0 {
			return 0, fmt.Errorf("%w: %v", ErrFormat, protowire.ParseError(n))
		}
		if err := d.count(1); err != nil {
			return 0, err
		}
		*dst = append(*dst, math.Float64frombits(v))
		return n, nil
	}
	p, n, err := bytesField(typ, b)
	if err != nil {
		return 0, err
	}
	if len(p)%8 != 0 {
		return 0, fmt.Errorf("%w: packed doubles of %d bytes", ErrFormat, len(p))
	}
	if err := d.count(int64(len(p) / 8)); err != nil {
		return 0, err
	}
	for i := 0; i < len(p); i += 8 {
		*dst = append(*dst, math.Float64frombits(binary.LittleEndian.Uint64(p[i:])))
	}
	return n, nil
}

func (d *pdec) model(b []byte) (*modelProto, error) {
	m := &modelProto{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			v, n, err := varintField(typ, b)
			m.irVersion = v
			return n, err
		case 2:
			v, n, err := bytesField(typ, b)
			m.producer = string(v)
			return n, err
		case 7:
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			if m.graph != nil {
				return 0, fmt.Errorf("%w: two graphs", ErrFormat)
			}
			m.graph, err = d.graph(v)
			return n, err
		case 8:
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			var o opsetID
			err = fields(v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
				switch num {
				case 1:
					v, n, err := bytesField(typ, b)
					o.domain = string(v)
					return n, err
				case 2:
					v, n, err := varintField(typ, b)
					o.version = v
					return n, err
				}
				return 0, nil
			})
			if len(m.opsets) > 100 {
				return 0, fmt.Errorf("%w: too many opset imports", ErrFormat)
			}
			m.opsets = append(m.opsets, o)
			return n, err
		}
		return 0, nil
	})
	if err != nil {
		return nil, err
	}
	if m.graph == nil {
		return nil, fmt.Errorf("%w: no graph", ErrFormat)
	}
	return m, nil
}

func (d *pdec) graph(b []byte) (*graphProto, error) {
	g := &graphProto{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num != 1 && num != 2 && num != 5 && num != 11 && num != 12 {
			return 0, nil
		}
		v, n, err := bytesField(typ, b)
		if err != nil {
			return 0, err
		}
		switch num {
		case 1:
			d.nodes++
			if d.nodes > d.lim.MaxNodes {
				return 0, fmt.Errorf("%w: more than %d nodes", ErrTooLarge, d.lim.MaxNodes)
			}
			nd, err := d.node(v)
			g.nodes = append(g.nodes, nd)
			return n, err
		case 2:
			g.name = string(v)
		case 5:
			t, err := d.tensor(v)
			g.inits = append(g.inits, t)
			return n, err
		case 11, 12:
			if len(g.inputs)+len(g.outputs) > d.lim.MaxNodes {
				return 0, fmt.Errorf("%w: too many graph inputs and outputs", ErrTooLarge)
			}
			vi, err := valueInfoOf(v)
			if num == 11 {
				g.inputs = append(g.inputs, vi)
			} else {
				g.outputs = append(g.outputs, vi)
			}
			return n, err
		}
		return n, nil
	})
	return g, err
}

func (d *pdec) node(b []byte) (*nodeProto, error) {
	nd := &nodeProto{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 2, 3, 4, 7:
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			switch num {
			case 1:
				nd.inputs = append(nd.inputs, string(v))
			case 2:
				nd.outputs = append(nd.outputs, string(v))
			case 3:
				nd.name = string(v)
			case 4:
				nd.opType = string(v)
			case 7:
				nd.domain = string(v)
			}
			if len(nd.inputs)+len(nd.outputs) > 1000 {
				return 0, fmt.Errorf("%w: node with too many inputs or outputs", ErrFormat)
			}
			return n, nil
		case 5:
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			if len(nd.attrs) > 1000 {
				return 0, fmt.Errorf("%w: node with too many attributes", ErrFormat)
			}
			a, err := d.attr(v)
			nd.attrs = append(nd.attrs, a)
			return n, err
		}
		return 0, nil
	})
	return nd, err
}

func (d *pdec) attr(b []byte) (*attrProto, error) {
	a := &attrProto{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 4:
			v, n, err := bytesField(typ, b)
			if num == 1 {
				a.name = string(v)
			} else {
				a.s = v
			}
			return n, err
		case 2:
			if typ != protowire.Fixed32Type {
				return 0, fmt.Errorf("%w: attribute float of wire type %d", ErrFormat, typ)
			}
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return 0, fmt.Errorf("%w: %v", ErrFormat, protowire.ParseError(n))
			}
			a.f = math.Float32frombits(v)
			return n, nil
		case 3, 20:
			v, n, err := varintField(typ, b)
			if num == 3 {
				a.i = v
			} else {
				a.typ = v
			}
			return n, err
		case 5:
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			a.t, err = d.tensor(v)
			return n, err
		case 7:
			return d.repeatedFloats(&a.floats, typ, b)
		case 8:
			return d.repeatedVarints(&a.ints, typ, b)
		}
		return 0, nil // graphs, strings, sparse tensors, type protos: skipped
	})
	return a, err
}

func (d *pdec) tensor(b []byte) (*tensorProto, error) {
	t := &tensorProto{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			if len(t.dims) > 16 {
				return 0, fmt.Errorf("%w: tensor of rank over 16", ErrFormat)
			}
			return d.repeatedVarints(&t.dims, typ, b)
		case 2:
			v, n, err := varintField(typ, b)
			t.dataType = v
			return n, err
		case 4:
			return d.repeatedFloats(&t.floatData, typ, b)
		case 5, 7:
			var v []int64
			n, err := d.repeatedVarints(&v, typ, b)
			if num == 7 {
				t.int64Data = append(t.int64Data, v...)
			} else {
				for _, x := range v {
					t.int32Data = append(t.int32Data, int32(x))
				}
			}
			return n, err
		case 8:
			v, n, err := bytesField(typ, b)
			t.name = string(v)
			return n, err
		case 9:
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			if err := d.count(int64(len(v)) / 4); err != nil {
				return 0, err
			}
			t.rawData = v
			return n, nil
		case 10:
			return d.repeatedDoubles(&t.doubleData, typ, b)
		case 13:
			t.external = true
		case 14:
			v, n, err := varintField(typ, b)
			t.external = t.external || v == 1
			return n, err
		}
		return 0, nil
	})
	return t, err
}

func valueInfoOf(b []byte) (*valueInfo, error) {
	vi := &valueInfo{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			v, n, err := bytesField(typ, b)
			vi.name = string(v)
			return n, err
		case 2: // TypeProto
			v, n, err := bytesField(typ, b)
			if err != nil {
				return 0, err
			}
			return n, fields(v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
				if num != 1 { // tensor_type only
					return 0, nil
				}
				v, n, err := bytesField(typ, b)
				if err != nil {
					return 0, err
				}
				return n, fields(v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					switch num {
					case 1:
						v, n, err := varintField(typ, b)
						vi.elemType = v
						return n, err
					case 2:
						v, n, err := bytesField(typ, b)
						if err != nil {
							return 0, err
						}
						vi.hasShape = true
						return n, fields(v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
							if num != 1 {
								return 0, nil
							}
							v, n, err := bytesField(typ, b)
							if err != nil {
								return 0, err
							}
							if len(vi.dims) >= 16 {
								return 0, fmt.Errorf("%w: value of rank over 16", ErrFormat)
							}
							var dm dim
							err = fields(v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
								switch num {
								case 1:
									v, n, err := varintField(typ, b)
									dm.value = v
									return n, err
								case 2:
									v, n, err := bytesField(typ, b)
									dm.param = string(v)
									return n, err
								}
								return 0, nil
							})
							vi.dims = append(vi.dims, dm)
							return n, err
						})
					}
					return 0, nil
				})
			})
		}
		return 0, nil
	})
	return vi, err
}

// elements returns the number of elements of t, checking its dimensions.
func (t *tensorProto) elements() (int64, error) {
	n := int64(1)
	for _, d := range t.dims {
		if d < 0 || d > 1<<31 {
			return 0, fmt.Errorf("%w: tensor %q has dimension %d", ErrFormat, t.name, d)
		}
		n *= d
		if n > 1<<40 {
			return 0, fmt.Errorf("%w: tensor %q too large", ErrTooLarge, t.name)
		}
	}
	return n, nil
}

// floats returns t's values as float64 (for FLOAT, DOUBLE, INT32, INT64,
// INT8, UINT8 tensors).
func (t *tensorProto) floats() ([]float64, error) {
	if t.external {
		return nil, fmt.Errorf("%w: tensor %q: external data is not supported", ErrUnsupported, t.name)
	}
	n, err := t.elements()
	if err != nil {
		return nil, err
	}
	out := make([]float64, 0, min(n, 1<<20))
	raw := t.rawData
	width := map[int64]int{dtFloat: 4, dtDouble: 8, dtInt32: 4, dtInt64: 8, dtInt8: 1, dtUint8: 1}[t.dataType]
	if width == 0 {
		return nil, fmt.Errorf("%w: tensor %q of data type %d", ErrUnsupported, t.name, t.dataType)
	}
	if raw != nil {
		if int64(len(raw)) != n*int64(width) {
			return nil, fmt.Errorf("%w: tensor %q: %d raw bytes for %d elements", ErrFormat, t.name, len(raw), n)
		}
		for i := 0; i < len(raw); i += width {
			var v float64
			switch t.dataType {
			case dtFloat:
				v = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
			case dtDouble:
				v = math.Float64frombits(binary.LittleEndian.Uint64(raw[i:]))
			case dtInt32:
				v = float64(int32(binary.LittleEndian.Uint32(raw[i:])))
			case dtInt64:
				v = float64(int64(binary.LittleEndian.Uint64(raw[i:])))
			case dtInt8:
				v = float64(int8(raw[i]))
			case dtUint8:
				v = float64(raw[i])
			}
			out = append(out, v)
		}
		return out, nil
	}
	switch t.dataType {
	case dtFloat:
		for _, v := range t.floatData {
			out = append(out, float64(v))
		}
	case dtDouble:
		out = append(out, t.doubleData...)
	case dtInt64:
		for _, v := range t.int64Data {
			out = append(out, float64(v))
		}
	default: // INT32, INT8, UINT8 live in int32_data
		for _, v := range t.int32Data {
			out = append(out, float64(v))
		}
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("%w: tensor %q: %d values for %d elements", ErrFormat, t.name, len(out), n)
	}
	return out, nil
}
