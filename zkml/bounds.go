package zkml

import (
	"encoding/binary"
	"fmt"
)

// gnark's decoders allocate slices from the length prefixes they read before
// reading the elements, so a few hostile bytes can ask for gigabytes. These
// checks walk the compressed encodings' length prefixes first and accept
// only lengths the input can actually hold.

const (
	g1Bytes = 32 // compressed
	g2Bytes = 64
)

// proofSize is the size of a compressed proof with nc commitments:
// A, B, C, the commitments (length-prefixed) and their proof of knowledge.
func proofSize(nc int) int { return g1Bytes + g2Bytes + g1Bytes + 4 + nc*g1Bytes + g1Bytes }

// checkProofBytes accepts only the compressed encoding with nc commitments.
func checkProofBytes(b []byte, nc int) error {
	if len(b) != proofSize(nc) {
		return fmt.Errorf("%d bytes, want %d", len(b), proofSize(nc))
	}
	if n := binary.BigEndian.Uint32(b[128:132]); int(n) != nc {
		return fmt.Errorf("%d commitments, the key has %d", n, nc)
	}
	return nil
}

// checkVKBytes walks a compressed verifying key's length prefixes.
func checkVKBytes(b []byte) error {
	off := 3*g1Bytes + 3*g2Bytes // α, β, γ, δ
	u32 := func() (int, error) {
		if len(b)-off < 4 {
			return 0, fmt.Errorf("truncated at byte %d", off)
		}
		v := int(binary.BigEndian.Uint32(b[off:]))
		off += 4
		return v, nil
	}
	nk, err := u32()
	if err != nil {
		return err
	}
	if nk > (len(b)-off)/g1Bytes {
		return fmt.Errorf("%d key points in %d bytes", nk, len(b)-off)
	}
	off += nk * g1Bytes
	outer, err := u32()
	if err != nil {
		return err
	}
	if outer > (len(b)-off)/4 {
		return fmt.Errorf("%d committed-input lists in %d bytes", outer, len(b)-off)
	}
	for range outer {
		inner, err := u32()
		if err != nil {
			return err
		}
		if inner > (len(b)-off)/8 {
			return fmt.Errorf("%d committed inputs in %d bytes", inner, len(b)-off)
		}
		off += inner * 8
	}
	nc, err := u32()
	if err != nil {
		return err
	}
	if nc != outer || len(b)-off != nc*2*g2Bytes {
		return fmt.Errorf("%d commitment keys in %d bytes", nc, len(b)-off)
	}
	return nil
}
