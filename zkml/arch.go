package zkml

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/vai-dev/vai/runtime"
)

// ErrUnsupported is wrapped by errors for models the compiler cannot turn
// into a circuit.
var ErrUnsupported = errors.New("unsupported by the zkml compiler")

// MaxParams bounds the parameters of a model the compiler accepts: beyond
// it, proving needs more memory than the machines vai targets have.
const MaxParams = 4 << 20

// Kinds of committed parameters, each with its width in bits and the offset
// that makes its value non-negative before packing.
type paramKind uint8

const (
	kindWeight paramKind = iota // int8 weight
	kindBias                    // int32 bias
	kindMult                    // requantisation multiplier, 1 ≤ M < 2^31
	kindShift                   // requantisation shift, 0 ≤ S ≤ 62
	kindTable                   // int8 entry of a LUT layer's table
)

func (k paramKind) width() int {
	switch k {
	case kindBias:
		return 32
	case kindMult:
		return 31
	case kindShift:
		return 6
	}
	return 8
}

func (k paramKind) offset() int64 {
	switch k {
	case kindWeight, kindTable:
		return 128
	case kindBias:
		return 1 << 31
	}
	return 0
}

// affineLayout locates a dense or conv2d layer's parameters in the flat
// parameter vector: weights, biases, multipliers, shifts.
type affineLayout struct {
	w, b, m, s int // first index of each
	nReq       int // 1 or one per output channel
}

// Arch is a model's architecture: everything about it but its parameters.
// One circuit, and one proving/verifying key pair, serves every model with
// the same architecture.
type Arch struct {
	model  *runtime.Model // the model with every parameter zeroed
	shapes []runtime.Shape
	digest runtime.Digest
	kinds  []paramKind
	layout []affineLayout // per layer (zero for layers without weights)
	tables []int          // per layer: first index of a LUT's table, or -1
}

// Digest is the SHA-256 of the .vaim encoding of the model with every
// parameter zeroed (multipliers 1, shifts 0, no metadata): the identity of
// the architecture.
func (a *Arch) Digest() runtime.Digest { return a.digest }

// Params is the number of committed parameters.
func (a *Arch) Params() int { return len(a.kinds) }

// InputSize and OutputSize are the number of int8 values in and out.
func (a *Arch) InputSize() int  { return a.shapes[0].Size() }
func (a *Arch) OutputSize() int { return a.shapes[len(a.shapes)-1].Size() }

// Model returns the architecture as a model with zeroed parameters.
func (a *Arch) Model() *runtime.Model { return a.model }

// field is the digest as a field element, absorbed into every commitment.
func (a *Arch) field() fr.Element {
	var e fr.Element
	e.SetBytes(a.digest[:])
	return e
}

// ArchOf returns the architecture of m, or an error wrapping ErrUnsupported
// or runtime.ErrInvalid.
func ArchOf(m *runtime.Model) (*Arch, error) {
	if err := m.Validate(runtime.Limits{}); err != nil {
		return nil, err
	}
	if m.Params() > MaxParams {
		return nil, fmt.Errorf("%w: %d parameters, at most %d", ErrUnsupported, m.Params(), MaxParams)
	}
	shapes, err := m.Shapes()
	if err != nil {
		return nil, err
	}
	a := &Arch{shapes: shapes}
	z := &runtime.Model{Input: m.Input, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1}}
	add := func(k paramKind, n int) int {
		first := len(a.kinds)
		for range n {
			a.kinds = append(a.kinds, k)
		}
		return first
	}
	zreq := func(r runtime.Requant) runtime.Requant {
		n := len(r.Mult)
		z := runtime.Requant{Mult: make([]int32, n), Shift: make([]uint8, n)}
		for i := range z.Mult {
			z.Mult[i] = 1
		}
		return z
	}
	for i, l := range m.Layers {
		lay, tbl := affineLayout{}, -1
		switch l := l.(type) {
		case *runtime.Dense:
			c := *l
			c.Weights, c.Bias, c.Requant = make([]int8, len(l.Weights)), make([]int32, len(l.Bias)), zreq(l.Requant)
			z.Layers = append(z.Layers, &c)
			lay = affineLayout{w: add(kindWeight, len(l.Weights)), b: add(kindBias, len(l.Bias)), nReq: len(l.Requant.Mult)}
		case *runtime.Conv2D:
			c := *l
			c.Weights, c.Bias, c.Requant = make([]int8, len(l.Weights)), make([]int32, len(l.Bias)), zreq(l.Requant)
			z.Layers = append(z.Layers, &c)
			lay = affineLayout{w: add(kindWeight, len(l.Weights)), b: add(kindBias, len(l.Bias)), nReq: len(l.Requant.Mult)}
		case *runtime.LUT:
			z.Layers = append(z.Layers, &runtime.LUT{})
			tbl = add(kindTable, 256)
		case *runtime.MaxPool:
			c := *l
			z.Layers = append(z.Layers, &c)
		case *runtime.AvgPool:
			c := *l
			z.Layers = append(z.Layers, &c)
		case *runtime.Relu:
			z.Layers = append(z.Layers, &runtime.Relu{})
		case *runtime.Reshape:
			z.Layers = append(z.Layers, &runtime.Reshape{Shape: l.Shape})
		default:
			return nil, fmt.Errorf("%w: layer %d is %s", ErrUnsupported, i, l.Kind())
		}
		if lay.nReq > 0 {
			lay.m = add(kindMult, lay.nReq)
			lay.s = add(kindShift, lay.nReq)
		}
		a.layout = append(a.layout, lay)
		a.tables = append(a.tables, tbl)
	}
	b, err := z.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("architecture of the model: %w", err)
	}
	a.model, a.digest = z, sha256.Sum256(b)
	return a, nil
}

// params returns m's parameters in the architecture's order. m must have
// architecture a (checked by the caller with sameArch).
func (a *Arch) params(m *runtime.Model) []int64 {
	out := make([]int64, 0, len(a.kinds))
	for _, l := range m.Layers {
		switch l := l.(type) {
		case *runtime.Dense:
			out = appendAffine(out, l.Weights, l.Bias, l.Requant)
		case *runtime.Conv2D:
			out = appendAffine(out, l.Weights, l.Bias, l.Requant)
		case *runtime.LUT:
			for _, v := range l.Table {
				out = append(out, int64(v))
			}
		}
	}
	return out
}

func appendAffine(out []int64, w []int8, b []int32, r runtime.Requant) []int64 {
	for _, v := range w {
		out = append(out, int64(v))
	}
	for _, v := range b {
		out = append(out, int64(v))
	}
	for _, v := range r.Mult {
		out = append(out, int64(v))
	}
	for _, v := range r.Shift {
		out = append(out, int64(v))
	}
	return out
}

// check returns an error unless m has architecture a.
func (a *Arch) check(m *runtime.Model) error {
	b, err := ArchOf(m)
	if err != nil {
		return err
	}
	if b.digest != a.digest {
		return fmt.Errorf("%w: model architecture %s, circuit is for %s", ErrMismatch, b.digest, a.digest)
	}
	return nil
}

// ErrMismatch is wrapped by errors for a model, key or proof that belongs to
// another architecture or circuit.
var ErrMismatch = errors.New("architecture mismatch")

// packedLen is the number of field elements the parameters pack into.
func packedLen(kinds []paramKind) int {
	n, used := 0, packBits
	for _, k := range kinds {
		if used+k.width() > packBits {
			n++
			used = 0
		}
		used += k.width()
	}
	return n
}

// packNative packs values (already offset to non-negative) little-endian into
// field elements of at most packBits bits; a value never straddles two.
func packNative(vals []int64, kinds []paramKind) []fr.Element {
	out := make([]fr.Element, 0, packedLen(kinds))
	acc, used := new(big.Int), 0
	flush := func() {
		var e fr.Element
		e.SetBigInt(acc)
		out = append(out, e)
		acc, used = new(big.Int), 0
	}
	for i, v := range vals {
		w := kinds[i].width()
		if used+w > packBits {
			flush()
		}
		u := uint64(v + kinds[i].offset())
		if bits.Len64(u) > w {
			panic(fmt.Sprintf("zkml: parameter %d (%d) wider than %d bits", i, v, w))
		}
		acc.Or(acc, new(big.Int).Lsh(new(big.Int).SetUint64(u), uint(used)))
		used += w
	}
	if used > 0 {
		flush()
	}
	return out
}
