package ledger

import (
	"time"

	"strings"

	ics23 "github.com/cosmos/ics23/go"

	"github.com/vai-dev/vai/wire"
)

// QueryResult is the answer to a query at a height.
type QueryResult struct {
	// Value is the raw stored value for store queries, JSON otherwise.
	Value  []byte
	Height int64
	// Key and Proof are set for proven store queries: Proof shows that Key
	// has Value (or, if Value is nil, that Key is absent) in the state whose
	// root is the app hash of the header at Height+1.
	Key   []byte
	Proof *ics23.CommitmentProof
}

// Query paths the ledger core answers itself.
const (
	// QueryStore: data is a raw state key; the value is the raw stored value.
	QueryStore = "/store"
	// QueryParams: the core parameters.
	QueryParams = "/ledger/params"
	// QueryAccount: data is {"address": "vai1…", "pending": bool}.
	QueryAccount = "/ledger/account"
	// QueryEstimate: data is a signed transaction; returns its gas and fee.
	QueryEstimate = "/ledger/estimate"
)

// AccountInfo is the answer to QueryAccount.
type AccountInfo struct {
	Address wire.Address `json:"address"`
	// NextSequence is the lowest unused sequence.
	NextSequence uint64 `json:"next_sequence"`
	// UsedAhead are the used sequences above NextSequence.
	UsedAhead []uint64 `json:"used_ahead,omitempty"`
	// Pending is true when the answer includes the mempool's transactions.
	Pending bool `json:"pending,omitzero"`
}

// Query answers path at height (0: the latest committed height). Store
// queries can carry an ICS23 proof.
func (l *Ledger) Query(path string, data []byte, height int64, prove bool) (*QueryResult, error) {
	switch path {
	case QueryStore:
		return l.queryStore(data, height, prove)
	case QueryEstimate:
		gas, fee, err := l.EstimateGas(data)
		if err != nil {
			return nil, err
		}
		h, _ := l.LastBlock()
		return &QueryResult{Value: MustEncodeJSON(map[string]any{"gas": gas, "fee": wire.UVAI(fee)}), Height: h}, nil
	}
	kv, h, err := l.versionAt(height)
	if err != nil {
		return nil, err
	}
	ctx := NewContext(kv, l.ChainID(), h, l.blockTimeAt(kv), ModeQuery)
	var v any
	switch path {
	case QueryParams:
		v = GetParams(ctx)
	case QueryAccount:
		var req struct {
			Address wire.Address `json:"address"`
			Pending bool         `json:"pending,omitzero"`
		}
		if err := DecodeJSON(data, &req); err != nil {
			return nil, ErrInvalidQuery.Wrapf("%v", err)
		}
		acc := GetAccount(ctx, req.Address)
		if req.Pending {
			acc = l.PendingAccount(req.Address)
		}
		v = AccountInfo{Address: req.Address, NextSequence: acc.Next, UsedAhead: acc.UsedAhead(), Pending: req.Pending}
	default:
		mod, sub, ok := l.moduleFor(path)
		if !ok {
			return nil, ErrUnknownQuery.Wrapf("%q", path)
		}
		v, err = mod.Query(ctx, sub, data)
		if err != nil {
			return nil, err
		}
	}
	b, err := EncodeJSON(v)
	if err != nil {
		return nil, ErrInternal.Wrapf("encode query result: %v", err)
	}
	return &QueryResult{Value: b, Height: h}, nil
}

func (l *Ledger) blockTimeAt(kv KV) time.Time {
	_, tm := decodeLastBlock(kv.Get(lastBlockKey))
	return tm
}

// moduleFor splits "/bank/balance" into the bank module and "balance".
func (l *Ledger) moduleFor(path string) (Module, string, bool) {
	name, sub, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	for _, m := range l.mods {
		if m.Name() == name {
			return m, sub, true
		}
	}
	return nil, "", false
}

func (l *Ledger) queryStore(key []byte, height int64, prove bool) (*QueryResult, error) {
	if len(key) == 0 {
		return nil, ErrInvalidQuery.Wrapf("empty store key")
	}
	kv, h, err := l.versionAt(height)
	if err != nil {
		return nil, err
	}
	res := &QueryResult{Value: kv.Get(key), Height: h, Key: key}
	if prove {
		p, err := kv.(versionKV).proof(key)
		if err != nil {
			return nil, ErrInternal.Wrapf("proof of %x at %d: %v", key, h, err)
		}
		res.Proof = p
	}
	return res, nil
}

// VerifyStoreProof checks that proof shows key has value (or is absent when
// value is nil) under the state root appHash.
func VerifyStoreProof(appHash []byte, proof *ics23.CommitmentProof, key, value []byte) bool {
	if proof == nil {
		return false
	}
	if value == nil {
		return ics23.VerifyNonMembership(ics23.IavlSpec, appHash, proof, key)
	}
	return ics23.VerifyMembership(ics23.IavlSpec, appHash, proof, key, value)
}
