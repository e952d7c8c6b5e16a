package market

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

func deadlineKey(h int64, id uint64) []byte {
	k := append([]byte(pDeadline), ledger.PutUint64(uint64(h))...)
	return append(k, ledger.PutUint64(id)...)
}

// reschedule recomputes a job's next deadline and indexes it.
func (m *Module) reschedule(ctx *ledger.Context, j *Job) {
	s := store(ctx)
	if j.Due != 0 {
		s.Delete(deadlineKey(j.Due, j.ID))
	}
	if j.State == StateClosed {
		j.Due = 0
		return
	}
	p := params(ctx)
	due := j.hardDeadline(p)
	for _, a := range j.Assignments {
		if a.State == AsgAssigned {
			due = min(due, a.Assigned+p.AssignTimeout)
		}
	}
	if j.WindowEnd != 0 {
		// A window that closes at height h is acted on at the end of h+1:
		// messages at h itself are still in time.
		due = min(due, j.WindowEnd+1)
	}
	due = max(due, ctx.Height+1)
	j.Due = due
	s.Set(deadlineKey(due, j.ID), []byte{1})
}

// hardDeadline is when a job must be over: its deadline, except that a
// result delivered in time cannot be lost to it. A result under challenge
// waits for its window (far in the future here: the window governs), and
// an arbitration gets rounds of assignment and a reveal from the challenge.
func (j *Job) hardDeadline(p Params) int64 {
	switch j.State {
	case StateChallenge:
		return math.MaxInt64
	case StateDisputed:
		return j.Challenge.Height + p.AssignTimeout*int64(p.Arbiters+1) + p.RevealTimeout
	}
	return j.Deadline
}

// advance applies whatever is due for a job at this height.
func (m *Module) advance(ctx *ledger.Context, j *Job) error {
	p := params(ctx)
	h := ctx.Height
	// Windows first: a result delivered in time stands even at the deadline.
	if j.WindowEnd != 0 && h > j.WindowEnd {
		switch j.State {
		case StateChallenge:
			ei, _ := assignment(j, j.Result.Provider, AsgRevealed)
			return m.settle(ctx, j, []int{ei}, CloseSettled)
		case StateRevealing, StateDisputed:
			// Committed but not revealed in time: penalised and replaced.
			role := RoleExecutor
			if j.State == StateDisputed {
				role = RoleArbiter
			}
			for _, i := range active(j, role) {
				if j.Assignments[i].State == AsgCommitted {
					if err := m.fail(ctx, j, i, AsgTimedOut); err != nil {
						return err
					}
					j.Need++
				}
			}
			j.WindowEnd = 0
			if j.State == StateRevealing {
				j.State = StateRunning
			}
			if j.Need == 0 {
				return m.tally(ctx, j)
			}
			store(ctx).Set([]byte(idKey(pQueue, j.ID)), []byte{1})
		}
	}
	// Silent providers: penalised, their slot re-opened.
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if a.State == AsgAssigned && h >= a.Assigned+p.AssignTimeout {
			if err := m.fail(ctx, j, i, AsgTimedOut); err != nil {
				return err
			}
			j.Need++
			store(ctx).Set([]byte(idKey(pQueue, j.ID)), []byte{1})
		}
	}
	if h >= j.hardDeadline(p) && j.State != StateDisputed && j.State != StateChallenge {
		return m.close(ctx, j, CloseExpired, nil)
	}
	if h >= j.hardDeadline(p) && j.State == StateDisputed {
		// Arbitration that cannot finish: the result stands.
		ei, _ := assignment(j, j.Result.Provider, AsgRevealed)
		if err := m.bank.SendFromModule(ctx, Name, j.Challenge.Challenger, j.Challenge.Bond.Amount); err != nil {
			return err
		}
		j.Challenge.Bond = wire.Coin{}
		for _, i := range active(j, RoleArbiter) {
			j.Assignments[i].State = AsgUnpaid
			m.release(ctx, j.Assignments[i].Provider)
		}
		return m.settle(ctx, j, []int{ei}, CloseUpheld)
	}
	m.reschedule(ctx, j)
	putJob(ctx, j)
	return nil
}

// EndBlock implements ledger.EndBlocker: deadlines, assignments, vesting.
func (m *Module) EndBlock(ctx *ledger.Context) error {
	budget := params(ctx).MaxDuePerBlock
	if err := m.processDeadlines(ctx, &budget); err != nil {
		return err
	}
	if err := m.assignQueued(ctx); err != nil {
		return err
	}
	if err := m.batchDue(ctx, &budget); err != nil {
		return err
	}
	if err := m.sessionsDue(ctx, &budget); err != nil {
		return err
	}
	return m.releaseVesting(ctx)
}

func (m *Module) processDeadlines(ctx *ledger.Context, budget *uint32) error {
	_, due := dueIDs(ctx, pDeadline, budget)
	for _, id := range due {
		j, ok := GetJob(ctx, id)
		if !ok || j.State == StateClosed {
			continue
		}
		if err := ctx.Try(func(c *ledger.Context) error { return m.advance(c, j) }); err != nil {
			if err := m.abandon(ctx, id, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// abandon closes a job whose deadline processing failed — a bug, not a
// reason to halt the chain: its changes were undone (ctx.Try), the buyer
// gets the budget back and the providers their slots; the error is an
// event. Only if even that fails does the block fail.
func (m *Module) abandon(ctx *ledger.Context, id uint64, cause error) error {
	return ctx.Try(func(c *ledger.Context) error {
		j, ok := GetJob(c, id)
		if !ok {
			return cause
		}
		c.Emit("job_error", ledger.AI("job", utoa(id)), ledger.A("error", cause.Error()))
		return m.close(c, j, CloseInconclusive, nil) // refunds the budget and any bond
	})
}

// dueIDs reads an index of keys prefix|height|id for heights up to the
// current one, in order, at most *budget of them (the budget is reduced by
// their number), and returns the keys and the ids.
func dueIDs(ctx *ledger.Context, prefix string, budget *uint32) (keys [][]byte, ids []uint64) {
	end := append([]byte(prefix), ledger.PutUint64(uint64(ctx.Height)+1)...)
	it := store(ctx).Iterator([]byte(prefix), end)
	for ; it.Valid() && uint32(len(keys)) < *budget; it.Next() {
		keys = append(keys, it.Key())
		ids = append(ids, ledger.Uint64(it.Key()[len(prefix)+8:]))
	}
	it.Close()
	*budget -= uint32(len(keys))
	return keys, ids
}

// slotBudget is the most each of n more executors may cost.
func (m *Module) slotBudget(j *Job, n uint32) uint64 {
	spent := j.ModelPrice.Amount
	for _, a := range j.Assignments {
		if a.Role == RoleExecutor && (a.open() || a.State == AsgUnpaid) {
			spent += a.Price.Amount
		}
	}
	if spent >= j.Budget.Amount || n == 0 {
		return 0
	}
	return (j.Budget.Amount - spent) / uint64(n)
}

type candidate struct {
	p     *Provider
	price uint64
}

// pool is the scheduler's view of the providers in one end of block: each
// model's servers are read from the state once, then kept up to date in
// memory as slots are taken (iterating the state per job would cost a
// sort of the block's writes every time).
type pool struct {
	providers map[wire.Address]*Provider
	serves    map[registry.ID][]candidate
	dirty     map[wire.Address]bool
}

func newPool() *pool {
	return &pool{providers: map[wire.Address]*Provider{}, serves: map[registry.ID][]candidate{}, dirty: map[wire.Address]bool{}}
}

// servers lists a model's servers, in address order.
func (pl *pool) servers(ctx *ledger.Context, model registry.ID) []candidate {
	if c, ok := pl.serves[model]; ok {
		return c
	}
	var out []candidate
	prefix := []byte(pServes + string(model) + "/")
	it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
	for ; it.Valid(); it.Next() {
		var addr wire.Address
		copy(addr[:], it.Key()[len(prefix):])
		var price wire.Coin
		if err := ledger.DecodeJSON(it.Value(), &price); err != nil {
			panic(&ledger.StorageError{Err: err})
		}
		out = append(out, candidate{p: pl.provider(ctx, addr), price: price.Amount})
	}
	it.Close()
	pl.serves[model] = out
	return out
}

func (pl *pool) provider(ctx *ledger.Context, a wire.Address) *Provider {
	if p, ok := pl.providers[a]; ok {
		return p
	}
	p, _ := GetProvider(ctx, a) // nil if gone
	pl.providers[a] = p
	return p
}

// flush writes the providers whose slots changed.
func (pl *pool) flush(ctx *ledger.Context) {
	addrs := make([]wire.Address, 0, len(pl.dirty))
	for a := range pl.dirty {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b wire.Address) int { return bytes.Compare(a[:], b[:]) })
	for _, a := range addrs {
		putProvider(ctx, pl.providers[a])
	}
}

// assignQueued gives queued jobs their providers.
func (m *Module) assignQueued(ctx *ledger.Context) error {
	s := store(ctx)
	it := s.Iterator([]byte(pQueue), ledger.PrefixEnd([]byte(pQueue)))
	var queued []uint64
	for ; it.Valid(); it.Next() {
		queued = append(queued, ledger.Uint64(it.Key()[len(pQueue):]))
	}
	it.Close()
	budget := params(ctx).MaxAssignPerBlock
	pl := newPool()
	defer pl.flush(ctx)
	for _, id := range queued {
		if budget == 0 {
			break
		}
		j, ok := GetJob(ctx, id)
		if !ok || j.State == StateClosed || j.Need == 0 {
			s.Delete([]byte(idKey(pQueue, id)))
			continue
		}
		n := m.assign(ctx, pl, j, budget)
		budget -= n
		if j.Need == 0 {
			s.Delete([]byte(idKey(pQueue, id)))
		}
		if n > 0 {
			m.reschedule(ctx, j)
			putJob(ctx, j)
		}
	}
	return nil
}

// assign draws providers for a job's open slots; it returns how many.
func (m *Module) assign(ctx *ledger.Context, pl *pool, j *Job, limit uint32) uint32 {
	p := params(ctx)
	role := RoleExecutor
	if j.State == StateDisputed {
		role = RoleArbiter
	}
	var maxPrice uint64 = math.MaxUint64
	if role == RoleExecutor {
		maxPrice = m.slotBudget(j, j.Need)
	}
	exclude := map[wire.Address]bool{j.Buyer: true}
	for _, a := range j.Assignments {
		exclude[a.Provider] = true
	}
	if j.Challenge != nil {
		exclude[j.Challenge.Challenger] = true
	}
	var allowed map[wire.Address]bool
	if len(j.Providers) > 0 {
		allowed = map[wire.Address]bool{}
		for _, a := range j.Providers {
			allowed[a] = true
		}
	}
	o, ok := GetOffer(ctx, j.Model)
	if !ok || !o.Active {
		return 0
	}
	var cands []candidate
	var weights []uint64
	for _, c := range pl.servers(ctx, j.Model) {
		pv := c.p
		if pv == nil || exclude[pv.Address] || (allowed != nil && !allowed[pv.Address]) || pv.JailedUntil > ctx.Height || pv.Stake.Amount < p.MinStake.Amount || pv.Active >= pv.Capacity ||
			!slices.Contains(pv.Modes, j.Mode.Kind) || (role == RoleExecutor && c.price > maxPrice) {
			continue
		}
		if o.PublicCID == "" {
			if _, ok := GetGrant(ctx, j.Model, pv.Address); !ok {
				continue
			}
		}
		cands = append(cands, c)
		weights = append(weights, weight(pv, c.price))
	}
	var n uint32
	rng := newRNG(ctx.BlockHash, j.ID, j.Rounds)
	for j.Need > 0 && len(cands) > 0 && n < limit {
		var total uint64
		for _, w := range weights {
			total = satAdd(total, w)
		}
		pick := rng.uint64n(total)
		var k int
		for k = range cands {
			if pick < weights[k] {
				break
			}
			pick -= weights[k]
		}
		c := cands[k]
		cands = slices.Delete(cands, k, k+1)
		weights = slices.Delete(weights, k, k+1)
		price := c.price
		if role == RoleArbiter {
			price = 0 // arbiters are paid from the losing side
		}
		j.Assignments = append(j.Assignments, Assignment{Provider: c.p.Address, Role: role, Price: wire.UVAI(price), Assigned: ctx.Height, State: AsgAssigned})
		c.p.Active++
		pl.dirty[c.p.Address] = true
		j.Need--
		n++
		if j.State == StateOpen {
			j.State = StateRunning
		}
		ctx.Emit("job_assigned", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", c.p.Address.String()), ledger.A("role", role),
			ledger.A("price", wire.UVAI(price).String()))
	}
	if n > 0 {
		j.Rounds++
	}
	return n
}

// weight is a provider's chance of being drawn: its stake (in vai), its
// reputation and its free capacity, over its price.
func weight(p *Provider, price uint64) uint64 {
	stake := p.Stake.Amount/1_000_000 + 1
	w := mulSat(mulSat(stake, uint64(p.Reputation)+100), uint64(p.Capacity-p.Active))
	w /= price/1_000 + 1
	return max(w, 1)
}

func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

// rng is a deterministic generator seeded from block data: SHA-256 in
// counter mode. The block hash is known to every validator only once the
// block is decided, so the assignments are too.
type rng struct {
	seed [32]byte
	n    uint64
}

func newRNG(blockHash []byte, job uint64, round uint32) *rng {
	h := sha256.New()
	h.Write([]byte("vai/market/assign/v1"))
	h.Write(blockHash)
	h.Write(binary.BigEndian.AppendUint64(nil, job))
	h.Write(binary.BigEndian.AppendUint32(nil, round))
	r := &rng{}
	h.Sum(r.seed[:0])
	return r
}

func (r *rng) next() uint64 {
	var b [40]byte
	copy(b[:], r.seed[:])
	binary.BigEndian.PutUint64(b[32:], r.n)
	r.n++
	s := sha256.Sum256(b[:])
	return binary.BigEndian.Uint64(s[:8])
}

// uint64n returns a uniform number in [0, n) (n > 0), by rejection.
func (r *rng) uint64n(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		if v := r.next(); v < limit {
			return v % n
		}
	}
}

func (m *Module) releaseVesting(ctx *ledger.Context) error {
	s := store(ctx)
	end := append([]byte(pVesting), ledger.PutUint64(uint64(ctx.Height)+1)...)
	it := s.Iterator([]byte(pVesting), end)
	type due struct {
		key []byte
		v   Vesting
	}
	var dues []due
	for ; it.Valid(); it.Next() {
		var v Vesting
		if err := ledger.DecodeJSON(it.Value(), &v); err != nil {
			panic(&ledger.StorageError{Err: err})
		}
		dues = append(dues, due{key: it.Key(), v: v})
	}
	it.Close()
	for _, d := range dues {
		if err := m.bank.SendFromModule(ctx, Name, d.v.To, d.v.Amount.Amount); err != nil {
			return err
		}
		s.Delete(d.key)
		ctx.Emit("payment_vested", ledger.AI("to", d.v.To.String()), ledger.A("amount", d.v.Amount.String()), ledger.AI("job", utoa(d.v.Job)))
	}
	return nil
}
