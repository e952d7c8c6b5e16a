package manifest

import (
	"math/bits"

	"lukechampine.com/blake3/guts"

	"github.com/vai-dev/vai/manifest/internal/b3simd"
)

// BLAKE3 is a Merkle tree of 1 KiB chunks, so one file can be hashed by
// several workers: each hashes a piece of 2^k chunks at its chunk offset to
// a chaining value, and the pieces' values are merged as the BLAKE3 tree
// merges subtrees. lukechampine.com/blake3/guts exposes the compression
// function with AVX-512/AVX2 kernels that make this possible; the bulk of
// a span, whole aligned subtrees, goes to internal/b3simd, whose AVX-512
// kernel compresses 16 chunks and 16 parents at a time (about 1.35× the
// per-core speed of guts).

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
	simd    b3simd.Hasher
	scratch [b3Block]byte
}

// maxSubtree is the largest subtree, in chunks, that write hands to b3simd
// at once: 1 MiB, the size of the slices stream feeds.
const maxSubtree = 1 << 10

// write hashes p. Every p but the final one must be a multiple of b3Block
// long; the final one (possibly empty) is the end of the span.
func (s *b3state) write(p []byte, final bool) {
	for len(p) > b3Block || (len(p) == b3Block && !final) {
		// The largest whole subtree that starts here: aligned at the
		// counter, inside p, and leaving the final write at least a byte.
		avail := len(p) / guts.ChunkSize
		if final {
			avail = (len(p) - 1) / guts.ChunkSize
		}
		n := min(1<<(bits.Len(uint(avail))-1), maxSubtree)
		if s.counter != 0 {
			n = min(n, 1<<bits.TrailingZeros64(s.counter))
		}
		s.pushAt(s.simd.Subtree(p[:n*guts.ChunkSize], s.c0+s.counter), bits.TrailingZeros(uint(n)))
		p = p[n*guts.ChunkSize:]
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

// pushAt adds the chaining value of the subtree of 2^height chunks that
// starts at the counter, which is a multiple of its size (height ≥ 4, so
// the counter stays a multiple of 16).
func (s *b3state) pushAt(cv [8]uint32, height int) {
	i := height
	for s.counter&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(s.stack[i], cv, &guts.IV, 0))
		i++
	}
	s.stack[i] = cv
	s.counter += 1 << height
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
