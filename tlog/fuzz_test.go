package tlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	vtlog "github.com/vai-dev/vai/tlog"
)

// FuzzParseProofFile checks that the tlog-proof parser (what `vai log
// verify FILE` reads first) never panics and accepts only canonical
// files: what it accepts re-encodes to the very same bytes, so a proof
// file has one spelling.
func FuzzParseProofFile(f *testing.F) {
	_, raw, _ := loadFixture(f)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := vtlog.ParseProofFile(data)
		if err != nil {
			return
		}
		if len(p.Proof) > 64 {
			t.Fatalf("accepted %d proof hashes", len(p.Proof))
		}
		for _, h := range p.Proof {
			if len(h) != 32 {
				t.Fatalf("accepted a proof hash of %d bytes", len(h))
			}
		}
		if back := p.Marshal(); !bytes.Equal(back, data) {
			t.Fatalf("accepted a non-canonical proof file:\n%q\nre-encodes as\n%q", data, back)
		}
	})
}

// FuzzVerify checks that Verify never panics, that every refusal wraps
// ErrVerify, and that whatever verifies against the fixture's genesis
// says what the fixture says: no change to a proof file can make it
// vouch for another entry, index, checkpoint, log or chain.
func FuzzVerify(f *testing.F) {
	p, _, g := loadFixture(f)
	want, err := vtlog.Verify(context.Background(), p, vtlog.VerifyOptions{Genesis: g})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p.Extra, p.Index, bytes.Join(p.Proof, nil), p.Checkpoint)
	f.Fuzz(func(t *testing.T, extra []byte, index uint64, hashes, checkpoint []byte) {
		if len(hashes)%32 != 0 {
			return
		}
		q := &vtlog.ProofFile{Extra: extra, Index: index, Checkpoint: checkpoint}
		for h := range slices.Chunk(hashes, 32) {
			q.Proof = append(q.Proof, h)
		}
		got, err := vtlog.Verify(context.Background(), q, vtlog.VerifyOptions{Genesis: g})
		if err != nil {
			if !errors.Is(err, vtlog.ErrVerify) {
				t.Fatalf("a refusal that does not wrap ErrVerify: %v", err)
			}
			return
		}
		w := *want
		if got.Disclosed == nil {
			w.Disclosed = nil
		}
		if diff := cmp.Diff(&w, got); diff != "" {
			t.Fatalf("an altered proof verified and reports (-fixture +altered):\n%s", diff)
		}
	})
}

var genCorpus = flag.Bool("gencorpus", false, "write the fuzz seed corpus to testdata/fuzz")

// TestGenCorpus writes the committed seed corpora (with -gencorpus): the
// fixture, and variants of it that stop at each stage of parsing and
// verification.
func TestGenCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz/FuzzParseProofFile and FuzzVerify")
	}
	p, raw, _ := loadFixture(t)
	min := (&vtlog.ProofFile{Index: 0, Checkpoint: p.Checkpoint}).Marshal()
	files := [][]byte{raw, min,
		bytes.Replace(raw, []byte("index 3\n"), []byte("index 03\n"), 1),
		bytes.Replace(min, []byte("index 0\n"), []byte("index 0\nextra AA==\n"), 1),
		[]byte(vtlog.ProofHeader + "\nextra \nindex 1\n\nx\n"),
		[]byte(vtlog.ProofHeader + "\nindex 18446744073709551615\n" + strings.Repeat("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 65) + "\nx\n"),
		[]byte(vtlog.ProofHeader + "\n\n"),
		[]byte(vtlog.ProofHeader + "\nextra QUFB\r\nindex 0\n\nx\n"),
		[]byte(vtlog.ProofHeader + "\nindex 0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\rAAAAAAA=\n\nx\n"),
	}
	var parse []string
	for _, b := range files {
		parse = append(parse, fmt.Sprintf("[]byte(%q)", b))
	}
	writeCorpus(t, "FuzzParseProofFile", parse)

	var ev vtlog.Evidence
	if err := json.Unmarshal(p.Extra, &ev); err != nil {
		t.Fatal(err)
	}
	variants := []func(*vtlog.Evidence){
		func(*vtlog.Evidence) {},
		func(ev *vtlog.Evidence) { ev.Disclosure = nil },
		func(ev *vtlog.Evidence) { ev.Height++ },
		func(ev *vtlog.Evidence) { ev.LightBlocks = ev.LightBlocks[1:] },
		func(ev *vtlog.Evidence) { ev.Entry = agentEntry(2) },
		func(ev *vtlog.Evidence) { ev.Name = "other" },
		func(ev *vtlog.Evidence) { ev.Disclosure.Field = "result" },
	}
	var verify []string
	for _, v := range variants {
		e := ev
		if ev.Disclosure != nil {
			d := *ev.Disclosure
			e.Disclosure = &d
		}
		e.LightBlocks = append([][]byte(nil), ev.LightBlocks...)
		v(&e)
		extra, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, idx := range []uint64{p.Index, p.Index + 1} {
			verify = append(verify, fmt.Sprintf("[]byte(%q)\nuint64(%d)\n[]byte(%q)\n[]byte(%q)", extra, idx, bytes.Join(p.Proof, nil), p.Checkpoint))
		}
	}
	writeCorpus(t, "FuzzVerify", verify)
}

func writeCorpus(t *testing.T, name string, entries []string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		body := "go test fuzz v1\n" + e + "\n"
		sum := sha256.Sum256([]byte(body))
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFuzzCorpusPresent(t *testing.T) {
	for _, name := range []string{"FuzzParseProofFile", "FuzzVerify"} {
		if ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", name)); err != nil || len(ents) == 0 {
			t.Errorf("committed seed corpus of %s missing: %v", name, err)
		}
	}
}
