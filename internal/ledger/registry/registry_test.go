package registry_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

func TestDatasetRegistration(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	alice, bob := c.Keys[0], c.Keys[1]
	id, msg := datasetMsg(t, c, map[string]string{"data.csv": "a,b\n1,2\n", "README": "x"}, "CC-BY-4.0")
	res := c.Block(c.Tx(alice, msg)).Txs[0]
	ok(t, res)
	r := record1(t, c, id)
	if r.Kind != "dataset" || r.Dataset.Owner != addr(alice) || r.Dataset.License != "CC-BY-4.0" || r.Dataset.Files != 2 {
		t.Fatalf("record = %+v", r)
	}
	if len(r.Dataset.Contributors) != 1 || r.Dataset.Contributors[0].Address != addr(alice) {
		t.Errorf("no contributors given: the owner should be the sole contributor, got %+v", r.Dataset.Contributors)
	}
	// The first registrant wins; the second learns who and when.
	res = c.Block(c.Tx(bob, msg)).Txs[0]
	fails(t, res, registry.ErrExists)
	if !strings.Contains(res.Log, addr(alice).String()) || !strings.Contains(res.Log, "height 2") {
		t.Errorf("re-registration error does not say who and when: %s", res.Log)
	}
}

func TestBadRegistrationsRecordNothing(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	k := c.Keys[0]
	_, res := dir(t, map[string]string{"f": "data"})
	id, content := record(t, res)
	other, _ := dir(t, map[string]string{"g": "other"})
	_ = other
	unregistered := registry.ID("sha256:" + strings.Repeat("ab", 32))
	w := func(v uint64, a wire.Address) registry.Contributor {
		return registry.Contributor{Address: a, Weight: v}
	}
	base := registry.MsgRegisterDataset{ID: id, Name: "d", License: "MIT", Content: content}
	tests := []struct {
		name string
		mut  func(m *registry.MsgRegisterDataset)
		want *ledger.Error
	}{
		{"invalid SPDX", func(m *registry.MsgRegisterDataset) { m.License = "MIT OR" }, registry.ErrLicense},
		{"unknown licence", func(m *registry.MsgRegisterDataset) { m.License = "Totally-Free-1.0" }, registry.ErrLicense},
		{"zero weight", func(m *registry.MsgRegisterDataset) { m.Contributors = []registry.Contributor{w(0, addr(k))} }, registry.ErrWeights},
		{"overflowing weights", func(m *registry.MsgRegisterDataset) {
			m.Contributors = []registry.Contributor{w(1<<63, addr(k)), w(1<<63, addr(c.Keys[1]))}
		}, registry.ErrWeights},
		{"duplicate contributor", func(m *registry.MsgRegisterDataset) {
			m.Contributors = []registry.Contributor{w(1, addr(k)), w(2, addr(k))}
		}, registry.ErrWeights},
		{"unregistered parent", func(m *registry.MsgRegisterDataset) { m.Parents = []registry.ID{unregistered} }, registry.ErrNotFound},
		{"itself as parent", func(m *registry.MsgRegisterDataset) { m.Parents = []registry.ID{id} }, registry.ErrNotFound},
		{"CID of other bytes", func(m *registry.MsgRegisterDataset) {
			cidOf, _, _ := cas.Sum(strings.NewReader("not the manifest"))
			m.ManifestCID = cidOf.String()
		}, registry.ErrInvalid},
		{"bad merkle root", func(m *registry.MsgRegisterDataset) { m.MerkleRoot = "xyz" }, registry.ErrInvalid},
	}
	for _, tt := range tests {
		msg := base
		tt.mut(&msg)
		r := c.Block(c.Tx(k, c.Msg("registry/register_dataset", msg))).Txs[0]
		if r.Code != tt.want.Code || r.Codespace != tt.want.Codespace {
			t.Errorf("%s: got %s/%d %q, want %s", tt.name, r.Codespace, r.Code, r.Log, tt.want.Desc)
		}
	}
	var list registry.ListResponse
	c.Query("/registry/list", map[string]any{"kind": "dataset"}, &list)
	if len(list.Datasets) != 0 {
		t.Fatalf("bad registrations left %d datasets", len(list.Datasets))
	}
	// A raw bad id in the message is a decoding error.
	r := c.Block(c.Tx(k, wire.Msg{Type: "registry/register_dataset", Value: []byte(`{"id":"md5:abc","name":"d","license":"MIT"}`)})).Txs[0]
	fails(t, r, ledger.ErrInvalidMsg)
}

// trainingRun signs an SLSA statement for checkpoint ck trained on datasets.
func trainingRun(t *testing.T, c *ledgertest.Chain, k ed25519.PrivateKey, ck registry.ID, base registry.ID, datasets ...registry.ID) (registry.ID, wire.Msg) {
	t.Helper()
	st, err := registry.BuildRunStatement(registry.RunSpec{Checkpoint: ck, CheckpointName: "ckpt", Datasets: datasets, Base: base,
		Hyperparameters: jsontext.Value(`{"lr": 0.01, "epochs": 3}`), CodeURI: "git+https://example.com/train.git", CodeCommit: strings.Repeat("a", 40),
		Trainer: addr(k)})
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(k, wire.PAE(registry.InTotoPayloadType, st))
	cidOf, _, _ := cas.Sum(strings.NewReader(string(st)))
	return registry.RunID(st), c.Msg("registry/record_run", registry.MsgRecordRun{Statement: st, Signature: sig, StatementCID: cidOf.String()})
}

func modelMsg(t *testing.T, c *ledgertest.Chain, files map[string]string, name string, m registry.MsgRegisterModel) (registry.ID, wire.Msg) {
	t.Helper()
	_, res := dir(t, files)
	id, content := record(t, res)
	m.ID, m.Name, m.Content = id, name, content
	if m.License == "" {
		m.License = "Apache-2.0"
	}
	return id, c.Msg("registry/register_model", m)
}

func TestModelLineageRunsAndAliases(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	alice, bob := c.Keys[0], c.Keys[1]
	ds, dmsg := datasetMsg(t, c, map[string]string{"rows.csv": "1,2,3"}, "CC-BY-4.0")
	ok(t, c.Block(c.Tx(alice, dmsg)).Txs[0])

	// A base model, then a run and a fine-tuned checkpoint on the dataset.
	baseID, bmsg := modelMsg(t, c, map[string]string{"w.bin": "base"}, "digits", registry.MsgRegisterModel{})
	ok(t, c.Block(c.Tx(alice, bmsg)).Txs[0])
	_, res := dir(t, map[string]string{"w.bin": "tuned"})
	ckID, content := record(t, res)
	runID, rmsg := trainingRun(t, c, alice, ckID, baseID, ds)
	ok(t, c.Block(c.Tx(alice, rmsg)).Txs[0])

	tuned := registry.MsgRegisterModel{ID: ckID, Name: "digits", License: "Apache-2.0", Run: runID, Content: content,
		Terms: registry.Terms{Price: wire.UVAI(100), RoyaltyBps: 2500}}
	ok(t, c.Block(c.Tx(alice, c.Msg("registry/register_model", tuned))).Txs[0])
	r := record1(t, c, ckID)
	if r.Model.Base != baseID || len(r.Model.Datasets) != 1 || r.Model.Datasets[0] != ds {
		t.Fatalf("datasets and base should come from the run: %+v", r.Model)
	}
	var l registry.Lineage
	c.Query("/registry/lineage", map[string]any{"id": ckID}, &l)
	kinds := map[string]int{}
	for _, n := range l.Nodes {
		kinds[n.Kind]++
	}
	if kinds["model"] != 2 || kinds["dataset"] != 1 || kinds["run"] != 1 || len(l.Edges) != 5 {
		t.Fatalf("lineage = %v nodes, %d edges", kinds, len(l.Edges))
	}
	if rec := record1(t, c, ds); len(rec.UsedBy) != 2 {
		t.Errorf("dataset used by %v, want the run and the tuned model", rec.UsedBy)
	}

	// @latest follows registrations; other aliases move by hand; every move is kept.
	var a registry.AliasResponse
	c.Query("/registry/alias", map[string]any{"name": "digits", "alias": "latest"}, &a)
	if a.Model != ckID || len(a.History) != 2 || a.History[1].From != baseID {
		t.Fatalf("digits@latest = %+v", a)
	}
	ok(t, c.Block(c.Tx(alice, c.Msg("registry/set_alias", registry.MsgSetAlias{Name: "digits", Alias: "prod", Model: baseID}))).Txs[0])
	ok(t, c.Block(c.Tx(alice, c.Msg("registry/set_alias", registry.MsgSetAlias{Name: "digits", Alias: "prod", Model: ckID}))).Txs[0])
	c.Query("/registry/alias", map[string]any{"name": "digits", "alias": "prod"}, &a)
	if a.Model != ckID || len(a.History) != 2 || a.History[0].Model != baseID {
		t.Fatalf("digits@prod = %+v", a)
	}
	// Only the name's owner moves its aliases or registers under it.
	fails(t, c.Block(c.Tx(bob, c.Msg("registry/set_alias", registry.MsgSetAlias{Name: "digits", Alias: "prod", Model: baseID}))).Txs[0], registry.ErrName)
	_, squat := modelMsg(t, c, map[string]string{"w.bin": "squatter"}, "digits", registry.MsgRegisterModel{})
	fails(t, c.Block(c.Tx(bob, squat)).Txs[0], registry.ErrName)
}

func TestRunsAreCheckedAgainstSignerAndLineage(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	alice, bob := c.Keys[0], c.Keys[1]
	ds, dmsg := datasetMsg(t, c, map[string]string{"x": "1"}, "MIT")
	ok(t, c.Block(c.Tx(alice, dmsg)).Txs[0])
	ck := registry.ID("sha256:" + strings.Repeat("cd", 32))
	// Signed by alice, submitted by bob: the statement's signature must be the signer's.
	_, rmsg := trainingRun(t, c, alice, ck, "", ds)
	fails(t, c.Block(c.Tx(bob, rmsg)).Txs[0], registry.ErrRun)
	// On an unregistered dataset.
	_, rmsg = trainingRun(t, c, alice, ck, "", registry.ID("sha256:"+strings.Repeat("ee", 32)))
	fails(t, c.Block(c.Tx(alice, rmsg)).Txs[0], registry.ErrNotFound)
	// A model cannot claim a run that trained another checkpoint.
	runID, rmsg := trainingRun(t, c, alice, ck, "", ds)
	ok(t, c.Block(c.Tx(alice, rmsg)).Txs[0])
	_, mmsg := modelMsg(t, c, map[string]string{"w": "other"}, "m", registry.MsgRegisterModel{Run: runID})
	fails(t, c.Block(c.Tx(alice, mmsg)).Txs[0], registry.ErrRun)
	var rec registry.RecordResponse
	c.Query("/registry/record", map[string]any{"id": runID}, &rec)
	if rec.Run == nil || rec.Run.CodeDigest != "gitCommit:"+strings.Repeat("a", 40) || !strings.HasPrefix(rec.Run.HyperparamsDigest, "sha256:") {
		t.Fatalf("run record = %+v", rec.Run)
	}
}

func TestWithdrawal(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	alice, bob := c.Keys[0], c.Keys[1]
	ds, dmsg := datasetMsg(t, c, map[string]string{"x": "1"}, "MIT")
	ok(t, c.Block(c.Tx(alice, dmsg)).Txs[0])
	before, m1 := modelMsg(t, c, map[string]string{"w": "1"}, "m", registry.MsgRegisterModel{Datasets: []registry.ID{ds}})
	ok(t, c.Block(c.Tx(alice, m1)).Txs[0])
	fails(t, c.Block(c.Tx(bob, c.Msg("registry/withdraw_dataset", registry.MsgWithdrawDataset{ID: ds, Reason: "mine"}))).Txs[0], registry.ErrUnauthorized)
	ok(t, c.Block(c.Tx(alice, c.Msg("registry/withdraw_dataset", registry.MsgWithdrawDataset{ID: ds, Reason: "consent withdrawn"}))).Txs[0])
	// Models registered afterwards that name it are refused ...
	_, m2 := modelMsg(t, c, map[string]string{"w": "2"}, "m", registry.MsgRegisterModel{Datasets: []registry.ID{ds}})
	fails(t, c.Block(c.Tx(alice, m2)).Txs[0], registry.ErrWithdrawn)
	// ... existing ones show the withdrawal.
	r := record1(t, c, before)
	if len(r.Status.Withdrawn) != 1 || r.Status.Withdrawn[0].Dataset != ds || r.Status.Withdrawn[0].Reason != "consent withdrawn" {
		t.Fatalf("status of a model on a withdrawn dataset = %+v", r.Status)
	}
}

func TestWorks(t *testing.T) {
	t.Parallel()
	c, _ := chain(t)
	k := c.Keys[0]
	h := registry.ContentHash("sha256:" + strings.Repeat("12", 32))
	fails(t, c.Block(c.Tx(k, c.Msg("registry/register_work", registry.MsgRegisterWork{Hash: h, Claim: "ai-generated"}))).Txs[0], registry.ErrInvalid)
	fails(t, c.Block(c.Tx(k, c.Msg("registry/register_work", registry.MsgRegisterWork{Hash: h, Claim: "ai-generated", Model: registry.ID("sha256:" + strings.Repeat("34", 32))}))).Txs[0], registry.ErrNotFound)
	ok(t, c.Block(c.Tx(k, c.Msg("registry/register_work", registry.MsgRegisterWork{Hash: h, Claim: "human", Name: "poem.txt"}))).Txs[0])
	fails(t, c.Block(c.Tx(c.Keys[1], c.Msg("registry/register_work", registry.MsgRegisterWork{Hash: h, Claim: "human"}))).Txs[0], registry.ErrExists)
	var w registry.WorkResponse
	c.Query("/registry/work", map[string]any{"hash": h}, &w)
	if w.Work == nil || w.Work.Creator != addr(k) || w.Work.Claim != "human" {
		t.Fatalf("work = %+v", w)
	}
}

func hashOf(s string) registry.ContentHash {
	sum := sha256sum([]byte(s))
	return registry.ContentHash("sha256:" + hex.EncodeToString(sum))
}
