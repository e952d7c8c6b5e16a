package market

import (
	"bytes"
	"math/bits"
	"slices"
	"strings"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// feeOf is the protocol fee of an amount.
func feeOf(x uint64, bps uint32) uint64 {
	hi, lo := bits.Mul64(x, uint64(bps))
	q, _ := bits.Div64(hi, lo, 10_000)
	return q
}

// mulDiv is ⌊x·y/z⌋ without overflow (the result fits: y ≤ z).
func mulDiv(x, y, z uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	q, _ := bits.Div64(hi, lo, z)
	return q
}

var feePool = wire.ModuleAddress(bank.FeePool)

// pay moves a payment out of the market's account, taking the protocol
// fee into the fee pool; vest delays the net amount by VestingBlocks.
func (m *Module) pay(ctx *ledger.Context, to wire.Address, gross uint64, job uint64, vest bool) error {
	_, err := m.payNet(ctx, to, gross, job, vest)
	return err
}

// payNet is pay that returns the net amount (after the protocol fee).
func (m *Module) payNet(ctx *ledger.Context, to wire.Address, gross uint64, job uint64, vest bool) (uint64, error) {
	if gross == 0 {
		return 0, nil
	}
	p := params(ctx)
	fee := feeOf(gross, p.ProtocolFeeBps)
	if fee > 0 {
		if err := m.bank.Transfer(ctx, moduleAddr, feePool, fee); err != nil {
			return 0, err
		}
	}
	net := gross - fee
	if net == 0 {
		return 0, nil
	}
	if !vest || p.VestingBlocks == 0 {
		return net, m.bank.Transfer(ctx, moduleAddr, to, net)
	}
	release := ctx.Height + p.VestingBlocks
	n := nextSeq(ctx, kVestSeq)
	key := append(append([]byte(pVesting), ledger.PutUint64(uint64(release))...), ledger.PutUint64(n)...)
	store(ctx).Set(key, ledger.MustEncodeJSON(Vesting{To: to, Amount: wire.UVAI(net), Job: job, Release: release}))
	ctx.Emit("payment_vesting", ledger.AI("to", to.String()), ledger.A("amount", wire.UVAI(net).String()), ledger.AI("job", utoa(job)), ledger.A("release", itoa(release)))
	return net, nil
}

// settle closes a job whose result is accepted: the winning assignments
// (indices) are paid their price (vesting), the model owner the model's
// price less the data royalty, the contributors of every dataset in the
// model's lineage the royalty pro rata to their weights (dust to the first
// winner), and the buyer the rest of the budget.
func (m *Module) settle(ctx *ledger.Context, j *Job, winners []int, reason string) error {
	md, err := modelInfo(ctx, j.Model)
	if err != nil {
		return err
	}
	cost := j.ModelPrice.Amount
	for _, i := range winners {
		var c uint64
		if cost, c = bits.Add64(cost, j.Assignments[i].Price.Amount, 0); c != 0 {
			return ErrOverflow.Wrapf("job %d cost", j.ID)
		}
	}
	if cost > j.Budget.Amount {
		return ErrBudget.Wrapf("job %d costs %d, its budget is %s", j.ID, cost, j.Budget)
	}
	var split []Payment
	dust, err := m.payModel(ctx, md, j.ModelPrice.Amount, ledger.AI("job", utoa(j.ID)), &split)
	if err != nil {
		return err
	}
	for k, i := range winners {
		a := &j.Assignments[i]
		amount := a.Price.Amount
		if k == 0 {
			amount += dust
		}
		net, err := m.payNet(ctx, a.Provider, amount, j.ID, true)
		if err != nil {
			return err
		}
		split = append(split, Payment{To: a.Provider, Kind: PayExecutor, Amount: wire.UVAI(net)})
		a.State = AsgPaid
		m.outcome(ctx, a.Provider, true)
		m.release(ctx, a.Provider)
	}
	j.Split = split
	return m.close(ctx, j, reason, &cost)
}

// payModel pays a model's price: the owner keeps it less the data
// royalty of its terms, which goes to the contributors (payRoyalty). It
// returns the dust of the royalty's division.
func (m *Module) payModel(ctx *ledger.Context, md *registry.Model, price uint64, ref ledger.Attr, split *[]Payment) (uint64, error) {
	royalty := mulDiv(price, uint64(md.Terms.RoyaltyBps), 10_000)
	net, err := m.payNet(ctx, md.Owner, price-royalty, 0, false)
	if err != nil {
		return 0, err
	}
	*split = append(*split, Payment{To: md.Owner, Kind: PayOwner, Amount: wire.UVAI(net)})
	return m.payRoyalty(ctx, md, royalty, ref, split)
}

// payRoyalty splits the royalty among the datasets in the model's lineage
// equally, and each dataset's part among its contributors pro rata to
// their registered weights (weights are a dataset's own units, so they are
// not compared across datasets); a contributor to several datasets gets
// one payment. Integer division throughout; it returns the dust.
func (m *Module) payRoyalty(ctx *ledger.Context, md *registry.Model, royalty uint64, ref ledger.Attr, split *[]Payment) (uint64, error) {
	if royalty == 0 {
		return 0, nil
	}
	l, err := registry.LineageOf(ctx, md.ID)
	if err != nil {
		return royalty, nil // a broken lineage pays no royalty; the provider gets it as dust
	}
	var sets []*registry.Dataset
	for _, n := range l.Nodes {
		if n.Kind == "dataset" && n.Dataset != nil {
			sets = append(sets, n.Dataset)
		}
	}
	if len(sets) == 0 {
		return royalty, nil
	}
	slices.SortFunc(sets, func(a, b *registry.Dataset) int { return strings.Compare(string(a.ID), string(b.ID)) })
	per := royalty / uint64(len(sets))
	owed := map[wire.Address]uint64{}
	for _, d := range sets {
		var total uint64
		for _, c := range d.Contributors {
			total += c.Weight // registration guarantees no overflow
		}
		if total == 0 {
			continue
		}
		for _, c := range d.Contributors {
			owed[c.Address] += mulDiv(per, c.Weight, total) // ≤ per, summing to ≤ royalty
		}
	}
	addrs := make([]wire.Address, 0, len(owed))
	for a := range owed {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b wire.Address) int { return bytes.Compare(a[:], b[:]) })
	var paid uint64
	for _, a := range addrs {
		share := owed[a]
		if share == 0 {
			continue
		}
		net, err := m.payNet(ctx, a, share, 0, false)
		if err != nil {
			return 0, err
		}
		*split = append(*split, Payment{To: a, Kind: PayRoyalty, Amount: wire.UVAI(net)})
		paid += share
		ctx.Emit("royalty_paid", ledger.AI("to", a.String()), ledger.A("amount", wire.UVAI(share).String()), ref)
	}
	return royalty - paid, nil
}

// close ends a job: whatever is left of the budget goes back to the buyer,
// open assignments are released, the deadline index is cleared.
func (m *Module) close(ctx *ledger.Context, j *Job, reason string, cost *uint64) error {
	var spent uint64
	if cost != nil {
		spent = *cost
	}
	refund := j.Budget.Amount - spent
	if refund > 0 {
		if err := m.bank.Transfer(ctx, moduleAddr, j.Buyer, refund); err != nil {
			return err
		}
	}
	if j.Challenge != nil && !j.Challenge.Bond.IsZero() {
		if err := m.bank.Transfer(ctx, moduleAddr, j.Challenge.Challenger, j.Challenge.Bond.Amount); err != nil {
			return err
		}
		j.Challenge.Bond = wire.Coin{}
	}
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if a.open() {
			if a.State == AsgRevealed {
				a.State = AsgUnpaid
			} else {
				a.State = AsgTimedOut
			}
			m.release(ctx, a.Provider)
		}
	}
	j.State = StateClosed
	j.Need, j.WindowEnd = 0, 0
	j.Closing = &Closing{Reason: reason, Height: ctx.Height, Cost: wire.UVAI(spent), Refund: wire.UVAI(refund)}
	store(ctx).Delete([]byte(idKey(pQueue, j.ID)))
	m.reschedule(ctx, j)
	putJob(ctx, j)
	ctx.Emit("job_closed", ledger.AI("job", utoa(j.ID)), ledger.A("reason", reason), ledger.A("cost", wire.UVAI(spent).String()),
		ledger.A("refund", wire.UVAI(refund).String()))
	return nil
}

// release frees a capacity slot of a provider.
func (m *Module) release(ctx *ledger.Context, addr wire.Address) {
	pv, ok := GetProvider(ctx, addr)
	if !ok || pv.Active == 0 {
		return
	}
	pv.Active--
	putProvider(ctx, pv)
}

// outcome updates a provider's reputation, strikes and jail.
func (m *Module) outcome(ctx *ledger.Context, addr wire.Address, good bool) {
	pv, ok := GetProvider(ctx, addr)
	if !ok {
		return
	}
	p := params(ctx)
	var target uint64
	if good {
		target = 10_000
		pv.Delivered++
		pv.Strikes = 0
	} else {
		pv.Failed++
		pv.Strikes++
		if pv.Strikes >= p.JailAfter && p.JailAfter > 0 {
			pv.JailedUntil = ctx.Height + p.JailBlocks
			pv.Strikes = 0
			ctx.Emit("provider_jailed", ledger.AI("provider", addr.String()), ledger.A("until", itoa(pv.JailedUntil)))
		}
	}
	a := uint64(p.ReputationAlphaBps)
	pv.Reputation = uint32((uint64(pv.Reputation)*(10_000-a) + target*a) / 10_000)
	putProvider(ctx, pv)
}

// fail marks an assignment failed (timed out), penalises its provider and
// frees its slot.
func (m *Module) fail(ctx *ledger.Context, j *Job, i int, state string) error {
	a := &j.Assignments[i]
	a.State = state
	m.release(ctx, a.Provider)
	m.outcome(ctx, a.Provider, false)
	p := params(ctx)
	amount, err := m.slash(ctx, a.Provider, p.LatePenaltyBps)
	if err != nil {
		return err
	}
	if amount > 0 {
		if err := m.bank.Burn(ctx, moduleAddr, amount); err != nil {
			return err
		}
	}
	ctx.Emit("provider_late", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", a.Provider.String()), ledger.A("penalty", wire.UVAI(amount).String()))
	return nil
}

// slash takes bps of a provider's bonded stake (bonded first, then
// unbonding) and returns the amount, still in the market's account.
func (m *Module) slash(ctx *ledger.Context, addr wire.Address, bps uint32) (uint64, error) {
	pv, ok := GetProvider(ctx, addr)
	if !ok {
		return 0, nil
	}
	amount := mulDiv(pv.Bonded(), uint64(bps), 10_000)
	left := amount
	take := min(left, pv.Stake.Amount)
	pv.Stake.Amount -= take
	left -= take
	for k := range pv.Unbonding {
		if left == 0 {
			break
		}
		t := min(left, pv.Unbonding[k].Amount.Amount)
		pv.Unbonding[k].Amount.Amount -= t
		left -= t
	}
	pv.Unbonding = slices.DeleteFunc(pv.Unbonding, func(u Unbonding) bool { return u.Amount.IsZero() })
	putProvider(ctx, pv)
	return amount, nil
}

// slashAssignment slashes the provider of a wrong result: a share of the
// slashed stake goes to the beneficiaries (equally), the rest is burned.
func (m *Module) slashAssignment(ctx *ledger.Context, j *Job, i int, beneficiaries []wire.Address) error {
	a := &j.Assignments[i]
	a.State = AsgSlashed
	m.release(ctx, a.Provider)
	m.outcome(ctx, a.Provider, false)
	p := params(ctx)
	amount, err := m.slash(ctx, a.Provider, p.SlashBps)
	if err != nil {
		return err
	}
	if pv, ok := GetProvider(ctx, a.Provider); ok {
		pv.Slashed++
		putProvider(ctx, pv)
	}
	reward := mulDiv(amount, uint64(p.SlashRewardBps), 10_000)
	if len(beneficiaries) == 0 {
		reward = 0
	}
	if err := m.split(ctx, reward, beneficiaries); err != nil {
		return err
	}
	if burn := amount - reward; burn > 0 {
		if err := m.bank.Burn(ctx, moduleAddr, burn); err != nil {
			return err
		}
	}
	ctx.Emit("provider_slashed", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", a.Provider.String()), ledger.A("amount", wire.UVAI(amount).String()))
	return nil
}

// split pays amount from the market's account equally to addrs; the
// remainder of the division is burned.
func (m *Module) split(ctx *ledger.Context, amount uint64, addrs []wire.Address) error {
	if amount == 0 {
		return nil
	}
	if len(addrs) == 0 {
		return m.bank.Burn(ctx, moduleAddr, amount)
	}
	share := amount / uint64(len(addrs))
	for _, a := range addrs {
		if share > 0 {
			if err := m.bank.Transfer(ctx, moduleAddr, a, share); err != nil {
				return err
			}
		}
	}
	if rest := amount - share*uint64(len(addrs)); rest > 0 {
		return m.bank.Burn(ctx, moduleAddr, rest)
	}
	return nil
}
