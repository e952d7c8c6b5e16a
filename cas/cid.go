package cas

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// The layout kubo's `ipfs add --cid-version=1` uses, which Sum reproduces:
// boxo's balanced UnixFS importer with raw leaves.
const (
	// ChunkSize is the size of a leaf.
	ChunkSize = 256 << 10
	// MaxLinks is the most links an internal node has.
	MaxLinks = 174
)

// Sum returns the CID of the bytes of r and their number.
func Sum(r io.Reader) (cid.Cid, int64, error) {
	h := NewHasher()
	n, err := io.Copy(h, r)
	if err != nil {
		return cid.Undef, n, err
	}
	return h.CID(), n, nil
}

// Hasher computes a CID as bytes are written to it, in constant memory
// (one chunk plus one node per tree level).
type Hasher struct {
	buf    []byte
	size   int64
	leaves int64
	levels [][]link // pending links per tree level, 0 = leaves
	sha    hash.Hash
}

// link is a child in a dag-pb node.
type link struct {
	cid      cid.Cid
	tsize    uint64 // bytes of the child's blocks (kubo's Tsize)
	fileSize uint64 // bytes of content under the child
}

// NewHasher returns a Hasher for the kubo-compatible CID.
func NewHasher() *Hasher {
	return &Hasher{buf: make([]byte, 0, ChunkSize), sha: sha256.New()}
}

// Write implements io.Writer. It never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(h.buf) == ChunkSize {
			h.flushLeaf()
		}
		k := copy(h.buf[len(h.buf):ChunkSize], p)
		h.buf = h.buf[:len(h.buf)+k]
		p = p[k:]
	}
	h.size += int64(n)
	return n, nil
}

// Size returns the number of bytes written.
func (h *Hasher) Size() int64 { return h.size }

func (h *Hasher) flushLeaf() {
	h.sha.Reset()
	h.sha.Write(h.buf)
	c := cid.NewCidV1(cid.Raw, mhSHA256(h.sha.Sum(nil)))
	h.add(0, link{cid: c, tsize: uint64(len(h.buf)), fileSize: uint64(len(h.buf))})
	h.leaves++
	h.buf = h.buf[:0]
}

// add appends l to level lv, first closing the level's node if it is full.
// Nodes are closed lazily so that a level holding exactly MaxLinks links at
// the end becomes one node, as the balanced importer makes it.
func (h *Hasher) add(lv int, l link) {
	if lv == len(h.levels) {
		h.levels = append(h.levels, make([]link, 0, MaxLinks))
	}
	if len(h.levels[lv]) == MaxLinks {
		h.add(lv+1, h.node(h.levels[lv]))
		h.levels[lv] = h.levels[lv][:0]
	}
	h.levels[lv] = append(h.levels[lv], l)
}

// CID returns the CID of the bytes written so far. It does not change the
// Hasher's state, so more may be written afterwards.
func (h *Hasher) CID() cid.Cid {
	c := &Hasher{buf: h.buf, size: h.size, leaves: h.leaves, sha: sha256.New()}
	for _, lv := range h.levels {
		c.levels = append(c.levels, append(make([]link, 0, MaxLinks), lv...))
	}
	if len(c.buf) > 0 || c.leaves == 0 {
		c.buf = bytes.Clone(c.buf) // flushLeaf reuses the buffer
		c.flushLeaf()
	}
	if c.leaves == 1 {
		return c.levels[0][0].cid
	}
	for lv := 0; ; lv++ {
		if lv == len(c.levels)-1 && lv > 0 && len(c.levels[lv]) == 1 {
			return c.levels[lv][0].cid
		}
		n := c.node(c.levels[lv])
		c.levels[lv] = c.levels[lv][:0]
		c.add(lv+1, n)
	}
}

// node encodes a dag-pb UnixFS file node over links and returns its link.
// The encoding is the one boxo's merkledag writes: PBNode with the links
// first (Hash, Name "", Tsize), then Data = unixfs.Data{Type: File,
// filesize, blocksizes}.
func (h *Hasher) node(links []link) link {
	var data []byte
	var fileSize, tsize uint64
	for _, l := range links {
		fileSize += l.fileSize
	}
	data = append(data, 0x08, 0x02) // Type = File
	data = append(data, 0x18)       // filesize
	data = binary.AppendUvarint(data, fileSize)
	for _, l := range links {
		data = append(data, 0x20) // blocksizes
		data = binary.AppendUvarint(data, l.fileSize)
	}
	var enc, pbl []byte
	for _, l := range links {
		pbl = pbl[:0]
		pbl = append(pbl, 0x0a) // Hash
		pbl = binary.AppendUvarint(pbl, uint64(l.cid.ByteLen()))
		pbl = append(pbl, l.cid.Bytes()...)
		pbl = append(pbl, 0x12, 0x00) // Name = ""
		pbl = append(pbl, 0x18)       // Tsize
		pbl = binary.AppendUvarint(pbl, l.tsize)
		enc = append(enc, 0x12) // Links
		enc = binary.AppendUvarint(enc, uint64(len(pbl)))
		enc = append(enc, pbl...)
		tsize += l.tsize
	}
	enc = append(enc, 0x0a) // Data
	enc = binary.AppendUvarint(enc, uint64(len(data)))
	enc = append(enc, data...)
	sum := sha256.Sum256(enc)
	return link{cid: cid.NewCidV1(cid.DagProtobuf, mhSHA256(sum[:])), tsize: tsize + uint64(len(enc)), fileSize: fileSize}
}

func mhSHA256(digest []byte) mh.Multihash {
	m, err := mh.Encode(digest, mh.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte SHA-256 digest always encodes
	}
	return m
}

// Normalize checks that c is a CID a Store can verify and returns its
// CIDv1 form: raw or dag-pb codec, SHA-256 multihash. A CIDv0 (Qm…)
// becomes the equivalent dag-pb CIDv1.
func Normalize(c cid.Cid) (cid.Cid, error) {
	if !c.Defined() {
		return cid.Undef, fmt.Errorf("%w: undefined CID", ErrUnsupportedCID)
	}
	p := c.Prefix()
	if p.MhType != mh.SHA2_256 || p.MhLength != 32 {
		return cid.Undef, fmt.Errorf("%w: %s: multihash is not sha2-256", ErrUnsupportedCID, c)
	}
	if p.Codec != cid.Raw && p.Codec != cid.DagProtobuf {
		return cid.Undef, fmt.Errorf("%w: %s: codec is neither raw nor dag-pb", ErrUnsupportedCID, c)
	}
	if p.Version == 0 {
		return cid.NewCidV1(cid.DagProtobuf, c.Hash()), nil
	}
	return c, nil
}

// Parse parses a CID string and normalizes it (see Normalize).
func Parse(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q: %v", ErrUnsupportedCID, s, err)
	}
	return Normalize(c)
}

// decodeDigest returns the SHA-256 digest in a normalized CID.
func decodeDigest(c cid.Cid) ([]byte, error) {
	d, err := mh.Decode(c.Hash())
	if err != nil {
		return nil, err
	}
	return d.Digest, nil
}
