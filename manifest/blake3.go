package manifest

import (
	"math/bits"

	"lukechampine.com/blake3/guts"
)

// BLAKE3 is a Merkle tree of 1 KiB chunks, so one file can be hashed by
// several workers: each hashes a piece of 2^k chunks at its chunk offset to
// a chaining value, and the pieces' values are merged as the BLAKE3 tree
// merges subtrees. lukechampine.com/blake3/guts exposes the compression
// function with AVX-512/AVX2 kernels that make this possible.

// b3Block is the input one guts.CompressBuffer call takes: 16 chunks.
const b3Block = guts.MaxSIMD * guts.ChunkSize

// blake3PieceSize is the size of the pieces large files are cut into for
// parallel hashing. It must be a power-of-two multiple of b3Block. Tests
// lower it.
var blake3PieceSize int64 = 16 << 20

// b3state hashes a span of input that starts at chunk c0. For a whole
// input c0 is 0 and node gives the root node; for a piece, c0 is a
// multiple of the piece's size rounded up to a power of two, and node
// gives the piece's subtree root.
type b3state struct {
	stack   [64][8]uint32
	counter uint64 // chunks pushed, relative to c0; a multiple of 16
	c0      uint64
	last    guts.Node
	final   bool
	scratch [b3Block]byte
}

// write hashes p. Every p but the final one must be a multiple of b3Block
// long; the final one (possibly empty) is the end of the span.
func (s *b3state) write(p []byte, final bool) {
	for len(p) > b3Block || (len(p) == b3Block && !final) {
		s.push(guts.ChainingValue(guts.CompressBuffer((*[b3Block]byte)(p), b3Block, &guts.IV, s.c0+s.counter, 0)))
		p = p[b3Block:]
	}
	if !final {
		return
	}
	// The last block stays uncompressed so that the root flag can go on it.
	switch {
	case len(p) == 0 && s.counter == 0:
		s.last = guts.CompressChunk(nil, &guts.IV, 0, 0) // empty input
	case len(p) == 0:
		panic("manifest: b3state: empty final write after data") // callers end with data
	default:
		n := copy(s.scratch[:], p) // CompressBuffer takes a full-size array
		s.last = guts.CompressBuffer(&s.scratch, n, &guts.IV, s.c0+s.counter, 0)
	}
	s.final = true
}

func (s *b3state) push(cv [8]uint32) {
	i := 4 // a full block is a subtree of height 4
	for s.counter&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(s.stack[i], cv, &guts.IV, 0))
		i++
	}
	s.stack[i] = cv
	s.counter += b3Block / guts.ChunkSize
}

// node merges the pending subtrees from the smallest up, which builds
// BLAKE3's left-balanced tree, and returns its root node.
func (s *b3state) node() guts.Node {
	n := s.last
	for i := bits.TrailingZeros64(s.counter); i < bits.Len64(s.counter); i++ {
		if s.counter&(1<<i) != 0 {
			n = guts.ParentNode(s.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	return n
}

// blake3Root returns the digest of the input whose root node is n.
func blake3Root(n guts.Node) []byte {
	n.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(n))
	return out[:32:32]
}

// blake3Merge merges the chaining values of consecutive pieces, each but
// the last a full piece of a power-of-two number of chunks, into the root
// node of the input. BLAKE3's tree is left-balanced, so the left side holds
// the largest power of two of pieces that is smaller than their number.
func blake3Merge(cvs [][8]uint32) guts.Node {
	cv := func(s [][8]uint32) [8]uint32 {
		if len(s) == 1 {
			return s[0]
		}
		return guts.ChainingValue(blake3Merge(s))
	}
	p := 1 << (bits.Len(uint(len(cvs)-1)) - 1)
	return guts.ParentNode(cv(cvs[:p]), cv(cvs[p:]), &guts.IV, 0)
}
