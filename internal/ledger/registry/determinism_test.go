package registry_test

import (
	"bytes"
	"testing"

	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/registry"
)

// TestDeterminism runs the registry's whole life — registrations, runs,
// aliases, the deny-list process with its end-of-block deadlines, flags —
// on two fresh chains, one restarted from disk after every block: app
// hashes must agree at every height.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	arb := ledgertest.Key(3)
	a, _ := chain(t, addr(arb))
	b, _ := chain(t, addr(arb))
	// Build the transactions once (on a), so both chains get the same bytes.
	k, rights := a.Keys[0], a.Keys[1]
	files := map[string]string{"x.csv": "1", "song.mp3": "not mine"}
	_, res := dir(t, files)
	ds, content := record(t, res)
	var blocks [][][]byte
	add := func(txs ...[]byte) { blocks = append(blocks, txs) }
	add(a.Tx(k, a.Msg("registry/register_dataset", registry.MsgRegisterDataset{ID: ds, Name: "d", License: "MIT", Content: content})))
	m, mmsg := modelMsg(t, a, map[string]string{"w": "1"}, "m", registry.MsgRegisterModel{Datasets: []registry.ID{ds}})
	add(a.Tx(k, mmsg), a.Tx(k, a.Msg("registry/set_alias", registry.MsgSetAlias{Name: "m", Alias: "prod", Model: m})))
	h := hashOf(files["song.mp3"])
	add(a.Tx(rights, a.Msg("registry/deny", registry.MsgDeny{Hash: h, Reason: "r"})), a.Tx(k, a.Msg("registry/deny", registry.MsgDeny{Hash: hashOf("y"), Reason: "r"})))
	add(a.Tx(rights, a.Msg("registry/dispute", registry.MsgDispute{Hash: hashOf("y")})))
	add()
	add()
	add() // deadlines pass: one entry active, the dispute wins the other
	add(a.Tx(k, a.Msg("registry/flag", registry.MsgFlag{Record: ds, Hash: h, Proof: proofMsg(t, res.Manifest, "song.mp3")})),
		a.Tx(k, a.Msg("registry/register_work", registry.MsgRegisterWork{Hash: hashOf("z"), Claim: "ai-generated", Model: m})),
		a.Tx(k, a.Msg("registry/withdraw_dataset", registry.MsgWithdrawDataset{ID: ds, Reason: "gone"})))
	var ok int
	for i, txs := range blocks {
		ra, rb := a.Block(txs...), b.Block(txs...)
		if !bytes.Equal(ra.AppHash, rb.AppHash) {
			t.Fatalf("block %d: app hashes differ", i)
		}
		for j := range ra.Txs {
			if ra.Txs[j].Code != rb.Txs[j].Code {
				t.Fatalf("block %d tx %d: results differ", i, j)
			}
			if ra.Txs[j].OK() {
				ok++
			}
		}
		b.Reopen()
	}
	if ok != 9 {
		t.Fatalf("%d transactions succeeded, want all 9", ok)
	}
	if s := record1(t, b, m).Status; len(s.Flags) != 1 || len(s.Withdrawn) != 1 {
		t.Fatalf("status after restarts = %+v", s)
	}
}
