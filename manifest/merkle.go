package manifest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The resources of a manifest, in order, are the leaves of an RFC 6962
// Merkle tree (SHA-256, leaf hash = SHA-256(0x00 || leaf), node hash =
// SHA-256(0x01 || left || right)). Its root lets anyone prove with
// log2(n) hashes that a file with a given digest is part of a manifest,
// without the manifest.

// ErrProof is wrapped by the errors of InclusionProof.Verify.
var ErrProof = errors.New("invalid inclusion proof")

// LeafData is the canonical encoding of a resource as a Merkle leaf: its
// name, algorithm and raw digest, each preceded by its length as a 4-byte
// big-endian integer.
func LeafData(r Resource) []byte {
	b := make([]byte, 0, 12+len(r.Name)+len(r.Algorithm)+len(r.Digest))
	for _, f := range [][]byte{[]byte(r.Name), []byte(r.Algorithm), r.Digest} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// Tree is an RFC 6962 Merkle tree: of a manifest's resources, or of any
// leaves (NewTree; the market's batches of inference records use it).
type Tree struct {
	// levels[l][i] is the hash of the perfect subtree of 2^l leaves that
	// starts at leaf i·2^l; incomplete subtrees are not stored.
	levels [][][]byte
	size   uint64
}

// Tree builds the Merkle tree of the resources.
func (m *Manifest) Tree() *Tree {
	h := rfc6962.DefaultHasher
	leaves := make([][]byte, len(m.Resources))
	for i, r := range m.Resources {
		leaves[i] = h.HashLeaf(LeafData(r))
	}
	return NewTree(leaves)
}

// NewTree builds the tree of the given leaf hashes (HashLeaf of each leaf).
func NewTree(leaves [][]byte) *Tree {
	h := rfc6962.DefaultHasher
	t := &Tree{size: uint64(len(leaves))}
	t.levels = append(t.levels, leaves)
	for lv := leaves; len(lv) > 1; {
		next := make([][]byte, len(lv)/2)
		for i := range next {
			next[i] = h.HashChildren(lv[2*i], lv[2*i+1])
		}
		t.levels = append(t.levels, next)
		lv = next
	}
	return t
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Root returns the RFC 6962 root hash; for no leaves, SHA-256 of "".
func (t *Tree) Root() []byte {
	if t.size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	return t.subtree(0, t.size)
}

// subtree returns the hash of leaves [begin, end), where begin is aligned
// to the largest power of two not larger than end-begin, as RFC 6962
// splits them.
func (t *Tree) subtree(begin, end uint64) []byte {
	n := end - begin
	lv := 0
	for uint64(1)<<(lv+1) <= n {
		lv++
	}
	if uint64(1)<<lv == n {
		return t.levels[lv][begin>>lv]
	}
	split := begin + uint64(1)<<lv
	return rfc6962.DefaultHasher.HashChildren(t.levels[lv][begin>>lv], t.subtree(split, end))
}

// InclusionProof proves that Resource is leaf Index of a manifest tree of
// TreeSize leaves.
type InclusionProof struct {
	Resource Resource
	Index    uint64
	TreeSize uint64
	Hashes   [][]byte
}

// Prove returns the inclusion proof of the resource named name (a file
// path in files mode, "<path>:<start>:<end>" in shards mode).
func (m *Manifest) Prove(name string) (*InclusionProof, error) {
	for i, r := range m.Resources {
		if r.Name == name {
			return m.Tree().Prove(uint64(i), r)
		}
	}
	return nil, fmt.Errorf("no resource %q in the manifest", name)
}

// Prove returns the inclusion proof of leaf index, which is r.
func (t *Tree) Prove(index uint64, r Resource) (*InclusionProof, error) {
	hashes, err := t.Path(index)
	if err != nil {
		return nil, err
	}
	return &InclusionProof{Resource: r, Index: index, TreeSize: t.size, Hashes: hashes}, nil
}

// Path returns the RFC 6962 inclusion proof (audit path) of leaf index.
func (t *Tree) Path(index uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, t.size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		hashes[i] = t.subtree(begin, min(end, t.size))
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// Verify checks the proof against a manifest's Merkle root and number of
// resources. Take both from a trusted record (the registration): the root
// binds the tree only together with its size, so the proof's own TreeSize
// is checked against treeSize rather than trusted.
func (p *InclusionProof) Verify(root []byte, treeSize uint64) error {
	if p.TreeSize != treeSize {
		return fmt.Errorf("%w: proof is for a tree of %d leaves, not %d", ErrProof, p.TreeSize, treeSize)
	}
	h := rfc6962.DefaultHasher
	if err := proof.VerifyInclusion(h, p.Index, p.TreeSize, h.HashLeaf(LeafData(p.Resource)), p.Hashes, root); err != nil {
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	return nil
}

type proofJSON struct {
	Name      string   `json:"name"`
	Algorithm string   `json:"algorithm"`
	Digest    string   `json:"digest"`
	Index     uint64   `json:"index"`
	TreeSize  uint64   `json:"tree_size"`
	Hashes    []string `json:"hashes"`
}

// MarshalJSON encodes the proof with hex digests and hashes.
func (p *InclusionProof) MarshalJSON() ([]byte, error) {
	j := proofJSON{p.Resource.Name, p.Resource.Algorithm, hex.EncodeToString(p.Resource.Digest), p.Index, p.TreeSize, make([]string, len(p.Hashes))}
	for i, h := range p.Hashes {
		j.Hashes[i] = hex.EncodeToString(h)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes, strictly.
func (p *InclusionProof) UnmarshalJSON(data []byte) error {
	var j proofJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	d, err := hex.DecodeString(j.Digest)
	if err != nil {
		return fmt.Errorf("%w: digest is not hex", ErrProof)
	}
	hashes := make([][]byte, len(j.Hashes))
	for i, s := range j.Hashes {
		if hashes[i], err = hex.DecodeString(s); err != nil || len(hashes[i]) != 32 {
			return fmt.Errorf("%w: hash %d is not 32 bytes of hex", ErrProof, i)
		}
	}
	*p = InclusionProof{Resource{j.Name, j.Algorithm, d}, j.Index, j.TreeSize, hashes}
	return nil
}
