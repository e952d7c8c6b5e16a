package registry_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"encoding/json"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// chain is a test chain with the registry module.
func chain(t *testing.T, arbiters ...wire.Address) (*ledgertest.Chain, *registry.Module) {
	t.Helper()
	p := registry.DefaultParams()
	p.DisputeWindow, p.AppealWindow = 3, 3
	if arbiters != nil {
		p.Arbiters = arbiters
	}
	var gen map[string]json.RawMessage
	json.Unmarshal((&registry.Module{}).DefaultGenesis(), &gen)
	gen["params"] = ledger.MustEncodeJSON(p)
	c := ledgertest.New(t, ledgertest.Options{
		ModuleAccounts: []string{registry.Name},
		Funds:          100_000_000,
		Modules: func(b *bank.Module) []ledger.Module {
			return []ledger.Module{registry.New(b.Keeper)}
		},
		Genesis: map[string]json.RawMessage{registry.Name: ledger.MustEncodeJSON(gen)},
	})
	c.Block()
	return c, c.Mods[0].(*registry.Module)
}

// dir writes files into a new directory and builds its manifest.
func dir(t *testing.T, files map[string]string) (string, *manifest.Result) {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := manifest.Build(context.Background(), root, manifest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return root, res
}

// record is the identity and content of a built manifest.
func record(t *testing.T, res *manifest.Result) (registry.ID, registry.Content) {
	t.Helper()
	c, _, err := cas.Sum(bytes.NewReader(res.Manifest.Canonical()))
	if err != nil {
		t.Fatal(err)
	}
	return registry.ManifestRecord(res.Manifest, res.Files, res.Bytes, c.String())
}

func datasetMsg(t *testing.T, c *ledgertest.Chain, files map[string]string, license string, parents ...registry.ID) (registry.ID, wire.Msg) {
	t.Helper()
	_, res := dir(t, files)
	id, content := record(t, res)
	return id, c.Msg("registry/register_dataset", registry.MsgRegisterDataset{ID: id, Name: "d", License: license, Parents: parents, Content: content})
}

func ok(t *testing.T, r ledger.TxResult) {
	t.Helper()
	if !r.OK() {
		t.Fatalf("transaction failed: %s/%d %s", r.Codespace, r.Code, r.Log)
	}
}

func fails(t *testing.T, r ledger.TxResult, want *ledger.Error) {
	t.Helper()
	if r.Code != want.Code || r.Codespace != want.Codespace {
		t.Fatalf("got %s/%d %q, want %s/%d (%s)", r.Codespace, r.Code, r.Log, want.Codespace, want.Code, want.Desc)
	}
}

func record1(t *testing.T, c *ledgertest.Chain, id registry.ID) registry.RecordResponse {
	t.Helper()
	var r registry.RecordResponse
	c.Query("/registry/record", map[string]any{"id": id}, &r)
	return r
}

func addr(k ed25519.PrivateKey) wire.Address { return ledgertest.Addr(k) }

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
