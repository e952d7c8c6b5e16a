package market_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// calls makes n calls of a session: records signed by the buyer, receipts
// signed by the provider, and the batch tree over the records.
type calls struct {
	records  [][]byte
	receipts [][]byte
	tree     *manifest.Tree
}

func (w *world) calls(session, from uint64, n int, provider ed25519.PrivateKey) *calls {
	c := &calls{}
	var leaves [][]byte
	for i := range n {
		seq := from + uint64(i)
		in := output(fmt.Sprint("input", seq))
		r := market.CallRecord{Session: session, Seq: seq, Model: w.model, InputDigest: in, OutputDigest: output(fmt.Sprint("out", seq)),
			OutputCID: "bafkreiout", BuyerSig: ed25519.Sign(w.buyer, market.CallRequestBytes(session, seq, in))}
		b := r.Encode()
		c.records = append(c.records, b)
		c.receipts = append(c.receipts, ed25519.Sign(provider, market.ReceiptBytes(b)))
		leaves = append(leaves, market.LeafHash(b))
	}
	c.tree = manifest.NewTree(leaves)
	return c
}

func (c *calls) proof(t *testing.T, i int) [][]byte {
	p, err := c.tree.Path(uint64(i))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *world) session(t *testing.T, deposit uint64) (uint64, ed25519.PrivateKey) {
	p := w.providers[0]
	w.ok(w.buyer, "market/open_session", market.MsgOpenSession{Provider: w.addr(p), Model: w.model, Deposit: wire.UVAI(deposit), Blocks: 50})
	var ss []market.Session
	w.c.Query("/market/sessions", map[string]any{"buyer": w.addr(w.buyer)}, &ss)
	return ss[len(ss)-1].ID, p
}

func (w *world) sessionState(id uint64) market.Session {
	var s market.Session
	w.c.Query("/market/session", map[string]any{"id": id}, &s)
	return s
}

func (w *world) batch(id uint64) market.Batch {
	var b market.Batch
	w.c.Query("/market/batch", map[string]any{"id": id}, &b)
	return b
}

func TestBatchedCallsArePaidAfterTheWindow(t *testing.T) {
	w := newWorld(t, 1, func(p *market.Params) { p.ChallengeWindow = 3 })
	s0 := w.snap()
	id, p := w.session(t, 5_000_000)
	const n = 40
	c := w.calls(id, 0, n, p)
	w.ok(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: n, Root: c.tree.Root(), RecordsCID: "bafkreirecords"})
	b := w.batch(1)
	if b.State != market.BatchPending || b.Amount.Amount != n*(modelPrice+10_000) {
		t.Fatalf("batch: %+v", b)
	}
	// Not before the window closes.
	w.fails(w.c.Keys[8], "market/finalize_batch", market.MsgFinalizeBatch{Batch: 1}, market.ErrWindow)
	// A valid record is not fraud.
	w.fails(w.c.Keys[8], "market/challenge_batch", market.MsgChallengeBatch{Batch: 1, Index: 7, Record: c.records[7], Proof: c.proof(t, 7),
		Receipt: c.records[7], ReceiptSig: c.receipts[7]}, market.ErrBatch)
	w.blocks(3)
	if b := w.batch(1); b.State != market.BatchSettled {
		t.Fatalf("batch after the window: %+v", b)
	}
	w.fails(w.c.Keys[8], "market/challenge_batch", market.MsgChallengeBatch{Batch: 1, Index: 7, Record: c.records[7], Proof: c.proof(t, 7)}, market.ErrJobState)
	// 40 calls: the same split as one call, forty times over, in one
	// payment each.
	const model, royalty = n * modelPrice, n * modelPrice / 4
	net := func(x int64) int64 { return x - x*200/10_000 }
	w.expect(s0, map[string]int64{"owner": net(model - royalty), "contrib0": net(royalty * 3 / 4), "contrib1": net(royalty / 4),
		"provider0": net(n * 10_000), "buyer": -(5_000_000)})
	// The rest comes back when the session expires.
	w.blocks(50)
	if s := w.sessionState(id); s.State != market.SessionClosed || s.Calls != n {
		t.Fatalf("session: %+v", s)
	}
	w.expect(s0, map[string]int64{"owner": net(model - royalty), "contrib0": net(royalty * 3 / 4), "contrib1": net(royalty / 4),
		"provider0": net(n * 10_000), "buyer": -n * (modelPrice + 10_000)})
}

// fraud runs a batch whose record at index 5 is replaced by bad (nil:
// left alone), challenges it with ch, and checks the provider is slashed
// and the buyer refunded in full.
func testFraud(t *testing.T, tamper func(w *world, id uint64, c *calls) (leaves [][]byte), challenge func(w *world, c *calls, leaves [][]byte, tree *manifest.Tree) market.MsgChallengeBatch) {
	w := newWorld(t, 1, nil)
	s0 := w.snap()
	id, p := w.session(t, 5_000_000)
	c := w.calls(id, 0, 20, p)
	leaves := tamper(w, id, c)
	var hashes [][]byte
	for _, l := range leaves {
		hashes = append(hashes, market.LeafHash(l))
	}
	tree := manifest.NewTree(hashes)
	w.ok(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: uint64(len(leaves)), Root: tree.Root(), RecordsCID: "bafkreirecords"})
	challenger := w.c.Keys[8]
	w.ok(challenger, "market/challenge_batch", challenge(w, c, leaves, tree))
	b := w.batch(1)
	if b.State != market.BatchVoided || b.Fraud == "" {
		t.Fatalf("batch: %+v", b)
	}
	t.Logf("fraud: %s", b.Fraud)
	if s := w.sessionState(id); s.State != market.SessionClosed {
		t.Fatalf("session: %+v", s)
	}
	// The buyer loses nothing; half of the 10% slashed goes to the
	// challenger.
	w.expect(s0, map[string]int64{"key8": 10_000_000})
	if pv := w.provider(p); pv.Stake.Amount != 180_000_000 || pv.Slashed != 1 {
		t.Fatalf("provider: %+v", pv.Provider)
	}
}

func TestBatchAlteringARecordIsSlashed(t *testing.T) {
	testFraud(t, func(w *world, id uint64, c *calls) [][]byte {
		// The provider logs a different output for call 5 than the one it
		// gave (and signed a receipt for).
		leaves := append([][]byte{}, c.records...)
		var r market.CallRecord
		decode(t, leaves[5], &r)
		r.OutputDigest = output("something else")
		leaves[5] = r.Encode()
		return leaves
	}, func(w *world, c *calls, leaves [][]byte, tree *manifest.Tree) market.MsgChallengeBatch {
		p, _ := tree.Path(5)
		return market.MsgChallengeBatch{Batch: 1, Index: 5, Record: leaves[5], Proof: p, Receipt: c.records[5], ReceiptSig: c.receipts[5]}
	})
}

func TestBatchOmittingARecordIsSlashed(t *testing.T) {
	testFraud(t, func(w *world, id uint64, c *calls) [][]byte {
		// Call 5 is left out: every later call slides into its place.
		return append(append([][]byte{}, c.records[:5]...), c.records[6:]...)
	}, func(w *world, c *calls, leaves [][]byte, tree *manifest.Tree) market.MsgChallengeBatch {
		p, _ := tree.Path(5)
		return market.MsgChallengeBatch{Batch: 1, Index: 5, Record: leaves[5], Proof: p}
	})
}

func TestBatchInventingACallIsSlashed(t *testing.T) {
	testFraud(t, func(w *world, id uint64, c *calls) [][]byte {
		// Call 5 was never asked for: the provider signs it itself.
		leaves := append([][]byte{}, c.records...)
		in := output("made up")
		r := market.CallRecord{Session: id, Seq: 5, Model: w.model, InputDigest: in, OutputDigest: output("x"), OutputCID: "o",
			BuyerSig: ed25519.Sign(w.providers[0], market.CallRequestBytes(id, 5, in))}
		leaves[5] = r.Encode()
		return leaves
	}, func(w *world, c *calls, leaves [][]byte, tree *manifest.Tree) market.MsgChallengeBatch {
		p, _ := tree.Path(5)
		return market.MsgChallengeBatch{Batch: 1, Index: 5, Record: leaves[5], Proof: p}
	})
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestBatchRules(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.ChallengeWindow = 3 })
	id, p := w.session(t, 1_000_000) // 9 calls' worth
	c := w.calls(id, 0, 10, p)
	other := w.providers[1]
	root := c.tree.Root()
	w.fails(other, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: 10, Root: root, RecordsCID: "r"}, market.ErrUnauthorized)
	w.fails(w.buyer, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: 10, Root: root, RecordsCID: "r"}, market.ErrUnauthorized)
	w.fails(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: 10, Root: root, RecordsCID: "r"}, market.ErrBudget)
	w.fails(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 3, Count: 2, Root: root, RecordsCID: "r"}, market.ErrBatch)
	w.fails(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: 1 << 40, Root: root, RecordsCID: "r"}, market.ErrBatch)
	c9 := w.calls(id, 0, 9, p)
	w.ok(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 0, Count: 9, Root: c9.tree.Root(), RecordsCID: "r"})
	// A proof of a different leaf, or against the wrong index, proves nothing.
	w.fails(w.buyer, "market/challenge_batch", market.MsgChallengeBatch{Batch: 1, Index: 4, Record: c9.records[3], Proof: c9.proof(t, 3)}, market.ErrBatch)
	w.fails(w.buyer, "market/challenge_batch", market.MsgChallengeBatch{Batch: 1, Index: 9, Record: c9.records[3], Proof: c9.proof(t, 3)}, market.ErrBatch)
	// The buyer closes only after expiry; strangers never.
	w.fails(w.buyer, "market/close_session", market.MsgSessionAction{Session: id}, market.ErrWindow)
	w.fails(other, "market/close_session", market.MsgSessionAction{Session: id}, market.ErrUnauthorized)
	w.blocks(3)
	// After the window: too late to challenge, even a real fraud.
	w.fails(w.buyer, "market/challenge_batch", market.MsgChallengeBatch{Batch: 1, Index: 3, Record: c9.records[3], Proof: c9.proof(t, 3)}, market.ErrJobState)
	// The provider may close at any time; the rest is refunded.
	s := w.snap()
	w.ok(p, "market/close_session", market.MsgSessionAction{Session: id})
	w.expect(s, map[string]int64{"buyer": 1_000_000 - 9*110_000})
	w.fails(p, "market/settle_batch", market.MsgSettleBatch{Session: id, From: 9, Count: 1, Root: root, RecordsCID: "r"}, market.ErrWindow)
	// Sessions with oneself, with non-providers and below one call's price are refused.
	w.fails(p, "market/open_session", market.MsgOpenSession{Provider: w.addr(p), Model: w.model, Deposit: wire.UVAI(1_000_000), Blocks: 5}, market.ErrUnauthorized)
	w.fails(w.buyer, "market/open_session", market.MsgOpenSession{Provider: w.addr(w.c.Keys[8]), Model: w.model, Deposit: wire.UVAI(1_000_000), Blocks: 5}, market.ErrNotProvider)
	w.fails(w.buyer, "market/open_session", market.MsgOpenSession{Provider: w.addr(p), Model: w.model, Deposit: wire.UVAI(109_999), Blocks: 5}, market.ErrBudget)
}
