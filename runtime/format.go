package runtime

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// Magic and FormatVersion open every .vaim file.
const (
	Magic         = "VAIM"
	FormatVersion = 1
)

// ErrFormat is wrapped by every decoding error.
var ErrFormat = errors.New("malformed vaim")

// Digest is the SHA-256 of a model's canonical encoding: its identity.
type Digest [32]byte

// String returns "sha256:" and the hex digest.
func (d Digest) String() string { return "sha256:" + hex.EncodeToString(d[:]) }

// Digest returns the SHA-256 of the canonical encoding of m.
func (m *Model) Digest() (Digest, error) {
	b, err := m.MarshalBinary()
	if err != nil {
		return Digest{}, err
	}
	return sha256.Sum256(b), nil
}

// MarshalBinary returns the canonical .vaim encoding of m, after validating
// it with no limits. The encoding has exactly one form for each model (fixed
// widths, sorted metadata), so equal models have equal digests.
func (m *Model) MarshalBinary() ([]byte, error) {
	if err := m.Validate(Limits{}); err != nil {
		return nil, err
	}
	var e encoder
	e.b = append(e.b, Magic...)
	e.u16(FormatVersion)
	e.shape(m.Input)
	e.fixed(m.InputScale)
	e.fixed(m.OutputScale)
	keys := make([]string, 0, len(m.Meta))
	for k := range m.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > maxMeta {
		return nil, fmt.Errorf("%w: %d metadata entries, limit %d", ErrInvalid, len(keys), maxMeta)
	}
	e.u16(uint16(len(keys)))
	for _, k := range keys {
		v := m.Meta[k]
		if len(k) == 0 || len(k) > maxMetaKey || len(v) > maxMetaValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: metadata key %.40q: empty, too long or not UTF-8", ErrInvalid, k)
		}
		e.str16(k)
		e.u32(uint32(len(v)))
		e.b = append(e.b, v...)
	}
	e.u16(uint16(len(m.Layers)))
	for _, l := range m.Layers {
		e.u8(uint8(l.op()))
		switch l := l.(type) {
		case *Dense:
			e.u32(uint32(l.In))
			e.u32(uint32(l.Out))
			e.affine(l.Act, l.Requant, l.Bias, l.Weights)
		case *Conv2D:
			e.u32(uint32(l.InC))
			e.u32(uint32(l.OutC))
			e.pool(Pool{l.KH, l.KW, l.StrideH, l.StrideW, l.PadTop, l.PadLeft, l.PadBottom, l.PadRight})
			e.affine(l.Act, l.Requant, l.Bias, l.Weights)
		case *MaxPool:
			e.pool(l.Pool)
		case *AvgPool:
			e.pool(l.Pool)
			e.bool(l.CountIncludePad)
		case *Relu:
		case *LUT:
			e.str16(l.Name)
			for _, v := range l.Table {
				e.u8(uint8(v))
			}
		case *Reshape:
			e.shape(l.Shape)
		}
	}
	return e.b, nil
}

const (
	maxMeta      = 64
	maxMetaKey   = 64
	maxMetaValue = 64 << 10
)

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) str16(s string) { e.u16(uint16(len(s))); e.b = append(e.b, s...) }
func (e *encoder) fixed(f Fixed)  { e.u32(uint32(f.Mult)); e.u8(f.Shift) }
func (e *encoder) shape(s Shape) {
	e.u8(uint8(len(s)))
	for _, d := range s {
		e.u32(uint32(d))
	}
}
func (e *encoder) pool(p Pool) {
	for _, v := range []int{p.KH, p.KW, p.StrideH, p.StrideW, p.PadTop, p.PadLeft, p.PadBottom, p.PadRight} {
		e.u8(uint8(v))
	}
}
func (e *encoder) affine(act Activation, r Requant, bias []int32, w []int8) {
	e.u8(uint8(act))
	e.u32(uint32(len(r.Mult)))
	for i := range r.Mult {
		e.fixed(Fixed{r.Mult[i], r.Shift[i]})
	}
	for _, v := range bias {
		e.u32(uint32(v))
	}
	for _, v := range w {
		e.u8(uint8(v))
	}
}

// Decode parses a .vaim encoding with DefaultLimits.
func Decode(b []byte) (*Model, error) { return DecodeLimits(b, DefaultLimits) }

// ReadModel reads and decodes a .vaim stream, reading at most lim.MaxBytes
// (DefaultLimits.MaxBytes when zero), and returns the model and its digest.
func ReadModel(r io.Reader, lim Limits) (*Model, Digest, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultLimits.MaxBytes
	}
	b, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, Digest{}, err
	}
	m, err := DecodeLimits(b, lim)
	if err != nil {
		return nil, Digest{}, err
	}
	return m, sha256.Sum256(b), nil
}

// DecodeLimits parses a .vaim encoding. It accepts only the canonical
// encoding (so a model's digest is the SHA-256 of the bytes it was read
// from), validates the model, and rejects anything over lim. Errors wrap
// ErrFormat, ErrInvalid or ErrTooLarge; it never panics.
func DecodeLimits(b []byte, lim Limits) (*Model, error) {
	if lim.MaxBytes > 0 && int64(len(b)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	d := decoder{b: b}
	if string(d.bytes(4)) != Magic {
		return nil, fmt.Errorf("%w: not a vaim file (bad magic)", ErrFormat)
	}
	if v := d.u16(); d.err == nil && v != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads version %d", ErrFormat, v, FormatVersion)
	}
	m := &Model{}
	m.Input = d.shape()
	m.InputScale = d.fixed()
	m.OutputScale = d.fixed()
	nmeta := int(d.u16())
	if nmeta > maxMeta {
		return nil, fmt.Errorf("%w: %d metadata entries, limit %d", ErrFormat, nmeta, maxMeta)
	}
	prev := ""
	for i := 0; i < nmeta && d.err == nil; i++ {
		k := d.str16()
		n := d.u32()
		if n > maxMetaValue {
			return nil, fmt.Errorf("%w: metadata value of %d bytes, limit %d", ErrFormat, n, maxMetaValue)
		}
		v := string(d.bytes(int(n)))
		if d.err != nil {
			break
		}
		if k == "" || len(k) > maxMetaKey || (i > 0 && k <= prev) || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: metadata key %.40q: empty, too long, not UTF-8 or out of order", ErrFormat, k)
		}
		if m.Meta == nil {
			m.Meta = map[string]string{}
		}
		m.Meta[k] = v
		prev = k
	}
	nl := int(d.u16())
	if lim.MaxLayers > 0 && nl > lim.MaxLayers {
		return nil, fmt.Errorf("%w: %d layers, limit %d", ErrTooLarge, nl, lim.MaxLayers)
	}
	in := m.Input
	for i := 0; i < nl && d.err == nil; i++ {
		l, err := d.layer(in, lim)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		if d.err != nil {
			break
		}
		if err := validateLayer(l); err != nil {
			return nil, fmt.Errorf("%w: layer %d (%s): %v", ErrInvalid, i, l.Kind(), err)
		}
		// Chain shapes as we go so that a wrong layer fails early.
		out, err := l.OutShape(in)
		if err != nil {
			return nil, fmt.Errorf("%w: layer %d: %v", ErrInvalid, i, err)
		}
		in = out
		m.Layers = append(m.Layers, l)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(d.b))
	}
	if err := m.Validate(lim); err != nil {
		return nil, err
	}
	return m, nil
}

type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errTruncated
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	v := d.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) u16() uint16 {
	v := d.bytes(2)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(v)
}

func (d *decoder) u32() uint32 {
	v := d.bytes(4)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

// dim reads a u32 dimension and rejects values that do not fit the bounds
// Validate enforces, so later arithmetic on dimensions cannot overflow.
func (d *decoder) dim() int {
	v := d.u32()
	if d.err == nil && (v == 0 || v > 1<<24) {
		d.err = fmt.Errorf("dimension %d out of range 1..%d", v, 1<<24)
	}
	return int(v)
}

func (d *decoder) str16() string { return string(d.bytes(int(d.u16()))) }

func (d *decoder) fixed() Fixed { return Fixed{Mult: int32(d.u32()), Shift: d.u8()} }

func (d *decoder) shape() Shape {
	n := int(d.u8())
	if d.err == nil && (n == 0 || n > 4) {
		d.err = fmt.Errorf("shape of rank %d, want 1..4", n)
	}
	s := make(Shape, 0, 4)
	for i := 0; i < n && d.err == nil; i++ {
		s = append(s, d.dim())
	}
	if d.err == nil && s.Size() > 1<<28 {
		d.err = fmt.Errorf("shape %v too large", s)
	}
	return s
}

func (d *decoder) pool() Pool {
	v := d.bytes(8)
	if v == nil {
		return Pool{}
	}
	return Pool{int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6]), int(v[7])}
}

func (d *decoder) bool() bool {
	v := d.u8()
	if v > 1 {
		d.err = fmt.Errorf("boolean byte %d", v)
	}
	return v == 1
}

// affine reads an activation, requantisation, biases and rows×cols weights,
// checking the sizes against what is left before allocating.
func (d *decoder) affine(rows, cols int) (Activation, Requant, []int32, []int8) {
	act := Activation(d.u8())
	nr := int(d.u32())
	var r Requant
	if d.err != nil {
		return 0, r, nil, nil
	}
	if nr != 1 && nr != rows {
		d.err = fmt.Errorf("%d requantisation entries, want 1 or %d", nr, rows)
		return 0, r, nil, nil
	}
	need := int64(nr)*5 + int64(rows)*4 + int64(rows)*int64(cols)
	if need > int64(len(d.b)) {
		d.err = errTruncated
		return 0, r, nil, nil
	}
	r.Mult, r.Shift = make([]int32, nr), make([]uint8, nr)
	for i := range nr {
		f := d.fixed()
		r.Mult[i], r.Shift[i] = f.Mult, f.Shift
	}
	bias := make([]int32, rows)
	for i := range bias {
		bias[i] = int32(d.u32())
	}
	raw := d.bytes(rows * cols)
	w := make([]int8, len(raw))
	for i, v := range raw {
		w[i] = int8(v)
	}
	return act, r, bias, w
}

func (d *decoder) layer(in Shape, lim Limits) (Layer, error) {
	op := opcode(d.u8())
	if d.err != nil {
		return nil, nil
	}
	switch op {
	case opDense:
		l := &Dense{In: d.dim(), Out: d.dim()}
		if err := d.checkParams(l.In, l.Out, lim); err != nil {
			return nil, err
		}
		l.Act, l.Requant, l.Bias, l.Weights = d.affine(l.Out, l.In)
		return l, nil
	case opConv2D:
		l := &Conv2D{InC: d.dim(), OutC: d.dim()}
		p := d.pool()
		l.KH, l.KW, l.StrideH, l.StrideW, l.PadTop, l.PadLeft, l.PadBottom, l.PadRight = p.KH, p.KW, p.StrideH, p.StrideW, p.PadTop, p.PadLeft, p.PadBottom, p.PadRight
		if err := d.checkParams(l.InC*p.KH*p.KW, l.OutC, lim); err != nil {
			return nil, err
		}
		l.Act, l.Requant, l.Bias, l.Weights = d.affine(l.OutC, l.InC*l.KH*l.KW)
		return l, nil
	case opMaxPool:
		return &MaxPool{d.pool()}, nil
	case opAvgPool:
		l := &AvgPool{Pool: d.pool()}
		l.CountIncludePad = d.bool()
		return l, nil
	case opRelu:
		return &Relu{}, nil
	case opLUT:
		l := &LUT{Name: d.str16()}
		t := d.bytes(256)
		for i, v := range t {
			l.Table[i] = int8(v)
		}
		return l, nil
	case opReshape:
		return &Reshape{Shape: d.shape()}, nil
	}
	return nil, fmt.Errorf("%w: unknown operator code %d", ErrFormat, op)
}

// checkParams refuses a weight matrix over the memory limit before it is
// read (d.affine also refuses one longer than the bytes left).
func (d *decoder) checkParams(cols, rows int, lim Limits) error {
	if d.err != nil {
		return nil
	}
	n := int64(cols) * int64(rows)
	if lim.MaxMemory > 0 && n*5 > lim.MaxMemory {
		return fmt.Errorf("%w: %d weights, memory limit %d bytes", ErrTooLarge, n, lim.MaxMemory)
	}
	return nil
}
