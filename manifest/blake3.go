package manifest

import (
	"context"
	"io"
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

// blake3Span hashes the n bytes read from r, which start at chunk c0 of the
// input. With root it returns the final node of the whole input (c0 must be
// 0); otherwise the span must start at a multiple of its own size rounded up
// to a power of two, and the returned node is the span's subtree root.
func blake3Span(ctx context.Context, r io.Reader, n int64, c0 uint64, buf []byte, done func(int)) (guts.Node, error) {
	if n == 0 {
		return guts.CompressChunk(nil, &guts.IV, 0, 0), nil
	}
	var stack [64][8]uint32
	var counter uint64 // chunks pushed, relative to c0; a multiple of 16
	push := func(cv [8]uint32) {
		i := 4 // a full block is a subtree of height 4
		for counter&(1<<i) != 0 {
			cv = guts.ChainingValue(guts.ParentNode(stack[i], cv, &guts.IV, 0))
			i++
		}
		stack[i] = cv
		counter += b3Block / guts.ChunkSize
	}
	buf = buf[:cap(buf)]
	readSize := len(buf) - b3Block // keep one block of slack for the last, partial block
	var last guts.Node
	for remaining := n; remaining > 0; {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		k := int(min(remaining, int64(readSize)))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return last, err
		}
		remaining -= int64(k)
		for off := 0; off < k; off += b3Block {
			blen := min(b3Block, k-off)
			blk := (*[b3Block]byte)(buf[off : off+b3Block])
			if remaining == 0 && off+blen == k {
				last = guts.CompressBuffer(blk, blen, &guts.IV, c0+counter, 0)
			} else {
				push(guts.ChainingValue(guts.CompressBuffer(blk, b3Block, &guts.IV, c0+counter, 0)))
			}
		}
		done(k)
	}
	for i := bits.TrailingZeros64(counter); i < bits.Len64(counter); i++ {
		if counter&(1<<i) != 0 {
			last = guts.ParentNode(stack[i], guts.ChainingValue(last), &guts.IV, 0)
		}
	}
	return last, nil
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
