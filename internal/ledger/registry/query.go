package registry

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

// RecordResponse answers "/registry/record": whatever is registered under
// an identity, with the status its lineage gives it.
type RecordResponse struct {
	ID      ID           `json:"id"`
	Kind    string       `json:"kind"`
	Dataset *Dataset     `json:"dataset,omitempty"`
	Model   *Model       `json:"model,omitempty"`
	Run     *Run         `json:"run,omitempty"`
	Status  RecordStatus `json:"status"`
	UsedBy  []ID         `json:"used_by"`
}

// AliasResponse answers "/registry/alias".
type AliasResponse struct {
	Alias   string      `json:"alias"`
	Model   ID          `json:"model"`
	History []AliasMove `json:"history"`
}

// WorkResponse answers "/registry/work": the work (if registered) and the
// deny-list entry (if any) of a content hash.
type WorkResponse struct {
	Hash ContentHash `json:"hash"`
	Work *Work       `json:"work,omitempty"`
	Deny *Deny       `json:"deny,omitempty"`
}

// ListRequest pages through records.
type ListRequest struct {
	Kind       string       `json:"kind"` // dataset or model
	Owner      wire.Address `json:"owner,omitzero"`
	StartAfter ID           `json:"start_after,omitzero"`
	Limit      int          `json:"limit,omitzero"`
}

func decode(req []byte, v any) error {
	if err := ledger.DecodeJSON(req, v); err != nil {
		return ledger.ErrInvalidQuery.Wrapf("%v", err)
	}
	return nil
}

// Query implements ledger.Module: record, lineage, list, alias, work,
// deny, params.
func (m *Module) Query(ctx *ledger.Context, path string, req []byte) (any, error) {
	switch path {
	case "record", "lineage":
		var r struct {
			ID ID `json:"id"`
		}
		if err := decode(req, &r); err != nil {
			return nil, err
		}
		l, err := LineageOf(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if path == "lineage" {
			return l, nil
		}
		n := l.Nodes[0]
		return RecordResponse{ID: r.ID, Kind: n.Kind, Dataset: n.Dataset, Model: n.Model, Run: n.Run, Status: l.Status, UsedBy: nonNil(UsedBy(ctx, r.ID, 1000))}, nil
	case "list":
		var r ListRequest
		if err := decode(req, &r); err != nil {
			return nil, err
		}
		return list(ctx, r)
	case "alias":
		var r struct {
			Name  string `json:"name"`
			Alias string `json:"alias"`
		}
		if err := decode(req, &r); err != nil {
			return nil, err
		}
		key := r.Name + "@" + r.Alias
		cur := store(ctx).Get([]byte(pAlias + key))
		if cur == nil {
			return nil, ErrNotFound.Wrapf("alias %s", key)
		}
		out := AliasResponse{Alias: key, Model: ID(cur), History: []AliasMove{}}
		prefix := []byte(pAliasH + key + "/")
		it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var mv AliasMove
			if err := ledger.DecodeJSON(it.Value(), &mv); err != nil {
				return nil, err
			}
			out.History = append(out.History, mv)
		}
		return out, nil
	case "work":
		var r struct {
			Hash ContentHash `json:"hash"`
		}
		if err := decode(req, &r); err != nil {
			return nil, err
		}
		out := WorkResponse{Hash: r.Hash}
		if w, ok := GetWork(ctx, r.Hash); ok {
			out.Work = w
		}
		if d, ok := GetDeny(ctx, r.Hash); ok {
			out.Deny = d
		}
		return out, nil
	case "deny":
		var r struct {
			Hash ContentHash `json:"hash"`
		}
		if err := decode(req, &r); err != nil {
			return nil, err
		}
		d, ok := GetDeny(ctx, r.Hash)
		if !ok {
			return nil, ErrNotFound.Wrapf("no deny-list entry for %s", r.Hash)
		}
		return d, nil
	case "params":
		return params(ctx), nil
	}
	return nil, ledger.ErrUnknownQuery.Wrapf("registry/%s", path)
}

// ListResponse is a page of records.
type ListResponse struct {
	Datasets []Dataset `json:"datasets,omitempty"`
	Models   []Model   `json:"models,omitempty"`
	// Next is the start_after of the next page ("" at the end).
	Next ID `json:"next,omitempty"`
}

func list(ctx *ledger.Context, r ListRequest) (*ListResponse, error) {
	if r.Limit <= 0 || r.Limit > 200 {
		r.Limit = 50
	}
	var prefix string
	switch r.Kind {
	case "dataset":
		prefix = pDataset
	case "model":
		prefix = pModel
	default:
		return nil, ledger.ErrInvalidQuery.Wrapf("kind %q (want dataset or model)", r.Kind)
	}
	out := &ListResponse{}
	var ids []ID
	if !r.Owner.IsZero() {
		// Walk the owner's index.
		p := []byte(pOwner + string(r.Owner[:]) + "/")
		start := p
		if r.StartAfter != "" {
			start = append([]byte(string(p)+string(r.StartAfter)), 0)
		}
		it := store(ctx).Iterator(start, ledger.PrefixEnd(p))
		for ; it.Valid() && len(ids) < r.Limit+1; it.Next() {
			id := ID(it.Key()[len(p):])
			if store(ctx).Has([]byte(prefix + string(id))) {
				ids = append(ids, id)
			}
		}
		it.Close()
	} else {
		p := []byte(prefix)
		start := p
		if r.StartAfter != "" {
			start = append([]byte(prefix+string(r.StartAfter)), 0)
		}
		it := store(ctx).Iterator(start, ledger.PrefixEnd(p))
		for ; it.Valid() && len(ids) < r.Limit+1; it.Next() {
			ids = append(ids, ID(it.Key()[len(p):]))
		}
		it.Close()
	}
	if len(ids) > r.Limit {
		ids = ids[:r.Limit]
		out.Next = ids[len(ids)-1]
	}
	for _, id := range ids {
		if r.Kind == "dataset" {
			d, _ := GetDataset(ctx, id)
			out.Datasets = append(out.Datasets, *d)
		} else {
			x, _ := GetModel(ctx, id)
			out.Models = append(out.Models, *x)
		}
	}
	return out, nil
}

// --- genesis ---

// Genesis is the registry's genesis state.
type Genesis struct {
	Params   Params      `json:"params"`
	Datasets []Dataset   `json:"datasets"`
	Runs     []Run       `json:"runs"`
	Models   []Model     `json:"models"`
	Works    []Work      `json:"works"`
	Aliases  []AliasMove `json:"alias_history"`
	Denies   []Deny      `json:"deny_list"`
	Flags    []Flag      `json:"flags"`
}

// DefaultGenesis implements ledger.Module.
func (*Module) DefaultGenesis() json.RawMessage {
	return ledger.MustEncodeJSON(Genesis{Params: DefaultParams(), Datasets: []Dataset{}, Runs: []Run{}, Models: []Model{},
		Works: []Work{}, Aliases: []AliasMove{}, Denies: []Deny{}, Flags: []Flag{}})
}

// InitGenesis implements ledger.Module. Records must come in an order in
// which every reference points backwards (as ExportGenesis writes them);
// the bonds of open deny-list entries must already be in the registry's
// account (the bank's genesis holds them).
func (m *Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	var g Genesis
	if err := ledger.DecodeJSON(raw, &g); err != nil {
		return err
	}
	put(ctx, "params", g.Params)
	for _, d := range g.Datasets {
		for _, p := range d.Parents {
			if _, ok := GetDataset(ctx, p); !ok {
				return fmt.Errorf("dataset %s: parent %s not registered before it", d.ID, p)
			}
		}
		put(ctx, pDataset+string(d.ID), d)
		index(ctx, d.Owner, d.ID, d.Parents...)
	}
	for _, r := range g.Runs {
		put(ctx, pRun+string(r.ID), r)
		index(ctx, r.Trainer, r.ID, append(append([]ID{}, r.Datasets...), r.Base)...)
	}
	for _, x := range g.Models {
		put(ctx, pModel+string(x.ID), x)
		store(ctx).Set([]byte(pName+x.Name), x.Owner.Bytes())
		index(ctx, x.Owner, x.ID, append(append([]ID{}, x.Datasets...), x.Base, x.Run)...)
	}
	for _, w := range g.Works {
		put(ctx, pWork+string(w.Hash), w)
	}
	counts := map[string]uint64{}
	for _, mv := range g.Aliases {
		n := counts[mv.Alias]
		put(ctx, pAliasH+mv.Alias+"/"+string(ledger.PutUint64(n)), mv)
		counts[mv.Alias] = n + 1
		store(ctx).Set([]byte(pAlias+mv.Alias), []byte(mv.Model))
		store(ctx).Set([]byte(pAliasN+mv.Alias), ledger.PutUint64(n+1))
	}
	for _, d := range g.Denies {
		put(ctx, pDeny+string(d.Hash), d)
		if d.Deadline != 0 {
			store(ctx).Set(deadlineKey(d.Deadline, d.Hash), []byte{1})
		}
	}
	for _, f := range g.Flags {
		put(ctx, pFlag+string(f.Record)+"/"+string(f.Hash), f)
	}
	return nil
}

// ExportGenesis implements ledger.Module.
func (m *Module) ExportGenesis(ctx *ledger.Context) (json.RawMessage, error) {
	g := Genesis{Params: params(ctx)}
	g.Datasets = scan[Dataset](ctx, pDataset)
	g.Runs = scan[Run](ctx, pRun)
	g.Models = scan[Model](ctx, pModel)
	g.Works = scan[Work](ctx, pWork)
	g.Aliases = scan[AliasMove](ctx, pAliasH)
	g.Denies = scan[Deny](ctx, pDeny)
	g.Flags = scan[Flag](ctx, pFlag)
	// References point backwards in registration order, not key order.
	sortByHeight(g.Datasets, func(d Dataset) Stamp { return d.Registered })
	sortByHeight(g.Models, func(x Model) Stamp { return x.Registered })
	return ledger.EncodeJSON(g)
}

func sortByHeight[T any](s []T, st func(T) Stamp) {
	slices.SortStableFunc(s, func(a, b T) int { return cmp.Compare(st(a).Height, st(b).Height) })
}

func scan[T any](ctx *ledger.Context, prefix string) []T {
	return ledger.ScanJSON[T](store(ctx), []byte(prefix))
}

// --- invariants ---

// Invariants implements ledger.Module: the registry's account holds exactly
// the bonds of the open deny-list entries.
func (m *Module) Invariants() []ledger.Invariant {
	return []ledger.Invariant{{Name: "bonds", Check: func(ctx *ledger.Context) error {
		var sum uint64
		for _, d := range scan[Deny](ctx, pDeny) {
			sum += d.Bonds()
		}
		if bal := m.bank.Balance(ctx, moduleAddr); bal != sum {
			return fmt.Errorf("open deny-list entries hold %d uvai of bonds, the registry's account %d", sum, bal)
		}
		return nil
	}}}
}
