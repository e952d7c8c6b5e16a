package manifest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/vai-dev/vai/manifest"
)

func manifestOf(n int) *manifest.Manifest {
	m := &manifest.Manifest{Serialization: manifest.Serialization{Method: manifest.Files, HashType: manifest.SHA256}}
	for i := range n {
		d := sha256.Sum256([]byte{byte(i)})
		m.Resources = append(m.Resources, manifest.Resource{Name: fmt.Sprintf("f%03d", i), Algorithm: "sha256", Digest: d[:]})
	}
	return m
}

func TestLeafData(t *testing.T) {
	got := manifest.LeafData(manifest.Resource{Name: "a/b", Algorithm: "sha256", Digest: []byte{1, 2}})
	want := []byte("\x00\x00\x00\x03a/b\x00\x00\x00\x06sha256\x00\x00\x00\x02\x01\x02")
	if !bytes.Equal(got, want) {
		t.Errorf("LeafData = %q, want %q", got, want)
	}
}

// TestTreeMatchesReference compares roots and proofs with transparency-dev's
// reference in-memory tree, for every size up to 40 and every leaf.
func TestTreeMatchesReference(t *testing.T) {
	if root := manifestOf(0).Tree().Root(); !bytes.Equal(root, sha256.New().Sum(nil)) {
		t.Errorf("empty root %x", root)
	}
	for n := 1; n <= 40; n++ {
		m := manifestOf(n)
		ref := testonly.New(rfc6962.DefaultHasher)
		for _, r := range m.Resources {
			ref.AppendData(manifest.LeafData(r))
		}
		tree := m.Tree()
		if !bytes.Equal(tree.Root(), ref.Hash()) {
			t.Fatalf("size %d: root %x, reference %x", n, tree.Root(), ref.Hash())
		}
		for i, r := range m.Resources {
			p, err := m.Prove(r.Name)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.InclusionProof(uint64(i), uint64(n))
			if fmt.Sprint(p.Hashes) != fmt.Sprint(want) {
				t.Fatalf("size %d leaf %d: proof differs from the reference", n, i)
			}
			if err := p.Verify(tree.Root(), uint64(n)); err != nil {
				t.Fatalf("size %d leaf %d: %v", n, i, err)
			}
		}
	}
}

func TestProofRejectsForgery(t *testing.T) {
	m := manifestOf(13)
	root := m.Tree().Root()
	p, _ := m.Prove("f005")
	forge := map[string]func(p *manifest.InclusionProof){
		"other digest":  func(p *manifest.InclusionProof) { p.Resource.Digest = make([]byte, 32) },
		"other name":    func(p *manifest.InclusionProof) { p.Resource.Name = "f006" },
		"other index":   func(p *manifest.InclusionProof) { p.Index = 6 },
		"other size":    func(p *manifest.InclusionProof) { p.TreeSize = 14 },
		"flipped hash":  func(p *manifest.InclusionProof) { p.Hashes[1] = bytes.Clone(p.Hashes[1]); p.Hashes[1][0] ^= 1 },
		"short proof":   func(p *manifest.InclusionProof) { p.Hashes = p.Hashes[1:] },
		"index >= size": func(p *manifest.InclusionProof) { p.Index = 13 },
	}
	for name, f := range forge {
		q := *p
		q.Hashes = append([][]byte{}, p.Hashes...)
		f(&q)
		if err := q.Verify(root, 13); !errors.Is(err, manifest.ErrProof) {
			t.Errorf("%s: Verify = %v, want ErrProof", name, err)
		}
	}
	if _, err := m.Prove("absent"); err == nil {
		t.Error("Prove of an absent name succeeded")
	}
}

func TestProofJSON(t *testing.T) {
	m := manifestOf(9)
	p, _ := m.Prove("f007")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back manifest.InclusionProof
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(m.Tree().Root(), 9); err != nil {
		t.Errorf("proof through JSON: %v", err)
	}
	for _, bad := range []string{`{"hashes":["zz"]}`, `{"digest":"q"}`, `{"extra":1}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

func TestCompare(t *testing.T) {
	want := manifestOf(5)
	got := manifestOf(5)
	got.Resources = append(got.Resources[:1], got.Resources[2:]...)                                                      // f001 missing
	got.Resources[0].Digest = make([]byte, 32)                                                                           // f000 changed
	got.Resources = append(got.Resources, manifest.Resource{Name: "new", Algorithm: "sha256", Digest: make([]byte, 32)}) // extra
	d, err := manifest.Compare(want, got)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d.Changed, d.Missing, d.Extra) != "[f000] [f001] [new]" || d.Empty() {
		t.Errorf("diff = %+v", d)
	}
	if d, _ := manifest.Compare(want, manifestOf(5)); !d.Empty() {
		t.Errorf("identical manifests differ: %+v", d)
	}
	other := manifestOf(5)
	other.Serialization.HashType = manifest.BLAKE3
	if _, err := manifest.Compare(want, other); err == nil {
		t.Error("comparing sha256 with blake3 succeeded")
	}
}

func TestCompareShards(t *testing.T) {
	a, _ := manifest.Parse(vectorJSON(t, "shards"))
	b, _ := manifest.Parse(vectorJSON(t, "shards"))
	b.Resources[1].Digest = make([]byte, 32) // big:8:16
	d, _ := manifest.Compare(a, b)
	if fmt.Sprint(d.Changed) != "[big]" || len(d.Missing)+len(d.Extra) != 0 {
		t.Errorf("diff = %+v, want big changed", d)
	}
}

func TestComparePaths(t *testing.T) {
	order := []string{".hidden", "a", "a/b", "a b/y", "a-b/x", "a.txt", "b", "é"}
	for i := range order {
		for j := range order {
			got := manifest.ComparePaths(order[i], order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}
