package market_test

import (
	"math"
	"slices"
	"testing"

	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/wire"
)

// The split of one call at the test world's prices, after the 2% protocol
// fee: the model owner keeps 75% of the model price, the contributors
// share 25% as 3:1, each executor earns its 10,000 uvai compute price.
const (
	ownerNet    = 75_000 - 1_500
	contrib0Net = 18_750 - 375
	contrib1Net = 6_250 - 125
	execNet     = 10_000 - 200
)

// assigned returns the providers assigned to a job in a role, in order.
func assigned(j market.Job, role string, states ...string) []wire.Address {
	var out []wire.Address
	for _, a := range j.Assignments {
		if a.Role == role && (len(states) == 0 || slices.Contains(states, a.State)) {
			out = append(out, a.Provider)
		}
	}
	return out
}

func (w *world) name(a wire.Address) string {
	for i, k := range w.providers {
		if w.addr(k) == a {
			return "provider" + string(rune('0'+i))
		}
	}
	w.t.Fatalf("%s is not a provider", a)
	return ""
}

func TestRedundantJobPaysEveryone(t *testing.T) {
	w := newWorld(t, 3, nil)
	s := w.snap()
	supply0, _ := w.supply()
	id := w.submit("redundant:2", 200_000)
	j := w.job(id)
	execs := assigned(j, market.RoleExecutor, market.AsgAssigned)
	if j.State != market.StateRunning || len(execs) != 2 || execs[0] == execs[1] {
		t.Fatalf("after submit: state %s, executors %v", j.State, execs)
	}
	w.commitReveal(id, func(wire.Address) []byte { return output("7") })
	j = w.job(id)
	if j.State != market.StateClosed || j.Closing.Reason != market.CloseSettled || string(j.Result.Output) != string(output("7")) {
		t.Fatalf("job: %+v", j)
	}
	if j.Closing.Cost.Amount != 120_000 || j.Closing.Refund.Amount != 80_000 {
		t.Fatalf("closing %+v, want cost 120000 refund 80000", j.Closing)
	}
	// The job records its split, net of fees.
	got := map[string]uint64{}
	for _, p := range j.Split {
		got[p.Kind+" "+p.To.String()] = p.Amount.Amount
	}
	wantSplit := map[string]uint64{"owner " + w.addr(w.owner).String(): ownerNet, "royalty " + w.addr(w.contrib[0]).String(): contrib0Net,
		"royalty " + w.addr(w.contrib[1]).String(): contrib1Net, "executor " + execs[0].String(): execNet, "executor " + execs[1].String(): execNet}
	if len(got) != len(wantSplit) {
		t.Errorf("split %v, want %v", got, wantSplit)
	}
	for k, v := range wantSplit {
		if got[k] != v {
			t.Errorf("split %s = %d, want %d", k, got[k], v)
		}
	}
	if d := j.Closing.Height - j.Submitted; d > 2 {
		t.Errorf("settled %d blocks after submission, want ≤ 2", d)
	}
	// The executors' pay vests: nothing yet.
	want := map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -120_000}
	w.expect(s, want)
	w.blocks(int(w.params.VestingBlocks))
	for _, a := range execs {
		want[w.name(a)] = execNet
	}
	w.expect(s, want)
	supply, pool := w.supply()
	if supply != supply0 {
		t.Errorf("supply moved %d → %d with nothing slashed", supply0, supply)
	}
	var txFees uint64
	for _, f := range w.fees {
		txFees += f
	}
	_ = pool
	for _, a := range execs {
		p := w.provider(w.key(a))
		if p.Delivered != 1 || p.Active != 0 || p.Reputation <= 5_000 {
			t.Errorf("provider after a delivered job: %+v", p.Provider)
		}
	}
}

func TestProtocolFeesReachTheFeePool(t *testing.T) {
	w := newWorld(t, 2, nil)
	_, pool0 := w.supply()
	fees0 := total(w.fees)
	id := w.submit("redundant:2", 120_000)
	w.commitReveal(id, func(wire.Address) []byte { return output("1") })
	_, pool := w.supply()
	// 2% of 75,000 + 18,750 + 6,250 + 2 × 10,000, and the transactions' fees.
	want := pool0 + 1_500 + 375 + 125 + 2*200 + (total(w.fees) - fees0)
	if pool != want {
		t.Fatalf("fee pool %d, want %d", pool, want)
	}
}

func total(m map[wire.Address]uint64) uint64 {
	var t uint64
	for _, v := range m {
		t += v
	}
	return t
}

func TestRedundantDissenterIsSlashed(t *testing.T) {
	w := newWorld(t, 3, nil)
	s := w.snap()
	supply0, _ := w.supply()
	id := w.submit("redundant:3", 200_000)
	j := w.job(id)
	execs := assigned(j, market.RoleExecutor)
	cheat := execs[1]
	w.commitReveal(id, func(a wire.Address) []byte {
		if a == cheat {
			return output("wrong")
		}
		return output("7")
	})
	j = w.job(id)
	if j.State != market.StateClosed || j.Closing.Reason != market.CloseSettled || string(j.Result.Output) != string(output("7")) {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(int(w.params.VestingBlocks))
	// 10% of the cheater's 200 vai stake: half to the two honest
	// executors, half burned.
	want := map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -120_000}
	for _, a := range execs {
		if a != cheat {
			want[w.name(a)] = execNet + 5_000_000
		}
	}
	w.expect(s, want)
	p := w.provider(w.key(cheat))
	if p.Stake.Amount != 180_000_000 || p.Slashed != 1 || p.Failed != 1 || p.Active != 0 || p.Reputation >= 5_000 {
		t.Fatalf("cheater: %+v", p.Provider)
	}
	if supply, _ := w.supply(); supply != supply0-10_000_000 {
		t.Fatalf("supply %d, want %d (10 vai burned)", supply, supply0-10_000_000)
	}
}

func TestRedundantTieIsBrokenByAnotherExecutor(t *testing.T) {
	w := newWorld(t, 3, nil)
	s := w.snap()
	id := w.submit("redundant:2", 200_000)
	execs := assigned(w.job(id), market.RoleExecutor)
	cheat := execs[0]
	w.commitReveal(id, func(a wire.Address) []byte {
		if a == cheat {
			return output("wrong")
		}
		return output("7")
	})
	j := w.job(id)
	third := assigned(j, market.RoleExecutor, market.AsgAssigned)
	if j.State != market.StateRunning || len(third) != 1 || slices.Contains(execs, third[0]) {
		t.Fatalf("after a tie: state %s, new executors %v", j.State, third)
	}
	w.commitReveal(id, func(a wire.Address) []byte { return output("7") })
	j = w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseSettled || j.Closing.Cost.Amount != 120_000 {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(int(w.params.VestingBlocks))
	w.expect(s, map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -120_000,
		w.name(execs[1]): execNet + 5_000_000, w.name(third[0]): execNet + 5_000_000})
}

func TestSilentProviderIsReplacedAndPenalised(t *testing.T) {
	w := newWorld(t, 3, func(p *market.Params) { p.AssignTimeout = 3 })
	s := w.snap()
	supply0, _ := w.supply()
	id := w.submit("redundant:2", 200_000)
	execs := assigned(w.job(id), market.RoleExecutor)
	silent, honest := execs[0], execs[1]
	w.ok(w.key(honest), "market/commit", market.MsgCommit{Job: id, Commitment: market.Commitment(id, honest, output("7"), salt(honest))})
	w.blocks(2) // the silent provider's timeout passes
	j := w.job(id)
	repl := assigned(j, market.RoleExecutor, market.AsgAssigned)
	if len(repl) != 1 || repl[0] == silent || repl[0] == honest {
		t.Fatalf("after the timeout: %+v", j.Assignments)
	}
	if _, a := find(j, silent); a.State != market.AsgTimedOut {
		t.Fatalf("silent provider's assignment: %+v", a)
	}
	w.commitReveal(id, func(wire.Address) []byte { return output("7") })
	j = w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseSettled {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(int(w.params.VestingBlocks))
	// The buyer pays what a job without the failure costs.
	w.expect(s, map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -120_000,
		w.name(honest): execNet, w.name(repl[0]): execNet})
	p := w.provider(w.key(silent))
	if p.Stake.Amount != 198_000_000 || p.Failed != 1 || p.Strikes != 1 || p.Active != 0 {
		t.Fatalf("silent provider: %+v", p.Provider)
	}
	if supply, _ := w.supply(); supply != supply0-2_000_000 {
		t.Fatalf("supply %d, want %d (the 1%% late penalty burned)", supply, supply0-2_000_000)
	}
}

func find(j market.Job, p wire.Address) (int, market.Assignment) {
	for i, a := range j.Assignments {
		if a.Provider == p {
			return i, a
		}
	}
	return -1, market.Assignment{}
}

func TestJobNobodyServesIsRefundedInFull(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.AssignTimeout = 2 })
	s := w.snap()
	id := w.submit("redundant:2", 200_000)
	// Both providers go silent; replacements are tried, then the deadline
	// refunds the buyer.
	for w.job(id).State != market.StateClosed {
		w.c.Block()
		if w.c.Height > 200 {
			t.Fatal("job never closed")
		}
	}
	j := w.job(id)
	if j.Closing.Reason != market.CloseExpired || j.Closing.Refund.Amount != 200_000 || j.Closing.Cost.Amount != 0 {
		t.Fatalf("closing: %+v", j.Closing)
	}
	w.expect(s, map[string]int64{})
	for _, k := range w.providers {
		if p := w.provider(k); p.Stake.Amount != 198_000_000 || p.Active != 0 {
			t.Errorf("silent provider %+v", p.Provider)
		}
	}
}

func TestUnderfundedJob(t *testing.T) {
	w := newWorld(t, 2, nil)
	s := w.snap()
	m, _ := market.ParseMode("redundant:2")
	in := output("input")
	// Not even the model's price and a uvai per executor.
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "bafkreiinput", InputDigest: in, Budget: wire.UVAI(modelPrice + 1), Deadline: 10, Mode: m}, market.ErrBudget)
	w.expect(s, map[string]int64{})
	// Enough to post, too little for any provider's price: nobody is
	// assigned and the deadline refunds everything.
	id := w.submit("redundant:2", modelPrice+2*w.price-1)
	if j := w.job(id); len(j.Assignments) != 0 {
		t.Fatalf("providers assigned to an underfunded job: %+v", j.Assignments)
	}
	w.blocks(50)
	j := w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseExpired || j.Closing.Refund.Amount != modelPrice+2*w.price-1 {
		t.Fatalf("job: %+v", j)
	}
	w.expect(s, map[string]int64{})
	// More than the buyer has.
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "bafkreiinput", InputDigest: in, Budget: wire.UVAI(1 << 62), Deadline: 10, Mode: m}, bank.ErrInsufficientFunds)
}

func TestSettleTwiceAndEarly(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.ChallengeWindow = 3 })
	stranger := w.c.Keys[8]
	id := w.submit("optimistic", 200_000)
	exec := assigned(w.job(id), market.RoleExecutor)[0]
	w.ok(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "bafkreiout"})
	w.fails(stranger, "market/settle", market.MsgJobAction{Job: id}, market.ErrJobState) // window open
	w.blocks(4)
	if j := w.job(id); j.Closing == nil || j.Closing.Reason != market.CloseSettled {
		t.Fatalf("job: %+v", j)
	}
	w.fails(stranger, "market/settle", market.MsgJobAction{Job: id}, market.ErrJobState)
	w.fails(stranger, "market/settle", market.MsgJobAction{Job: 999}, market.ErrJobNotFound)
}

func TestSettleIsPermissionlessWhenTheSchedulerIsBehind(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.MaxDuePerBlock = 1 })
	s := w.snap()
	m, _ := market.ParseMode("redundant:2")
	// Three jobs no provider can afford, due at the same height.
	var txs [][]byte
	for i := range 3 {
		txs = append(txs, w.signed(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "bafkreiinput", InputDigest: output(string(rune('a' + i))),
			Budget: wire.UVAI(modelPrice + 2), Deadline: 5, Mode: m}))
	}
	for _, r := range w.c.Block(txs...).Txs {
		if !r.OK() {
			t.Fatal(r.Log)
		}
	}
	w.blocks(5)
	closed := func() (n int) {
		for id := uint64(1); id <= 3; id++ {
			if w.job(id).State == market.StateClosed {
				n++
			}
		}
		return n
	}
	if n := closed(); n != 1 {
		t.Fatalf("%d jobs closed in the deadline's block, want 1 (max_due_per_block)", n)
	}
	stranger := w.c.Keys[8]
	for id := uint64(1); id <= 3; id++ {
		if w.job(id).State != market.StateClosed {
			w.ok(stranger, "market/settle", market.MsgJobAction{Job: id})
			break
		}
	}
	if n := closed(); n < 2 {
		t.Fatalf("market/settle did not close a due job")
	}
	w.blocks(2)
	if n := closed(); n != 3 {
		t.Fatalf("%d of 3 jobs closed", n)
	}
	w.expect(s, map[string]int64{})
}

func TestOptimisticJobSettlesAfterTheWindow(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.ChallengeWindow = 5 })
	s := w.snap()
	id := w.submit("optimistic", 200_000)
	exec := assigned(w.job(id), market.RoleExecutor)[0]
	// A commitment is refused: optimistic results are posted in the clear.
	w.fails(w.key(exec), "market/commit", market.MsgCommit{Job: id, Commitment: output("c")}, market.ErrJob)
	w.ok(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "bafkreiout"})
	j := w.job(id)
	if j.State != market.StateChallenge || j.WindowEnd != w.c.Height+5 {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(6 + int(w.params.VestingBlocks))
	j = w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseSettled || j.Closing.Cost.Amount != 110_000 {
		t.Fatalf("job: %+v", j)
	}
	w.expect(s, map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -110_000, w.name(exec): execNet})
}

// optimisticDispute runs an optimistic job whose result (output "9") is
// challenged by key 8; the arbiters answer arb.
func optimisticDispute(t *testing.T, arb string) (w *world, s snap, id uint64, exec wire.Address, arbiters []wire.Address) {
	w = newWorld(t, 5, func(p *market.Params) { p.ChallengeWindow = 5 })
	challenger := w.c.Keys[8]
	s = w.snap()
	id = w.submit("optimistic", 200_000)
	exec = assigned(w.job(id), market.RoleExecutor)[0]
	w.ok(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("9"), OutputCID: "bafkreiout"})
	w.fails(w.key(exec), "market/challenge", market.MsgJobAction{Job: id}, market.ErrUnauthorized) // its own result
	w.ok(challenger, "market/challenge", market.MsgJobAction{Job: id})
	w.fails(w.c.Keys[1], "market/challenge", market.MsgJobAction{Job: id}, market.ErrJobState) // already disputed
	j := w.job(id)
	arbiters = assigned(j, market.RoleArbiter)
	if j.State != market.StateDisputed || len(arbiters) != 3 || slices.Contains(arbiters, exec) {
		t.Fatalf("disputed job: %+v", j)
	}
	// Arbiters use commit-reveal.
	w.fails(w.key(arbiters[0]), "market/commit", market.MsgCommit{Job: id, Output: output(arb), OutputCID: "x"}, market.ErrJob)
	w.commitReveal(id, func(wire.Address) []byte { return output(arb) })
	return w, s, id, exec, arbiters
}

func TestChallengeUpheld(t *testing.T) {
	w, s, id, exec, arbiters := optimisticDispute(t, "9")
	supply0, _ := w.supply()
	j := w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseUpheld || string(j.Result.Output) != string(output("9")) {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(int(w.params.VestingBlocks))
	// The challenger's 10 vai bond pays the arbiters (a third each; the
	// indivisible uvai is burned).
	want := map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -110_000, w.name(exec): execNet, "key8": -10_000_000}
	for _, a := range arbiters {
		want[w.name(a)] = 3_333_333
	}
	w.expect(s, want)
	if supply, _ := w.supply(); supply != supply0 {
		t.Fatalf("supply moved after the tally: %d → %d", supply0, supply)
	}
	if p := w.provider(w.key(exec)); p.Stake.Amount != 200_000_000 || p.Delivered != 1 {
		t.Fatalf("executor: %+v", p.Provider)
	}
}

func TestChallengeOverturned(t *testing.T) {
	w, s, id, exec, arbiters := optimisticDispute(t, "3")
	j := w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseOverturned || string(j.Result.Output) != string(output("3")) {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(int(w.params.VestingBlocks))
	// The executor loses 10% of its stake: half to the challenger (who
	// also gets the bond back), half burned; the arbiters share the
	// executor's pay (3,334 + 3,333 + 3,333, less 2%).
	want := map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -110_000, "key8": 10_000_000}
	for k, a := range arbiters {
		if k == 0 {
			want[w.name(a)] = 3_334 - 66
		} else {
			want[w.name(a)] = 3_333 - 66
		}
	}
	w.expect(s, want)
	if p := w.provider(w.key(exec)); p.Stake.Amount != 180_000_000 || p.Slashed != 1 {
		t.Fatalf("executor: %+v", p.Provider)
	}
}

func TestChallengeAfterTheWindow(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.ChallengeWindow = 3 })
	challenger := w.c.Keys[8]
	id := w.submit("optimistic", 200_000)
	exec := assigned(w.job(id), market.RoleExecutor)[0]
	w.ok(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "bafkreiout"})
	end := w.job(id).WindowEnd
	for w.c.Height < end {
		w.c.Block()
	}
	s := w.snap()
	w.fails(challenger, "market/challenge", market.MsgJobAction{Job: id}, market.ErrWindow)
	// The challenge failed; the same block settled the job (refunding
	// the unused budget).
	w.expect(s, map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": 200_000 - 110_000})
	w.fails(challenger, "market/challenge", market.MsgJobAction{Job: id}, market.ErrJobState)
}

func TestChallengeWithoutBond(t *testing.T) {
	w := newWorld(t, 2, nil)
	poor := ledgertest.Key(20)
	w.ok(w.buyer, "bank/send", bank.MsgSend{To: w.addr(poor), Amount: wire.UVAI(5_000)})
	id := w.submit("optimistic", 200_000)
	exec := assigned(w.job(id), market.RoleExecutor)[0]
	w.ok(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "bafkreiout"})
	w.fails(poor, "market/challenge", market.MsgJobAction{Job: id}, market.ErrBudget)
	if j := w.job(id); j.State != market.StateChallenge || j.Challenge != nil {
		t.Fatalf("a failed challenge changed the job: %+v", j)
	}
	if b := w.c.Balance(w.addr(poor)); b != 5_000-txFee {
		t.Fatalf("the poor challenger holds %d, want %d", b, 5_000-txFee)
	}
}

func TestBuyerNeverSitsInItsOwnQuorum(t *testing.T) {
	w := newWorld(t, 1, nil)
	// The buyer registers as a provider of the model too: with it, two
	// providers serve the model, but a redundant:2 job of its own must
	// wait for a second independent one.
	w.ok(w.buyer, "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(200_000_000), Endpoint: "http://b", Modes: []string{"redundant"},
		Capacity: 4, Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(w.price)}}})
	id := w.submit("redundant:2", 200_000)
	w.blocks(3)
	j := w.job(id)
	if got := assigned(j, market.RoleExecutor); len(got) != 1 || got[0] == w.addr(w.buyer) || j.Need != 1 {
		t.Fatalf("assignments %+v need %d", j.Assignments, j.Need)
	}
	// A second provider joins and fills the slot.
	second := w.c.Keys[8]
	w.ok(second, "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(200_000_000), Endpoint: "http://s", Modes: []string{"redundant"},
		Capacity: 4, Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(w.price)}}})
	j = w.job(id)
	if got := assigned(j, market.RoleExecutor); len(got) != 2 || slices.Contains(got, w.addr(w.buyer)) {
		t.Fatalf("assignments %+v", j.Assignments)
	}
}

func TestOverflowingAmounts(t *testing.T) {
	w := newWorld(t, 2, nil)
	// The owner prices the model at the top of the range: the minimum
	// budget overflows and is refused, not wrapped.
	w.ok(w.owner, "market/offer", market.MsgOffer{Model: w.model, Price: wire.UVAI(math.MaxUint64 - 1), ArtifactDigest: repeat("ab", 32),
		Format: "vaim", PublicCID: "bafkreiexample", Active: true})
	s := w.snap()
	m, _ := market.ParseMode("redundant:2")
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: output("i"), Budget: wire.UVAI(math.MaxUint64), Deadline: 5, Mode: m}, market.ErrBudget)
	w.expect(s, map[string]int64{})
	// A provider adding stake beyond what it holds is refused by the bank.
	k := w.providers[0]
	w.fails(k, "market/provider_update", market.MsgProviderUpdate{AddStake: wire.UVAI(math.MaxUint64), Endpoint: "e", Modes: []string{"redundant"}, Capacity: 1}, bank.ErrInsufficientFunds)
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestAuthorisation(t *testing.T) {
	w := newWorld(t, 3, nil)
	stranger := w.c.Keys[8]
	// Only the model's owner offers it or grants its weights.
	w.fails(stranger, "market/offer", market.MsgOffer{Model: w.model, Price: wire.UVAI(1), ArtifactDigest: repeat("ab", 32), Format: "vaim", Active: true}, market.ErrUnauthorized)
	w.fails(stranger, "market/grant", market.MsgGrant{Model: w.model, Provider: w.addr(w.providers[0]), CID: "bafkreigrant"}, market.ErrUnauthorized)
	id := w.submit("redundant:2", 200_000)
	j := w.job(id)
	execs := assigned(j, market.RoleExecutor)
	var idle wire.Address
	for _, k := range w.providers {
		if !slices.Contains(execs, w.addr(k)) {
			idle = w.addr(k)
		}
	}
	// Only the buyer cancels, and only an unassigned job.
	w.fails(stranger, "market/cancel", market.MsgJobAction{Job: id}, market.ErrUnauthorized)
	w.fails(w.buyer, "market/cancel", market.MsgJobAction{Job: id}, market.ErrJobState)
	// Only assigned providers commit, decline or reveal.
	w.fails(w.key(idle), "market/commit", market.MsgCommit{Job: id, Commitment: output("c")}, market.ErrNotAssigned)
	w.fails(stranger, "market/decline", market.MsgJobAction{Job: id}, market.ErrNotAssigned)
	// Redundant jobs take commitments, not outputs.
	w.fails(w.key(execs[0]), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "o"}, market.ErrJob)
	for _, a := range execs {
		w.ok(w.key(a), "market/commit", market.MsgCommit{Job: id, Commitment: market.Commitment(id, a, output("7"), salt(a))})
	}
	// A reveal must open the signer's own commitment.
	w.fails(w.key(execs[0]), "market/reveal", market.MsgReveal{Job: id, Output: output("8"), OutputCID: "o", Salt: salt(execs[0])}, market.ErrCommitment)
	w.fails(w.key(execs[0]), "market/reveal", market.MsgReveal{Job: id, Output: output("7"), OutputCID: "o", Salt: salt(execs[1])}, market.ErrCommitment)
	w.fails(w.key(idle), "market/reveal", market.MsgReveal{Job: id, Output: output("7"), OutputCID: "o", Salt: salt(idle)}, market.ErrNotAssigned)
	// A provider cannot endorse itself; a stranger's endorsement counts.
	w.fails(w.providers[0], "market/endorse", market.MsgEndorse{Provider: w.addr(w.providers[0])}, market.ErrUnauthorized)
	w.ok(stranger, "market/endorse", market.MsgEndorse{Provider: w.addr(w.providers[0])})
	if p := w.provider(w.providers[0]); len(p.Endorsements) != 1 || p.Endorsements[0] != w.addr(stranger) {
		t.Fatalf("endorsements %v", p.Endorsements)
	}
	// Non-providers have no stake to move.
	w.fails(stranger, "market/unbond", market.MsgUnbond{Amount: wire.UVAI(1)}, market.ErrNotProvider)
	w.fails(stranger, "market/withdraw", market.MsgWithdraw{}, market.ErrNotProvider)
}

func TestCancelAndDecline(t *testing.T) {
	w := newWorld(t, 3, nil)
	s := w.snap()
	// A job nobody can take yet is cancelled with a full refund.
	m, _ := market.ParseMode("redundant:2")
	w.ok(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: output("i"), Budget: wire.UVAI(modelPrice + 2), Deadline: 20, Mode: m})
	w.ok(w.buyer, "market/cancel", market.MsgJobAction{Job: 1})
	if j := w.job(1); j.Closing == nil || j.Closing.Reason != market.CloseCancelled || j.Closing.Refund.Amount != modelPrice+2 {
		t.Fatalf("job: %+v", j)
	}
	w.expect(s, map[string]int64{})
	// A provider declines: someone else takes the slot, no penalty.
	id := w.submit("redundant:2", 200_000)
	execs := assigned(w.job(id), market.RoleExecutor)
	w.ok(w.key(execs[0]), "market/decline", market.MsgJobAction{Job: id})
	j := w.job(id)
	now := assigned(j, market.RoleExecutor, market.AsgAssigned)
	if len(now) != 2 || slices.Contains(now, execs[0]) {
		t.Fatalf("after decline: %+v", j.Assignments)
	}
	if p := w.provider(w.key(execs[0])); p.Stake.Amount != 200_000_000 || p.Active != 0 || p.Failed != 0 {
		t.Fatalf("decliner: %+v", p.Provider)
	}
}

func TestUnbondingAndJail(t *testing.T) {
	w := newWorld(t, 2, func(p *market.Params) { p.UnbondingBlocks = 5; p.AssignTimeout = 2; p.JailAfter = 1; p.JailBlocks = 10 })
	k := w.providers[0]
	w.fails(k, "market/unbond", market.MsgUnbond{Amount: wire.UVAI(300_000_000)}, market.ErrStake)
	s := w.snap()
	w.ok(k, "market/unbond", market.MsgUnbond{Amount: wire.UVAI(50_000_000)})
	w.fails(k, "market/withdraw", market.MsgWithdraw{}, market.ErrNothingToPay)
	w.blocks(5)
	w.ok(k, "market/withdraw", market.MsgWithdraw{})
	w.expect(s, map[string]int64{"provider0": 50_000_000})
	if p := w.provider(k); p.Stake.Amount != 150_000_000 || len(p.Unbonding) != 0 {
		t.Fatalf("provider: %+v", p.Provider)
	}
	// Unbonded stake can still be slashed: unbond everything, then miss a
	// deadline.
	id := w.submit("redundant:2", 200_000)
	w.fails(k, "market/unbond", market.MsgUnbond{Amount: wire.UVAI(150_000_000)}, market.ErrStake) // a job in progress
	_ = id
	w.blocks(2)
	p := w.provider(k)
	if p.JailedUntil <= w.c.Height || p.Stake.Amount != 150_000_000-1_500_000 {
		t.Fatalf("after a missed deadline with jail_after 1: %+v", p.Provider)
	}
	w.fails(k, "market/unjail", market.MsgUnjail{}, market.ErrJailed)
	// Jailed: not assigned.
	id2 := w.submit("redundant:2", 200_000)
	if slices.Contains(assigned(w.job(id2), market.RoleExecutor), w.addr(k)) {
		t.Fatal("a jailed provider was assigned")
	}
	for w.c.Height < p.JailedUntil {
		w.c.Block()
	}
	w.ok(k, "market/unjail", market.MsgUnjail{})
	w.fails(k, "market/unjail", market.MsgUnjail{}, market.ErrJailed)
}

func TestMalformedMessages(t *testing.T) {
	w := newWorld(t, 1, nil)
	bad := []struct {
		typ string
		v   any
	}{
		{"market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: []byte{1}, Budget: wire.UVAI(1), Deadline: 1, Mode: market.Mode{Kind: "optimistic", K: 1}}},
		{"market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: output("i"), Budget: wire.UVAI(1_000_000), Deadline: 0, Mode: market.Mode{Kind: "optimistic", K: 1}}},
		{"market/submit", map[string]any{"model": w.model, "input_cid": "i", "input_digest": output("i"), "budget": "1uvai", "deadline": 3, "mode": "redundant:1"}},
		{"market/submit", map[string]any{"model": w.model, "input_cid": "i", "input_digest": output("i"), "budget": "1uvai", "deadline": 3, "mode": "magic"}},
		{"market/commit", market.MsgCommit{Job: 1, Commitment: output("c"), Output: output("o"), OutputCID: "x"}},
		{"market/reveal", market.MsgReveal{Job: 1, Output: output("o"), OutputCID: "x", Salt: []byte{1}}},
		{"market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(1), Modes: []string{"quantum"}, Capacity: 1}},
		{"market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(1), Modes: []string{"optimistic"}, Capacity: 0}},
		{"market/offer", market.MsgOffer{Model: w.model, ArtifactDigest: "xyz", Format: "vaim"}},
		{"market/offer", market.MsgOffer{Model: w.model, ArtifactDigest: repeat("ab", 32), Format: "pickle"}},
	}
	for i, b := range bad {
		before := w.c.Balance(w.addr(w.buyer))
		r := w.c.Block(w.c.Tx(w.buyer, w.c.Msg(b.typ, b.v))).Txs[0]
		if r.OK() {
			t.Errorf("%d %s accepted", i, b.typ)
		}
		// Refused while decoding: not even the fee is charged.
		if after := w.c.Balance(w.addr(w.buyer)); after != before {
			t.Errorf("%d %s: the buyer's balance moved %d → %d", i, b.typ, before, after)
		}
	}
	// Stake below the minimum.
	w.fails(w.c.Keys[8], "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(1), Modes: []string{"optimistic"}, Capacity: 1}, market.ErrStake)
	// Registering twice.
	w.fails(w.providers[0], "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(200_000_000), Modes: []string{"optimistic"}, Capacity: 1}, market.ErrProvider)
}

func TestJobRestrictedToListedProviders(t *testing.T) {
	w := newWorld(t, 4, nil)
	in := output("input")
	m2, _ := market.ParseMode("redundant:2")
	opt, _ := market.ParseMode("optimistic")
	listed := []wire.Address{w.addr(w.providers[1]), w.addr(w.providers[3])}
	s := w.snap()
	// Too few for the mode, unknown providers, keys to encrypt to missing,
	// an encrypted input without recipients.
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: in, Budget: wire.UVAI(200_000), Deadline: 20, Mode: m2, Providers: listed[:1]}, market.ErrJob)
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: in, Budget: wire.UVAI(200_000), Deadline: 20, Mode: opt, Providers: listed}, market.ErrJob)
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: in, Budget: wire.UVAI(200_000), Deadline: 20, Mode: m2, Providers: []wire.Address{listed[0], w.addr(w.c.Keys[8])}}, market.ErrNotProvider)
	w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: in, Budget: wire.UVAI(200_000), Deadline: 20, Mode: m2, Providers: listed, Encrypted: true}, market.ErrJob)
	w.expect(s, map[string]int64{})
	// Listed: only they are drawn, job after job.
	for range 5 {
		w.ok(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: in, Budget: wire.UVAI(200_000), Deadline: 20, Mode: m2, Providers: listed})
		var jobs []market.Job
		w.c.Query("/market/jobs", map[string]any{"buyer": w.addr(w.buyer)}, &jobs)
		j := jobs[len(jobs)-1]
		got := assigned(j, market.RoleExecutor)
		if len(got) != 2 || !slices.Contains(listed, got[0]) || !slices.Contains(listed, got[1]) {
			t.Fatalf("job %d assigned %v, listed %v", j.ID, got, listed)
		}
		w.commitReveal(j.ID, func(wire.Address) []byte { return output("7") })
	}
	// With encryption keys registered, an encrypted input is accepted.
	for _, k := range []int{1, 3} {
		w.ok(w.providers[k], "market/provider_update", market.MsgProviderUpdate{Modes: []string{"redundant"}, Capacity: 4, EncryptionKey: "age1examplekey",
			Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(w.price)}}})
	}
	w.ok(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: in, Budget: wire.UVAI(200_000), Deadline: 20, Mode: m2, Providers: listed, Encrypted: true})
}
