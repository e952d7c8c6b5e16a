package registry_test

import (
	"encoding/hex"
	"testing"

	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

func denyState(t *testing.T, c *ledgertest.Chain, h registry.ContentHash) registry.Deny {
	t.Helper()
	var d registry.Deny
	c.Query("/registry/deny", map[string]any{"hash": h}, &d)
	return d
}

func TestDenyLifecycleAndBonds(t *testing.T) {
	t.Parallel()
	arbiter := ledgertest.Key(3)
	c, _ := chain(t, addr(arbiter))
	holder, disputer := c.Keys[0], c.Keys[1]
	start := c.Balance(addr(holder))
	fee := uint64(1_000)
	bond := registry.DefaultParams().DenyBond.Amount

	// Undisputed: active after the window, bond back.
	h1 := hashOf("song-1")
	ok(t, c.Block(c.Tx(holder, c.Msg("registry/deny", registry.MsgDeny{Hash: h1, Reason: "my song"}))).Txs[0])
	if d := denyState(t, c, h1); d.State != registry.DenyPending || c.Balance(addr(holder)) != start-fee-bond {
		t.Fatalf("after deny: %s, balance %d", d.State, c.Balance(addr(holder)))
	}
	for range 4 {
		c.Block()
	}
	if d := denyState(t, c, h1); d.State != registry.DenyActive || c.Balance(addr(holder)) != start-fee {
		t.Fatalf("after the window: %s, balance %d (want bond back)", d.State, c.Balance(addr(holder)))
	}
	fails(t, c.Block(c.Tx(disputer, c.Msg("registry/dispute", registry.MsgDispute{Hash: h1, Reason: "late"}))).Txs[0], registry.ErrDenied)

	// Disputed and not appealed: the disputer takes the holder's bond.
	h2 := hashOf("song-2")
	ok(t, c.Block(c.Tx(holder, c.Msg("registry/deny", registry.MsgDeny{Hash: h2, Reason: "mine too"}))).Txs[0])
	dstart := c.Balance(addr(disputer))
	ok(t, c.Block(c.Tx(disputer, c.Msg("registry/dispute", registry.MsgDispute{Hash: h2, Reason: "public domain"}))).Txs[0])
	fails(t, c.Block(c.Tx(disputer, c.Msg("registry/appeal", registry.MsgAppeal{Hash: h2}))).Txs[0], registry.ErrUnauthorized)
	for range 4 {
		c.Block()
	}
	if d := denyState(t, c, h2); d.State != registry.DenyRejected {
		t.Fatalf("unappealed dispute: %s", d.State)
	}
	if got := c.Balance(addr(disputer)); got != dstart-2*fee+bond {
		t.Fatalf("disputer balance %d, want %d", got, dstart-2*fee+bond)
	}

	// Appealed and upheld: the holder takes everything.
	h3 := hashOf("song-3")
	ok(t, c.Block(c.Tx(holder, c.Msg("registry/deny", registry.MsgDeny{Hash: h3, Reason: "r"}))).Txs[0])
	ok(t, c.Block(c.Tx(disputer, c.Msg("registry/dispute", registry.MsgDispute{Hash: h3, Reason: "no"}))).Txs[0])
	hstart := c.Balance(addr(holder))
	ok(t, c.Block(c.Tx(holder, c.Msg("registry/appeal", registry.MsgAppeal{Hash: h3}))).Txs[0])
	fails(t, c.Block(c.Tx(holder, c.Msg("registry/resolve", registry.MsgResolve{Hash: h3, Uphold: true}))).Txs[0], registry.ErrUnauthorized)
	for range 5 {
		c.Block() // no deadline while appealed
	}
	if d := denyState(t, c, h3); d.State != registry.DenyAppealed {
		t.Fatalf("appealed entry moved on its own to %s", d.State)
	}
	ok(t, c.Block(c.Tx(arbiter, c.Msg("registry/resolve", registry.MsgResolve{Hash: h3, Uphold: true}))).Txs[0])
	if d := denyState(t, c, h3); d.State != registry.DenyActive || d.DecidedBy != addr(arbiter) {
		t.Fatalf("upheld entry: %+v", d)
	}
	// holder: -fee (appeal) -fee (its failed resolve) -appeal bond, then +deny +appeal +dispute bonds
	if got, want := c.Balance(addr(holder)), hstart-2*fee+registry.DefaultParams().DenyBond.Amount+registry.DefaultParams().DisputeBond.Amount; got != want {
		t.Fatalf("holder balance %d, want %d", got, want)
	}
	if c.Balance(wire.ModuleAddress(registry.Name)) != 0 {
		t.Fatal("the registry still holds bonds of settled entries")
	}
}

func TestAppealNeedsArbiters(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	h := hashOf("x")
	ok(t, c.Block(c.Tx(c.Keys[0], c.Msg("registry/deny", registry.MsgDeny{Hash: h, Reason: "r"}))).Txs[0])
	ok(t, c.Block(c.Tx(c.Keys[1], c.Msg("registry/dispute", registry.MsgDispute{Hash: h}))).Txs[0])
	fails(t, c.Block(c.Tx(c.Keys[0], c.Msg("registry/appeal", registry.MsgAppeal{Hash: h}))).Txs[0], registry.ErrNoArbiters)
}

func proofMsg(t *testing.T, m *manifest.Manifest, name string) registry.Proof {
	t.Helper()
	p, err := m.Prove(name)
	if err != nil {
		t.Fatal(err)
	}
	out := registry.Proof{Name: p.Resource.Name, Algorithm: p.Resource.Algorithm, Digest: hex.EncodeToString(p.Resource.Digest), Index: p.Index, TreeSize: p.TreeSize}
	for _, h := range p.Hashes {
		out.Hashes = append(out.Hashes, hex.EncodeToString(h))
	}
	return out
}

func TestFlagWithMerkleProof(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	owner, rights, anyone := c.Keys[0], c.Keys[1], c.Keys[2]
	files := map[string]string{"a.txt": "fine", "b/stolen.mp3": "someone else's song", "c.txt": "fine too", "d.csv": "1,2"}
	_, res := dir(t, files)
	ds, content := record(t, res)
	ok(t, c.Block(c.Tx(owner, c.Msg("registry/register_dataset", registry.MsgRegisterDataset{ID: ds, Name: "mix", License: "MIT", Content: content}))).Txs[0])
	model, mmsg := modelMsg(t, c, map[string]string{"w": "weights"}, "m", registry.MsgRegisterModel{Datasets: []registry.ID{ds}})
	ok(t, c.Block(c.Tx(owner, mmsg)).Txs[0])
	derived, dmsg := datasetMsg(t, c, map[string]string{"subset": "x"}, "MIT", ds)
	ok(t, c.Block(c.Tx(owner, dmsg)).Txs[0])

	h := hashOf(files["b/stolen.mp3"])
	proof := proofMsg(t, res.Manifest, "b/stolen.mp3")
	flag := registry.MsgFlag{Record: ds, Hash: h, Proof: proof}
	// Not yet on the deny-list, then only pending: no flag.
	fails(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", flag))).Txs[0], registry.ErrDenied)
	ok(t, c.Block(c.Tx(rights, c.Msg("registry/deny", registry.MsgDeny{Hash: h, Reason: "copyright"}))).Txs[0])
	fails(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", flag))).Txs[0], registry.ErrDenied)
	for range 4 {
		c.Block()
	}
	// Forged proofs fail.
	forged := flag
	forged.Proof.Hashes = append([]string(nil), proof.Hashes...)
	forged.Proof.Hashes[0] = hex.EncodeToString(make([]byte, 32))
	fails(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", forged))).Txs[0], registry.ErrProof)
	wrongFile := flag
	wrongFile.Proof = proofMsg(t, res.Manifest, "a.txt")
	fails(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", wrongFile))).Txs[0], registry.ErrProof)
	wrongSize := flag
	wrongSize.Proof.TreeSize++
	fails(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", wrongSize))).Txs[0], registry.ErrProof)
	for _, r := range []registry.ID{ds, model, derived} {
		if s := record1(t, c, r).Status; !s.Clean() {
			t.Fatalf("%s flagged by a failed attempt: %+v", r, s)
		}
	}
	// The real proof flags the dataset, and everything downstream shows it.
	ok(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", flag))).Txs[0])
	for _, r := range []registry.ID{ds, model, derived} {
		s := record1(t, c, r).Status
		if len(s.Flags) != 1 || s.Flags[0].Record != ds || s.Flags[0].File != "b/stolen.mp3" || s.Flags[0].Flagger != addr(anyone) {
			t.Fatalf("status of %s = %+v", r, s)
		}
	}
	fails(t, c.Block(c.Tx(anyone, c.Msg("registry/flag", flag))).Txs[0], registry.ErrExists)
	// A flagged dataset cannot be named by new models.
	_, m2 := modelMsg(t, c, map[string]string{"w": "w2"}, "m", registry.MsgRegisterModel{Datasets: []registry.ID{ds}})
	fails(t, c.Block(c.Tx(owner, m2)).Txs[0], registry.ErrFlagged)
}

func TestGenesisRoundTrip(t *testing.T) {
	t.Parallel()
	c, reg := chain(t)
	k := c.Keys[0]
	ds, dmsg := datasetMsg(t, c, map[string]string{"x": "1"}, "MIT")
	ok(t, c.Block(c.Tx(k, dmsg)).Txs[0])
	child, cmsg := datasetMsg(t, c, map[string]string{"y": "2"}, "MIT", ds)
	ok(t, c.Block(c.Tx(k, cmsg)).Txs[0])
	m, mmsg := modelMsg(t, c, map[string]string{"w": "1"}, "m", registry.MsgRegisterModel{Datasets: []registry.ID{child}})
	ok(t, c.Block(c.Tx(k, mmsg)).Txs[0])
	ok(t, c.Block(c.Tx(k, c.Msg("registry/deny", registry.MsgDeny{Hash: hashOf("z"), Reason: "r"}))).Txs[0])
	_ = reg
	app, _, err := c.L.ExportGenesis()
	if err != nil {
		t.Fatal(err)
	}
	d := ledgertest.New(t, ledgertest.Options{ModuleAccounts: []string{registry.Name}, Modules: c.ModsFunc(), Genesis: app})
	d.Block() // invariants (bonds held) checked here
	var l registry.Lineage
	d.Query("/registry/lineage", map[string]any{"id": m}, &l)
	if len(l.Nodes) != 3 {
		t.Fatalf("imported lineage has %d nodes", len(l.Nodes))
	}
	var a registry.AliasResponse
	d.Query("/registry/alias", map[string]any{"name": "m", "alias": "latest"}, &a)
	if a.Model != m || len(a.History) != 1 {
		t.Fatalf("imported alias = %+v", a)
	}
	if got := denyState(t, d, hashOf("z")); got.State != registry.DenyPending || got.HolderBond.IsZero() {
		t.Fatalf("imported deny entry = %+v", got)
	}
}
