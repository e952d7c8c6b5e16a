package market_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// randomMarket drives a market with random buyers' jobs and providers
// that are honest, wrong, silent, slow or fickle, challengers and
// strangers, for blocks blocks, then lets every job run out. The chain
// checks every invariant after every block (the market's funds invariant:
// balances + escrow + stakes + bonds + vesting = supply; capacity slots =
// open assignments). It returns the final app hash and the number of jobs
// by how they closed.
func randomMarket(t *testing.T, seed uint64, blocks int) ([]byte, map[string]int) {
	w := newWorld(t, 5, func(p *market.Params) {
		p.AssignTimeout, p.RevealTimeout, p.ChallengeWindow, p.VestingBlocks, p.UnbondingBlocks = 3, 2, 3, 2, 4
		p.JailAfter, p.JailBlocks = 2, 5
	})
	rng := rand.New(rand.NewPCG(seed, 1))
	challenger := w.c.Keys[8]
	modes := []string{"redundant:2", "redundant:3", "optimistic"}
	var last []byte
	var pendingBatches, prevBatches []*calls
	for b := 0; b < blocks; b++ {
		prevBatches, pendingBatches = pendingBatches, nil
		var txs [][]byte
		add := func(k []byte) { txs = append(txs, k) }
		// New jobs, some underfunded.
		for range rng.IntN(3) {
			m, _ := market.ParseMode(modes[rng.IntN(len(modes))])
			budget := uint64(modelPrice) + uint64(rng.IntN(60_000))
			add(w.signed(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "bafkreiinput", InputDigest: output(fmt.Sprint(b)),
				Budget: wire.UVAI(budget), Deadline: int64(3 + rng.IntN(30)), Mode: m}))
		}
		var jobs []market.Job
		w.c.Query("/market/jobs", map[string]any{"open": true, "limit": 500}, &jobs)
		for _, j := range jobs {
			right := output(fmt.Sprint("ok", j.ID))
			for _, a := range j.Assignments {
				k := w.key(a.Provider)
				out := right
				if rng.IntN(6) == 0 {
					out = output("bad")
				}
				switch {
				case a.State == market.AsgAssigned && rng.IntN(4) != 0:
					switch {
					case rng.IntN(12) == 0:
						add(w.signed(k, "market/decline", market.MsgJobAction{Job: j.ID}))
					case a.Role == market.RoleArbiter || j.Mode.Kind == market.ModeRedundant:
						add(w.signed(k, "market/commit", market.MsgCommit{Job: j.ID, Commitment: market.Commitment(j.ID, a.Provider, out, salt(a.Provider))}))
					default:
						add(w.signed(k, "market/commit", market.MsgCommit{Job: j.ID, Output: out, OutputCID: "bafkreiout"}))
					}
				case a.State == market.AsgCommitted && j.WindowEnd != 0 && rng.IntN(5) != 0:
					// Honest or not, a provider reveals what it committed
					// to; with small odds it tries to change its mind.
					o := right
					if !bytes.Equal(market.Commitment(j.ID, a.Provider, right, salt(a.Provider)), a.Commitment) {
						o = output("bad")
					}
					if rng.IntN(10) == 0 {
						o = output("changed")
					}
					add(w.signed(k, "market/reveal", market.MsgReveal{Job: j.ID, Output: o, OutputCID: "bafkreiout", Salt: salt(a.Provider)}))
				}
			}
			if j.State == market.StateChallenge && rng.IntN(3) == 0 {
				add(w.signed(challenger, "market/challenge", market.MsgJobAction{Job: j.ID}))
			}
			if rng.IntN(10) == 0 {
				add(w.signed(w.c.Keys[rng.IntN(len(w.c.Keys))], "market/settle", market.MsgJobAction{Job: j.ID}))
			}
			if j.State == market.StateOpen && rng.IntN(8) == 0 {
				add(w.signed(w.buyer, "market/cancel", market.MsgJobAction{Job: j.ID}))
			}
		}
		// Sessions: opened now and then, settled in batches (one in five
		// with an invented call, which the buyer catches).
		if rng.IntN(8) == 0 {
			pk := w.providers[rng.IntN(len(w.providers))]
			add(w.signed(w.buyer, "market/open_session", market.MsgOpenSession{Provider: w.addr(pk), Model: w.model, Deposit: wire.UVAI(uint64(100_000 + rng.IntN(3_000_000))), Blocks: int64(2 + rng.IntN(20))}))
		}
		var sessions []market.Session
		w.c.Query("/market/sessions", map[string]any{}, &sessions)
		for _, ss := range sessions {
			if rng.IntN(3) != 0 {
				continue
			}
			pk := w.key(ss.Provider)
			c := w.calls(ss.ID, ss.Calls, 1+rng.IntN(12), pk)
			if rng.IntN(5) == 0 {
				c.records[0] = (&market.CallRecord{Session: ss.ID, Seq: ss.Calls, Model: w.model, InputDigest: output("x"), OutputDigest: output("y"), OutputCID: "o"}).Encode()
				var leaves [][]byte
				for _, r := range c.records {
					leaves = append(leaves, market.LeafHash(r))
				}
				c.tree = manifest.NewTree(leaves)
			}
			add(w.signed(pk, "market/settle_batch", market.MsgSettleBatch{Session: ss.ID, From: ss.Calls, Count: uint64(len(c.records)), Root: c.tree.Root(), RecordsCID: "r"}))
			pendingBatches = append(pendingBatches, c)
		}
		// Challenge the first record of the last block's last batch.
		if n := len(prevBatches); n > 0 && rng.IntN(2) == 0 {
			// (If the latest batch is not this one, the proof fails: no harm.)
			if nb := batchCount(w); nb > 0 {
				c := prevBatches[n-1]
				add(w.signed(w.buyer, "market/challenge_batch", market.MsgChallengeBatch{Batch: nb, Index: 0, Record: c.records[0], Proof: c.proof(t, 0)}))
			}
		}
		// Providers move stake about and come back from jail.
		for _, k := range w.providers {
			switch rng.IntN(40) {
			case 0:
				add(w.signed(k, "market/unbond", market.MsgUnbond{Amount: wire.UVAI(uint64(1 + rng.IntN(150_000_000)))}))
			case 1:
				add(w.signed(k, "market/withdraw", market.MsgWithdraw{}))
			case 2:
				add(w.signed(k, "market/unjail", market.MsgUnjail{}))
			case 3:
				add(w.signed(k, "market/provider_update", market.MsgProviderUpdate{AddStake: wire.UVAI(uint64(rng.IntN(50_000_000))), Endpoint: "http://p",
					Modes: []string{"redundant", "optimistic"}, Capacity: uint32(1 + rng.IntN(4)), Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(w.price)}}}))
			}
		}
		last = w.c.Block(txs...).AppHash
	}
	// Let everything run out.
	for range 200 {
		var open []market.Job
		w.c.Query("/market/jobs", map[string]any{"open": true, "limit": 500}, &open)
		if len(open) == 0 {
			break
		}
		last = w.c.Block().AppHash
	}
	reasons := map[string]int{}
	var all []market.Job
	w.c.Query("/market/jobs", map[string]any{"limit": 500}, &all)
	for _, j := range all {
		if j.State != market.StateClosed {
			t.Fatalf("job %d still %s after every deadline", j.ID, j.State)
		}
		reasons[j.Closing.Reason]++
		// No job ever pays out more than its budget.
		if j.Closing.Cost.Amount+j.Closing.Refund.Amount != j.Budget.Amount {
			t.Fatalf("job %d: cost %s + refund %s ≠ budget %s", j.ID, j.Closing.Cost, j.Closing.Refund, j.Budget)
		}
	}
	for id := uint64(1); id <= batchCount(w); id++ {
		reasons["batch "+w.batch(id).State]++
	}
	return last, reasons
}

func TestRandomMarketKeepsItsBooks(t *testing.T) {
	blocks := 150
	if testing.Short() {
		blocks = 60
	}
	seeds := uint64(3)
	if n, err := strconv.ParseUint(os.Getenv("VAI_MARKET_SEEDS"), 10, 32); err == nil && n > 0 {
		seeds = n // the stress run: VAI_MARKET_SEEDS=200 go test -run RandomMarket ./internal/ledger/market
	}
	all := map[string]int{}
	for seed := uint64(1); seed <= seeds; seed++ {
		_, reasons := randomMarket(t, seed, blocks)
		t.Logf("seed %d: %v", seed, reasons)
		for k, v := range reasons {
			all[k] += v
		}
	}
	// The sequences must exercise the paths they claim to.
	for _, r := range []string{market.CloseSettled, market.CloseExpired, market.CloseUpheld, market.CloseOverturned, market.CloseCancelled, "batch settled", "batch voided"} {
		if all[r] == 0 {
			t.Errorf("no job closed %s: %v", r, all)
		}
	}
}

// The same transactions give the same state on every validator.
func TestRandomMarketIsDeterministic(t *testing.T) {
	a, _ := randomMarket(t, 7, 60)
	b, _ := randomMarket(t, 7, 60)
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs of the same blocks disagree: %X vs %X", a, b)
	}
}

// batchCount is the id of the latest batch (0: none).
func batchCount(w *world) uint64 {
	var id uint64
	for {
		res, err := w.c.L.Query("/market/batch", []byte(fmt.Sprintf(`{"id":%d}`, id+1)), 0, false)
		if err != nil || res == nil {
			return id
		}
		id++
	}
}
