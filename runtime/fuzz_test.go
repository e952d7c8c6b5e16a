package runtime_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vai-dev/vai/runtime"
)

// FuzzDecode checks that the decoder never panics, that anything it accepts
// is canonical (re-encodes to the same bytes), and that the optimised
// executor agrees with the reference on what it accepts. The seed corpus is
// in testdata/fuzz/FuzzDecode; run longer with
// go test ./runtime -run '^$' -fuzz FuzzDecode -fuzztime 60s.
func FuzzDecode(f *testing.F) {
	b, err := goldenModel().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 11))
		for _, m := range []*runtime.Model{randMLP(r), randCNN(r)} {
			if b, err := m.MarshalBinary(); err == nil && len(b) < 4096 {
				f.Add(b)
			}
		}
	}
	lim := runtime.Limits{MaxBytes: 1 << 20, MaxMemory: 16 << 20, MaxLayers: 32}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := runtime.DecodeLimits(b, lim)
		if err != nil {
			return
		}
		re, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatal("decoder accepted a non-canonical encoding")
		}
		if m.Input.Size() > 1<<12 {
			return
		}
		in := make([]int8, 2*m.Input.Size())
		for i := range in {
			in[i] = int8(i*37 + len(b))
		}
		want, err := runtime.Reference(m, in, 2)
		if err != nil {
			t.Fatal(err)
		}
		e, err := runtime.NewExecutor(m, runtime.ExecConfig{Workers: 2, Limits: lim})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Run(in, 2)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("executor %v (%v) != reference %v", got, err, want)
		}
	})
}

var genCorpus = flag.Bool("gencorpus", false, "write the fuzz seed corpus to testdata/fuzz")

// TestGenCorpus writes the committed seed corpus of FuzzDecode (with
// -gencorpus): the golden model, small random models and truncations.
func TestGenCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz/FuzzDecode")
	}
	b, err := goldenModel().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	seeds := [][]byte{b, b[:len(b)/2], b[:7], append(bytes.Clone(b), 0)}
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 11))
		for _, m := range []*runtime.Model{randMLP(r), randCNN(r)} {
			if b, err := m.MarshalBinary(); err == nil && len(b) < 8192 {
				seeds = append(seeds, b)
			}
		}
	}
	for _, p := range []string{"testdata/digits_mlp.vaim", "testdata/digits_cnn.vaim"} {
		if b, err := os.ReadFile(p); err == nil {
			seeds = append(seeds, b)
		}
	}
	if err := writeCorpus("FuzzDecode", seeds); err != nil {
		t.Fatal(err)
	}
}

func writeCorpus(name string, seeds [][]byte) error {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range seeds {
		sum := sha256.Sum256(s)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
