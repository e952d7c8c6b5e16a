package logs

import (
	"bytes"
	"encoding/base64"
	"math/bits"

	"github.com/transparency-dev/merkle/rfc6962"
)

// forked tells a forked history from a forged proof, after
// proof.VerifyConsistency refused p. Following RFC 9162 §2.1.4.2, a
// consistency proof from a size1 that is not a power of two determines
// both the old and the new root. If it yields the checkpoint's own (signed)
// root but not the witnessed old root, the operator's tree does not extend
// what the chain witnessed: without a SHA-256 second preimage no one but a
// tree with another prefix can produce that. When size1 is a power of two
// the witnessed root seeds the computation and the two cases cannot be
// told apart; the proof is then reported as invalid.
func forked(size1, size2 uint64, p [][]byte, root1, root2 []byte) bool {
	if size1 == 0 || size1 >= size2 || len(p) == 0 {
		return false
	}
	shift := bits.TrailingZeros64(size1)
	if size1 == 1<<uint(shift) {
		return false
	}
	inner := bits.Len64((size1 - 1) ^ (size2 - 1))
	border := bits.OnesCount64((size1 - 1) >> uint(inner))
	inner -= shift
	if len(p) != 1+inner+border {
		return false
	}
	seed, rest := p[0], p[1:]
	mask := (size1 - 1) >> uint(shift)
	h := rfc6962.DefaultHasher.HashChildren
	h1, h2 := seed, seed
	for i, n := range rest[:inner] {
		if (mask>>uint(i))&1 == 1 {
			h1 = h(n, h1)
			h2 = h(n, h2)
		} else {
			h2 = h(h2, n)
		}
	}
	for _, n := range rest[inner:] {
		h1 = h(n, h1)
		h2 = h(n, h2)
	}
	return bytes.Equal(h2, root2) && !bytes.Equal(h1, root1)
}

func decodeBase64(s string) ([]byte, error) { return base64.StdEncoding.Strict().DecodeString(s) }
