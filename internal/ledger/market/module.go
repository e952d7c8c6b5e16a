package market

import (
	"encoding/json"
	"fmt"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

// Msgs implements ledger.Module.
func (m *Module) Msgs() []ledger.MsgType {
	return []ledger.MsgType{
		ledger.GasFunc(ledger.Handler("market/provider_register", 0, m.providerRegister), func(x *MsgProviderRegister) uint64 {
			return GasProvider + GasPerServe*uint64(len(x.Serves))
		}),
		ledger.GasFunc(ledger.Handler("market/provider_update", 0, m.providerUpdate), func(x *MsgProviderUpdate) uint64 {
			return GasProvider + GasPerServe*uint64(len(x.Serves))
		}),
		ledger.Handler("market/endorse", GasSmall, m.endorse),
		ledger.Handler("market/unbond", GasSmall, m.unbond),
		ledger.Handler("market/withdraw", GasSmall, m.withdraw),
		ledger.Handler("market/unjail", GasSmall, m.unjail),
		ledger.Handler("market/offer", GasSmall, m.offer),
		ledger.Handler("market/grant", GasSmall, m.grant),
		ledger.Handler("market/submit", GasSubmit, m.submit),
		ledger.Handler("market/cancel", GasSmall, m.cancel),
		ledger.Handler("market/decline", GasSmall, m.decline),
		ledger.GasFunc(ledger.Handler("market/commit", 0, m.commit), func(x *MsgCommit) uint64 {
			g := uint64(GasCommit)
			for _, v := range m.verifiers {
				if len(x.Evidence) > 0 {
					g = max(g, GasCommit+v.Gas(x.Evidence))
				}
			}
			return g
		}),
		ledger.Handler("market/reveal", GasReveal, m.reveal),
		ledger.Handler("market/challenge", GasSmall, m.challenge),
		ledger.Handler("market/settle", GasSmall, m.settleMsg),
		ledger.Handler("market/open_session", GasSmall, m.openSession),
		ledger.Handler("market/close_session", GasSmall, m.closeSession),
		ledger.Handler("market/settle_batch", GasBatch, m.settleBatch),
		ledger.GasFunc(ledger.Handler("market/challenge_batch", 0, m.challengeBatch), func(x *MsgChallengeBatch) uint64 {
			return GasBatchChallenge + 500*uint64(len(x.Proof))
		}),
		ledger.Handler("market/finalize_batch", GasSmall, m.finalizeBatchMsg),
	}
}

// --- queries ---

// ProviderResponse answers "/market/provider".
type ProviderResponse struct {
	Provider
	Serves []ServeEntry `json:"serves"`
}

// Query implements ledger.Module: provider, providers, offer, job, jobs
// (by buyer or provider), assignments (a provider's open work), params.
func (m *Module) Query(ctx *ledger.Context, path string, req []byte) (any, error) {
	dec := func(v any) error {
		if err := ledger.DecodeJSON(req, v); err != nil {
			return ledger.ErrInvalidQuery.Wrapf("%v", err)
		}
		return nil
	}
	switch path {
	case "params":
		return params(ctx), nil
	case "provider":
		var r struct {
			Address wire.Address `json:"address"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		pv, ok := GetProvider(ctx, r.Address)
		if !ok {
			return nil, ErrNotProvider.Wrapf("%s", r.Address)
		}
		serves := ServedBy(ctx, r.Address)
		if serves == nil {
			serves = []ServeEntry{}
		}
		return ProviderResponse{Provider: *pv, Serves: serves}, nil
	case "providers":
		out := []Provider{}
		it := store(ctx).Iterator([]byte(pProvider), ledger.PrefixEnd([]byte(pProvider)))
		defer it.Close()
		for ; it.Valid() && len(out) < 1000; it.Next() {
			var p Provider
			if err := ledger.DecodeJSON(it.Value(), &p); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	case "offer":
		var r struct {
			Model string `json:"model"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		o, ok := get[Offer](ctx, pOffer+r.Model)
		if !ok {
			return nil, ErrNotOffered.Wrapf("%s", r.Model)
		}
		return o, nil
	case "grant":
		var r struct {
			Model    string       `json:"model"`
			Provider wire.Address `json:"provider"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		g, ok := get[Grant](ctx, pGrant+r.Model+"/"+string(r.Provider[:]))
		if !ok {
			return nil, ErrNotOffered.Wrapf("no grant of %s to %s", r.Model, r.Provider)
		}
		return g, nil
	case "assignments":
		// The jobs where a provider holds an open assignment.
		var r struct {
			Provider wire.Address `json:"provider"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		out := []Job{}
		prefix := append([]byte(pAssigned), r.Provider[:]...)
		it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
		defer it.Close()
		for ; it.Valid() && len(out) < 1000; it.Next() {
			if j, ok := GetJob(ctx, ledger.Uint64(it.Key()[len(prefix):])); ok {
				out = append(out, *j)
			}
		}
		return out, nil
	case "session":
		var r struct {
			ID uint64 `json:"id"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		s, ok := GetSession(ctx, r.ID)
		if !ok {
			return nil, ErrBatch.Wrapf("no session %d", r.ID)
		}
		return s, nil
	case "sessions":
		// Open sessions of a buyer or provider.
		var r struct {
			Buyer    wire.Address `json:"buyer,omitzero"`
			Provider wire.Address `json:"provider,omitzero"`
			All      bool         `json:"all,omitzero"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		out := []Session{}
		list := indexed[Session](ctx, pOpenSession, pSession)
		if r.All {
			list = scan[Session](ctx, pSession)
		}
		for _, s := range list {
			if (!r.All && s.State != SessionOpen) || (!r.Buyer.IsZero() && s.Buyer != r.Buyer) || (!r.Provider.IsZero() && s.Provider != r.Provider) {
				continue
			}
			if out = append(out, s); len(out) == 1000 {
				break
			}
		}
		return out, nil
	case "batches":
		// A session's batches, oldest first.
		var r struct {
			Session uint64 `json:"session"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		out := []Batch{}
		prefix := append([]byte(pSessionAll), ledger.PutUint64(r.Session)...)
		it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
		defer it.Close()
		for ; it.Valid() && len(out) < 10_000; it.Next() {
			if b, ok := GetBatch(ctx, ledger.Uint64(it.Key()[len(prefix):])); ok {
				out = append(out, *b)
			}
		}
		return out, nil
	case "batch":
		var r struct {
			ID uint64 `json:"id"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		b, ok := GetBatch(ctx, r.ID)
		if !ok {
			return nil, ErrBatch.Wrapf("no batch %d", r.ID)
		}
		return b, nil
	case "job":
		var r struct {
			ID uint64 `json:"id"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		j, ok := GetJob(ctx, r.ID)
		if !ok {
			return nil, ErrJobNotFound.Wrapf("%d", r.ID)
		}
		return j, nil
	case "jobs":
		var r struct {
			Buyer    wire.Address `json:"buyer,omitzero"`
			Provider wire.Address `json:"provider,omitzero"`
			Open     bool         `json:"open,omitzero"`
			After    uint64       `json:"after,omitzero"`
			Limit    int          `json:"limit,omitzero"`
		}
		if err := dec(&r); err != nil {
			return nil, err
		}
		if r.Limit <= 0 || r.Limit > 500 {
			r.Limit = 100
		}
		out := []Job{}
		if r.Open {
			for _, j := range indexed[Job](ctx, pOpenJob, pJob) {
				if j.ID <= r.After || (!r.Buyer.IsZero() && j.Buyer != r.Buyer) {
					continue
				}
				if !r.Provider.IsZero() {
					if _, a := assignment(&j, r.Provider, AsgAssigned, AsgCommitted, AsgRevealed); a == nil {
						continue
					}
				}
				if out = append(out, j); len(out) == r.Limit {
					break
				}
			}
			return out, nil
		}
		start := []byte(idKey(pJob, r.After+1))
		it := store(ctx).Iterator(start, ledger.PrefixEnd([]byte(pJob)))
		defer it.Close()
		scanned := 0
		for ; it.Valid() && len(out) < r.Limit && scanned < 100_000; it.Next() {
			scanned++
			var j Job
			if err := ledger.DecodeJSON(it.Value(), &j); err != nil {
				return nil, err
			}
			if r.Open && j.State == StateClosed {
				continue
			}
			if !r.Buyer.IsZero() && j.Buyer != r.Buyer {
				continue
			}
			if !r.Provider.IsZero() {
				if _, a := assignment(&j, r.Provider, AsgAssigned, AsgCommitted, AsgRevealed, AsgPaid, AsgSlashed, AsgTimedOut, AsgDeclined, AsgUnpaid); a == nil {
					continue
				}
			}
			out = append(out, j)
		}
		return out, nil
	}
	return nil, ledger.ErrUnknownQuery.Wrapf("market/%s", path)
}

// --- genesis ---

// Genesis is the market's genesis state.
type Genesis struct {
	Params    Params     `json:"params"`
	Offers    []Offer    `json:"offers"`
	Providers []Provider `json:"providers"`
	Grants    []Grant    `json:"grants"`
}

// DefaultGenesis implements ledger.Module.
func (*Module) DefaultGenesis() json.RawMessage {
	return ledger.MustEncodeJSON(Genesis{Params: DefaultParams(), Offers: []Offer{}, Providers: []Provider{}, Grants: []Grant{}})
}

// InitGenesis implements ledger.Module. Jobs in flight are not part of a
// genesis: export a chain with none (their escrow would be unaccounted).
func (m *Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	var g Genesis
	if err := ledger.DecodeJSON(raw, &g); err != nil {
		return err
	}
	if err := g.Params.Validate(); err != nil {
		return err
	}
	put(ctx, kParams, g.Params)
	for _, o := range g.Offers {
		put(ctx, pOffer+string(o.Model), o)
	}
	for _, p := range g.Providers {
		p.Active = 0
		putProvider(ctx, &p)
	}
	for _, gr := range g.Grants {
		put(ctx, pGrant+string(gr.Model)+"/"+string(gr.Provider[:]), gr)
	}
	return nil
}

// ExportGenesis implements ledger.Module.
func (m *Module) ExportGenesis(ctx *ledger.Context) (json.RawMessage, error) {
	g := Genesis{Params: params(ctx), Offers: scan[Offer](ctx, pOffer), Providers: scan[Provider](ctx, pProvider), Grants: scan[Grant](ctx, pGrant)}
	if jobs := scan[Job](ctx, pJob); len(jobs) > 0 {
		for _, j := range jobs {
			if j.State != StateClosed {
				return nil, fmt.Errorf("job %d is still %s: a genesis cannot carry jobs in flight", j.ID, j.State)
			}
		}
	}
	return ledger.EncodeJSON(g)
}

func scan[T any](ctx *ledger.Context, prefix string) []T {
	return ledger.ScanJSON[T](store(ctx), []byte(prefix))
}

// --- invariants ---

// Invariants implements ledger.Module: the market's account holds exactly
// the stakes (bonded and unbonding), the budgets of open jobs, the
// challenge bonds and the vesting payments; and no provider holds more
// slots than its open assignments.
func (m *Module) Invariants() []ledger.Invariant {
	return []ledger.Invariant{
		{Name: "funds", Check: func(ctx *ledger.Context) error {
			var stakes, escrow, bonds, vesting uint64
			for _, p := range scan[Provider](ctx, pProvider) {
				stakes += p.Bonded()
			}
			active := map[wire.Address]uint32{}
			for _, j := range indexed[Job](ctx, pOpenJob, pJob) {
				if j.State == StateClosed {
					return fmt.Errorf("closed job %d is indexed as open", j.ID)
				}
				escrow += j.Budget.Amount
				if j.Challenge != nil {
					bonds += j.Challenge.Bond.Amount
				}
				for _, a := range j.Assignments {
					if a.open() {
						active[a.Provider]++
					}
				}
			}
			for _, v := range scan[Vesting](ctx, pVesting) {
				vesting += v.Amount.Amount
			}
			var deposits, batches uint64
			pendingOf := map[uint64]uint32{}
			it := store(ctx).Iterator([]byte(pSessionBatch), ledger.PrefixEnd([]byte(pSessionBatch)))
			var pending []uint64
			for ; it.Valid(); it.Next() {
				pending = append(pending, ledger.Uint64(it.Key()[len(pSessionBatch)+8:]))
			}
			it.Close()
			for _, id := range pending {
				b, ok := GetBatch(ctx, id)
				if !ok || b.State != BatchPending {
					return fmt.Errorf("batch %d is indexed as pending", id)
				}
				batches += b.Amount.Amount
				pendingOf[b.Session]++
			}
			for _, s := range indexed[Session](ctx, pOpenSession, pSession) {
				deposits += s.Deposit.Amount
				if s.Pending != pendingOf[s.ID] {
					return fmt.Errorf("session %d counts %d pending batches, there are %d", s.ID, s.Pending, pendingOf[s.ID])
				}
			}
			want := stakes + escrow + bonds + vesting + deposits + batches
			if bal := m.bank.Balance(ctx, moduleAddr); bal != want {
				return fmt.Errorf("market account holds %d uvai; stakes %d + escrow %d + bonds %d + vesting %d + deposits %d + batches %d = %d",
					bal, stakes, escrow, bonds, vesting, deposits, batches, want)
			}
			for _, p := range scan[Provider](ctx, pProvider) {
				if p.Active != active[p.Address] {
					return fmt.Errorf("provider %s counts %d open assignments, the jobs hold %d", p.Address, p.Active, active[p.Address])
				}
			}
			return nil
		}},
	}
}
