package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"reflect"
	"testing"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/wire"
)

// unseenBlock returns a block of n transfers, as a node that saw none of
// them in its mempool receives it, with forged signatures, a malformed tx,
// a valid tx for another chain and a duplicate among them; bad holds the
// indexes that must fail.
func unseenBlock(t *testing.T, c *ledgertest.Chain, n int) (txs [][]byte, bad map[int]*ledger.Error) {
	t.Helper()
	to := ledgertest.Addr(ledgertest.Key(999))
	bad = map[int]*ledger.Error{}
	for i := range n {
		k := c.Keys[i%len(c.Keys)]
		env := c.Tx(k, c.Send(to, 1))
		if i%37 == 5 { // spread over several batches of 64
			tx, err := wire.Decode(env, 0)
			if err != nil {
				t.Fatal(err)
			}
			forged := ed25519.Sign(c.Keys[(i+1)%len(c.Keys)], wire.PAE(wire.PayloadType, tx.Payload))
			env = bytes.Replace(env, []byte(b64(tx.Sig)), []byte(b64(forged)), 1)
			bad[i] = ledger.ErrSignature
		}
		txs = append(txs, env)
	}
	bad[len(txs)] = ledger.ErrTxMalformed
	txs = append(txs, []byte(`{"payloadType":`))
	other := c.Body(c.Keys[0], c.Send(to, 1))
	other.ChainID = "other-chain"
	bad[len(txs)] = ledger.ErrWrongChain
	txs = append(txs, c.Sign(c.Keys[0], other))
	bad[len(txs)] = ledger.ErrSequenceUsed
	txs = append(txs, txs[0])
	return txs, bad
}

// batchedAndAlone returns two equal chains, past their first block: one
// verifies unseen block transactions in batches, the other one by one.
func batchedAndAlone(t *testing.T) (batched, alone *ledgertest.Chain) {
	opts := ledgertest.Options{Accounts: 150}
	batched, alone = ledgertest.New(t, opts), ledgertest.New(t, opts)
	ledger.SetPredecode(alone.L, false)
	batched.Block()
	alone.Block()
	return batched, alone
}

// A block's transactions that the node has not seen are verified in
// batches before execution; the results, forged signatures included, must
// be exactly those of verifying each transaction alone.
func TestUnseenBlockTransactionsVerifiedInBatches(t *testing.T) {
	t.Parallel()
	batched, alone := batchedAndAlone(t)
	txs, bad := unseenBlock(t, batched, 300)

	ledger.Predecode(batched.L, txs)
	for i, tx := range txs {
		valid := bad[i] == nil || bad[i] == ledger.ErrWrongChain || bad[i] == ledger.ErrSequenceUsed
		if got := ledger.Cached(batched.L, tx); got != valid {
			t.Errorf("tx %d: cached = %v after predecode, want %v", i, got, valid)
		}
	}

	rb, ra := batched.Block(txs...), alone.Block(txs...)
	if !bytes.Equal(rb.AppHash, ra.AppHash) {
		t.Fatalf("app hash %X batched, %X verified alone", rb.AppHash, ra.AppHash)
	}
	for i := range txs {
		if !reflect.DeepEqual(rb.Txs[i], ra.Txs[i]) {
			t.Fatalf("tx %d: batched %+v, alone %+v", i, rb.Txs[i], ra.Txs[i])
		}
		want := bad[i]
		if got := rb.Txs[i]; want == nil && !got.OK() || want != nil && (got.Code != want.Code || got.Codespace != want.Codespace) {
			t.Fatalf("tx %d: %s/%d %q, want %v", i, got.Codespace, got.Code, got.Log, want)
		}
	}
}

// A proposal holding a forged transaction is rejected, by a node that
// verifies unseen transactions in batches as by one that does not.
func TestUnseenForgedProposalRejected(t *testing.T) {
	t.Parallel()
	batched, alone := batchedAndAlone(t)
	txs, _ := unseenBlock(t, batched, 200)
	good := txs[:5] // before the first forgery
	info := ledger.BlockInfo{Height: 2, Time: batched.Time.Add(1e9)}
	for _, c := range []*ledgertest.Chain{batched, alone} {
		if ok, err := c.L.ProcessProposal(info, txs[:200]); ok || err != nil {
			t.Fatalf("forged proposal: ok=%v err=%v, want rejected", ok, err)
		}
		if ok, err := c.L.ProcessProposal(info, good); !ok || err != nil {
			t.Fatalf("honest proposal: ok=%v err=%v, want accepted", ok, err)
		}
	}
}

// A finalized block's transactions leave the decoded-tx cache: CometBFT
// drops them from the mempool, and keeping them until the cache wraps held
// half of a busy node's live heap. Pending transactions stay cached, and a
// committed transaction sent again is decoded again and refused as replayed.
func TestCommittedTransactionsLeaveTheCache(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{Accounts: 4})
	to := ledgertest.Addr(ledgertest.Key(999))
	included := c.Tx(c.Keys[0], c.Send(to, 1))
	pending := c.Tx(c.Keys[1], c.Send(to, 1))
	failing := c.Tx(c.Keys[2], c.Send(to, 1<<62)) // verifies, fails at execution
	for _, tx := range [][]byte{included, pending} {
		if r := c.L.CheckTx(tx); !r.OK() {
			t.Fatalf("CheckTx: %+v", r)
		}
	}
	if r := c.L.CheckTx(failing); r.OK() {
		t.Fatal("CheckTx admitted an overdraft")
	}
	for _, tx := range [][]byte{included, pending, failing} {
		if !ledger.Cached(c.L, tx) {
			t.Fatal("a checked transaction is not cached")
		}
	}

	res := c.Block(included, failing)
	if !res.Txs[0].OK() || res.Txs[1].OK() {
		t.Fatalf("block results %+v, want the first to pass and the second to fail", res.Txs)
	}
	if ledger.Cached(c.L, included) || ledger.Cached(c.L, failing) {
		t.Error("a committed transaction is still cached")
	}
	if !ledger.Cached(c.L, pending) {
		t.Error("a pending transaction left the cache")
	}
	if r := c.L.CheckTx(included); r.Code != ledger.ErrSequenceUsed.Code {
		t.Errorf("committed transaction sent again: code %d (%s), want %d", r.Code, r.Log, ledger.ErrSequenceUsed.Code)
	}
}
