package provenance_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/types"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/internal/node/nodetest"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// world is a devnet with a dataset and a model trained on it.
type world struct {
	n        *node.Node
	pc       *provenance.Client
	dev      ed25519.PrivateKey
	home     string
	ds, mdl  registry.ID
	modelDir string
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	n, dev, home := nodetest.Devnet(t)
	w := &world{n: n, dev: dev, home: home, pc: provenance.New(n.Client, n.Endpoints().API)}
	ctx := context.Background()
	data := t.TempDir()
	write(t, data, map[string]string{"rows.csv": "1,2,3\n4,5,6\n", "LICENSE": "CC-BY-4.0"})
	b, err := provenance.Build(ctx, data, manifest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	content, err := w.pc.Store(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	w.ds = b.ID
	w.send(t, "registry/register_dataset", registry.MsgRegisterDataset{ID: b.ID, Name: "rows", License: "CC-BY-4.0", Content: content})
	w.modelDir = t.TempDir()
	write(t, w.modelDir, map[string]string{"weights.bin": "w", "config.json": "{}"})
	b, err = provenance.Build(ctx, w.modelDir, manifest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	content, err = w.pc.Store(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	w.mdl = b.ID
	w.send(t, "registry/register_model", registry.MsgRegisterModel{ID: b.ID, Name: "m", License: "MIT", Datasets: []registry.ID{w.ds}, Content: content})
	return w
}

func (w *world) send(t *testing.T, typ string, v any) {
	t.Helper()
	m, err := wire.NewMsg(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.n.Client.Send(context.Background(), w.dev, client.TxOptions{Wait: true}, m); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func (w *world) verifier(t *testing.T) *client.Verifier {
	t.Helper()
	g, err := types.GenesisDocFromFile(filepath.Join(w.home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.NewVerifier(context.Background(), client.VerifierConfig{Node: w.n.Endpoints().RPC, ChainID: g.ChainID, Genesis: g})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rep, err := w.pc.Verify(ctx, w.modelDir, provenance.VerifyOptions{Verifier: w.verifier(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Record.Kind != "model" || len(rep.Lineage.Nodes) != 2 {
		t.Fatalf("verify = %+v", rep)
	}
	// Two records, each with its (absent) flags: four facts, all verified.
	if len(rep.Proofs) != 4 {
		t.Fatalf("%d facts proven, want 4", len(rep.Proofs))
	}
	for _, p := range rep.Proofs {
		if !p.Verified {
			t.Errorf("fact %s did not verify", p.Fact)
		}
	}
	// A changed file: no registration by identity, and named with --id.
	write(t, w.modelDir, map[string]string{"weights.bin": "W", "extra.txt": "x"})
	os.Remove(filepath.Join(w.modelDir, "config.json"))
	rep, err = w.pc.Verify(ctx, w.modelDir, provenance.VerifyOptions{})
	if err != nil || rep.OK || rep.Record != nil {
		t.Fatalf("changed model: %+v %v", rep, err)
	}
	rep, err = w.pc.Verify(ctx, w.modelDir, provenance.VerifyOptions{ID: w.mdl})
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Diff
	if rep.OK || d == nil || strings.Join(d.Changed, ",") != "weights.bin" || strings.Join(d.Missing, ",") != "config.json" || strings.Join(d.Extra, ",") != "extra.txt" {
		t.Fatalf("diff = %+v", d)
	}
}

// TestBundleEveryByte exports a real bundle and changes bytes all over it:
// every change must fail verification, with a reason.
func TestBundleEveryByte(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	v := w.verifier(t)
	b, err := w.pc.Export(ctx, v, v.Genesis(), w.mdl)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := provenance.VerifyBundle(data, "")
	if err != nil {
		t.Fatalf("honest bundle: %v", err)
	}
	if !rep.FromGenesis || len(rep.Lineage.Nodes) != 2 || strings.Join(rep.Licences, ",") != "MIT,CC-BY-4.0" {
		t.Fatalf("report = %+v", rep)
	}
	if _, err := provenance.VerifyBundle(data, rep.TrustRoot); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	// Every byte in the first 4 KiB (the structure), then a sample of the rest.
	positions := []int{}
	for i := 0; i < len(data) && i < 4096; i++ {
		positions = append(positions, i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1500 {
		positions = append(positions, rng.IntN(len(data)))
	}
	for _, i := range positions {
		mutated := append([]byte(nil), data...)
		mutated[i] ^= 1 + byte(rng.IntN(255))
		if _, err := provenance.VerifyBundle(mutated, rep.TrustRoot); !errors.Is(err, provenance.ErrBundle) {
			t.Fatalf("byte %d (%q→%q) changed: err = %v", i, data[i], mutated[i], err)
		}
	}
}
