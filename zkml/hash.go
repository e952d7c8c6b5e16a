package zkml

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	p2 "github.com/consensys/gnark-crypto/ecc/bn254/fr/poseidon2"
	"github.com/consensys/gnark/frontend"
	stdp2 "github.com/consensys/gnark/std/permutation/poseidon2"
)

// The hash of commitments and digests: a sponge over the Poseidon2
// permutation of width 3 (rate 2, capacity 1) on BN254's scalar field, with
// 8 full and 56 partial rounds — the Poseidon2 paper's 128-bit instance for
// this field and width. gnark-crypto derives the round constants from these
// parameters, in and out of circuits alike.
const (
	spongeWidth   = 3
	spongeFull    = 8
	spongePartial = 56
	spongeRate    = 2
	domainWeights = 1 // Commit
	domainInput   = 2 // InputDigest
	packBits      = 248
	valuesPerElem = packBits / 8 // 31 int8 values per field element
)

var nativePerm = sync.OnceValue(func() *p2.Permutation {
	return p2.NewPermutation(spongeWidth, spongeFull, spongePartial)
})

// spongeIV is the capacity element: the domain and the input length, so that
// inputs of different lengths or purposes never share a state.
func spongeIV(domain uint64, n int) *big.Int {
	iv := new(big.Int).Lsh(new(big.Int).SetUint64(domain), 64)
	return iv.Add(iv, big.NewInt(int64(n)))
}

// hashNative absorbs elems rate-many at a time and squeezes one element.
func hashNative(domain uint64, elems []fr.Element) fr.Element {
	var s [spongeWidth]fr.Element
	s[spongeWidth-1].SetBigInt(spongeIV(domain, len(elems)))
	perm := nativePerm()
	for i := 0; i < len(elems) || i == 0; i += spongeRate {
		for j := 0; j < spongeRate && i+j < len(elems); j++ {
			s[j].Add(&s[j], &elems[i+j])
		}
		if err := perm.Permutation(s[:]); err != nil {
			panic(err) // the width is fixed above
		}
	}
	return s[0]
}

// hashCircuit is hashNative inside a circuit.
func hashCircuit(api frontend.API, domain uint64, elems []frontend.Variable) (frontend.Variable, error) {
	perm, err := stdp2.NewPoseidon2FromParameters(api, spongeWidth, spongeFull, spongePartial)
	if err != nil {
		return nil, err
	}
	s := []frontend.Variable{0, 0, spongeIV(domain, len(elems))}
	for i := 0; i < len(elems) || i == 0; i += spongeRate {
		for j := 0; j < spongeRate && i+j < len(elems); j++ {
			s[j] = api.Add(s[j], elems[i+j])
		}
		if err := perm.Permutation(s); err != nil {
			return nil, err
		}
	}
	return s[0], nil
}

// JobField maps a job identifier (any bytes, as the market names jobs) to the
// public input that binds a proof to that job: SHA-256 of the identifier
// with a domain prefix, reduced modulo the field order.
func JobField(jobID []byte) fr.Element {
	h := sha256.New()
	h.Write([]byte("vai/zkml/job/v1\x00"))
	h.Write(jobID)
	var e fr.Element
	e.SetBytes(h.Sum(nil))
	return e
}

// FieldHex formats a field element as 0x-prefixed, 64 hex digits (big-endian).
func FieldHex(e fr.Element) string {
	b := e.Bytes()
	return fmt.Sprintf("0x%x", b[:])
}

// ParseFieldHex parses FieldHex's format, rejecting values not below the
// field order (so every element has exactly one spelling).
func ParseFieldHex(s string) (fr.Element, error) {
	var e fr.Element
	if len(s) != 66 || s[:2] != "0x" {
		return e, fmt.Errorf("field element %.20q: want 0x and 64 hex digits", s)
	}
	v, ok := new(big.Int).SetString(s[2:], 16)
	if !ok {
		return e, fmt.Errorf("field element %.20q: not hexadecimal", s)
	}
	if v.Cmp(fr.Modulus()) >= 0 {
		return e, fmt.Errorf("field element %.20q: not below the field order", s)
	}
	e.SetBigInt(v)
	return e, nil
}
