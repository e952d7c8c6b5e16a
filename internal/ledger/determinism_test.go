package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/wire"
)

// randomBlocks builds blocks of valid and invalid transfers (overdrafts,
// replays, out-of-order and far-ahead sequences, garbage bytes, zero
// amounts, sends to the fee pool) from a seeded generator.
func randomBlocks(t *testing.T, seed uint64, nBlocks int) [][][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	gen := ledgertest.New(t, ledgertest.Options{Accounts: 6}) // only used to sign
	keys := gen.Keys
	addrs := make([]wire.Address, 0, len(keys)+2)
	for _, k := range keys {
		addrs = append(addrs, ledgertest.Addr(k))
	}
	addrs = append(addrs, ledgertest.Addr(ledgertest.Key(90)), wire.ModuleAddress(bank.FeePool))
	seq := map[int]uint64{}
	var sent [][]byte
	blocks := make([][][]byte, nBlocks)
	for b := range blocks {
		for range rng.IntN(12) {
			i := rng.IntN(len(keys))
			k := keys[i]
			s := seq[i]
			switch rng.IntN(10) {
			case 0: // replay an earlier transaction
				if len(sent) > 0 {
					blocks[b] = append(blocks[b], sent[rng.IntN(len(sent))])
				}
				continue
			case 1: // garbage
				blocks[b] = append(blocks[b], []byte("not a transaction"))
				continue
			case 2: // a sequence ahead (may or may not be in the window)
				s += uint64(rng.IntN(80))
			default:
				seq[i]++
			}
			var msg wire.Msg
			amt := uint64(rng.IntN(4_000_000))
			to := addrs[rng.IntN(len(addrs))]
			if rng.IntN(4) == 0 {
				msg = gen.Msg("bank/multi_send", bank.MsgMultiSend{Outputs: []bank.Output{
					{To: to, Amount: wire.UVAI(amt)}, {To: addrs[rng.IntN(len(addrs))], Amount: wire.UVAI(uint64(rng.IntN(3)))}}})
			} else {
				msg = gen.Send(to, amt)
			}
			fee := uint64(1000 + rng.IntN(3)*1000)
			if rng.IntN(15) == 0 {
				fee = 1
			}
			env := signWith(t, k, &wire.Body{ChainID: ledgertest.ChainID, Sequence: s, Fee: wire.UVAI(fee), Msgs: []wire.Msg{msg}})
			blocks[b] = append(blocks[b], env)
			sent = append(sent, env)
		}
	}
	return blocks
}

func signWith(t *testing.T, k ed25519.PrivateKey, b *wire.Body) []byte {
	env, err := wire.Sign(b, k)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestDeterminism replays the same blocks on fresh ledgers: one plain, one
// restarted from its database every few blocks, one whose mempool sees
// every transaction first. App hashes must agree at every height (D7), and
// every block keeps the supply invariant (ledgertest checks it).
func TestDeterminism(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 3; seed++ {
		blocks := randomBlocks(t, seed, 60)
		a := ledgertest.New(t, ledgertest.Options{Accounts: 6})
		b := ledgertest.New(t, ledgertest.Options{Accounts: 6})
		c := ledgertest.New(t, ledgertest.Options{Accounts: 6})
		var okTxs, failed int
		for h, txs := range blocks {
			for _, tx := range txs {
				c.L.CheckTx(tx)
			}
			ra, rb, rc := a.Block(txs...), b.Block(txs...), c.Block(txs...)
			if !bytes.Equal(ra.AppHash, rb.AppHash) || !bytes.Equal(ra.AppHash, rc.AppHash) {
				t.Fatalf("seed %d height %d: app hashes differ: %X %X %X", seed, h+1, ra.AppHash, rb.AppHash, rc.AppHash)
			}
			for i := range ra.Txs {
				if ra.Txs[i].Code != rb.Txs[i].Code || ra.Txs[i].Log != rb.Txs[i].Log {
					t.Fatalf("seed %d height %d tx %d: results differ", seed, h+1, i)
				}
				if ra.Txs[i].OK() {
					okTxs++
				} else {
					failed++
				}
			}
			if h%7 == 3 {
				b.Reopen()
			}
		}
		if okTxs < 50 || failed < 50 {
			t.Errorf("seed %d: %d ok and %d failed transactions: the generator does not exercise both", seed, okTxs, failed)
		}
	}
}

// TestRandomSendsKeepSupply checks random valid and invalid transfers
// against a model of the balances: a successful transaction moves exactly
// its amounts and its fee, one that failed after its ante checks (it has a
// "tx" event) moves only its fee, any other moves nothing; and the supply
// never changes.
func TestRandomSendsKeepSupply(t *testing.T) {
	t.Parallel()
	for seed := uint64(40); seed < 43; seed++ {
		blocks := randomBlocks(t, seed, 80)
		c := ledgertest.New(t, ledgertest.Options{Accounts: 6})
		model := map[wire.Address]uint64{}
		for _, k := range c.Keys {
			model[ledgertest.Addr(k)] = 10_000_000
		}
		pool := wire.ModuleAddress(bank.FeePool)
		for h, txs := range blocks {
			res := c.Block(txs...)
			for i, r := range res.Txs {
				tx, err := wire.Decode(txs[i], 0)
				if err != nil {
					if r.OK() || len(r.Events) > 0 {
						t.Fatal("undecodable transaction had effects")
					}
					continue
				}
				paid := false
				for _, ev := range r.Events {
					paid = paid || ev.Type == "tx"
				}
				if !paid {
					continue
				}
				from := tx.Body.Signer
				model[from] -= tx.Body.Fee.Amount
				model[pool] += tx.Body.Fee.Amount
				if !r.OK() {
					continue
				}
				for _, m := range tx.Body.Msgs {
					switch m.Type {
					case "bank/send":
						var v bank.MsgSend
						mustDecode(t, m, &v)
						model[from] -= v.Amount.Amount
						model[v.To] += v.Amount.Amount
					case "bank/multi_send":
						var v bank.MsgMultiSend
						mustDecode(t, m, &v)
						for _, o := range v.Outputs {
							model[from] -= o.Amount.Amount
							model[o.To] += o.Amount.Amount
						}
					}
				}
			}
			for a, want := range model {
				if got := c.Balance(a); got != want {
					t.Fatalf("seed %d height %d: balance of %s = %d, model says %d", seed, h+1, a, got, want)
				}
			}
			var supply bank.SupplyResponse
			c.Query("/bank/supply", struct{}{}, &supply)
			if supply.Supply.Amount != 6*10_000_000 {
				t.Fatalf("supply changed to %d", supply.Supply.Amount)
			}
		}
		if model[pool] == 0 {
			t.Error("no fees collected")
		}
	}
}

func mustDecode(t *testing.T, m wire.Msg, v any) {
	t.Helper()
	if err := m.DecodeValue(v); err != nil {
		t.Fatal(err)
	}
}

// TestProposalReuseMatchesExecution checks the shortcut FinalizeBlock takes
// for a block this node simulated (in PrepareProposal, or ProcessProposal
// of another node's block): its state and results must equal executing the
// block afresh.
func TestProposalReuseMatchesExecution(t *testing.T) {
	t.Parallel()
	blocks := randomBlocks(t, 7, 40)
	proposer := ledgertest.New(t, ledgertest.Options{Accounts: 6})
	checker := ledgertest.New(t, ledgertest.Options{Accounts: 6})
	plain := ledgertest.New(t, ledgertest.Options{Accounts: 6})
	for h, txs := range blocks {
		chosen, rp := proposer.Propose(txs...) // Prepare, Process (own), Finalize from the simulation
		info := ledger.BlockInfo{Height: checker.Height + 1, Time: checker.Time.Add(time.Second)}
		if ok, err := checker.L.ProcessProposal(info, chosen); !ok || err != nil {
			t.Fatalf("height %d: another node rejected the proposal: %v", h+1, err)
		}
		rc := checker.Block(chosen...) // Finalize from ProcessProposal's simulation
		rn := plain.Block(chosen...)   // Finalize by executing
		if !bytes.Equal(rp.AppHash, rn.AppHash) || !bytes.Equal(rc.AppHash, rn.AppHash) {
			t.Fatalf("height %d: app hash from prepared %X, processed %X, executed %X", h+1, rp.AppHash, rc.AppHash, rn.AppHash)
		}
		if len(rp.Txs) != len(rn.Txs) {
			t.Fatalf("height %d: %d results from the simulation, %d executed", h+1, len(rp.Txs), len(rn.Txs))
		}
		for i := range rn.Txs {
			if rp.Txs[i].Code != rn.Txs[i].Code || rp.Txs[i].Gas != rn.Txs[i].Gas || len(rp.Txs[i].Events) != len(rn.Txs[i].Events) || rc.Txs[i].Log != rn.Txs[i].Log {
				t.Fatalf("height %d tx %d: results differ", h+1, i)
			}
		}
	}
}
