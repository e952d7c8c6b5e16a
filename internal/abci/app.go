// Package abci adapts the ledger to CometBFT's ABCI 2.0: it translates
// requests and responses and nothing else. The rules live in the ledger.
package abci

import (
	"context"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/proto/tendermint/crypto"

	"github.com/vai-dev/vai/internal/ledger"
)

// AppVersion is the version of the state machine's rules, reported in Info
// and block headers. Bump it with any change to execution.
const AppVersion = 1

// Version is the software version reported in Info.
var Version = "0.1.0"

// ProofOpICS23 is the proof type of store query proofs: an ICS23
// CommitmentProof (protobuf) against the IAVL root, which is the app hash.
const ProofOpICS23 = "ics23:iavl"

// App is the ABCI application around a ledger.
type App struct {
	abci.BaseApplication
	L *ledger.Ledger
}

var _ abci.Application = (*App)(nil)

// New returns the ABCI application for l.
func New(l *ledger.Ledger) *App { return &App{L: l} }

// Info implements abci.Application.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	h, hash := a.L.Info()
	return &abci.ResponseInfo{Data: "vai", Version: Version, AppVersion: AppVersion, LastBlockHeight: h, LastBlockAppHash: hash}, nil
}

// InitChain implements abci.Application. The validator set is the one in
// the genesis file.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	hash, err := a.L.InitChain(req.ChainId, req.Time, req.InitialHeight, req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("init chain: %w", err)
	}
	return &abci.ResponseInitChain{AppHash: hash, Validators: req.Validators}, nil
}

// CheckTx implements abci.Application: new and re-checked transactions
// alike execute against the mempool's state.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	r := a.L.CheckTx(req.Tx)
	return &abci.ResponseCheckTx{Code: r.Code, Codespace: r.Codespace, Log: r.Log, GasWanted: int64(r.Gas), GasUsed: int64(r.Gas)}, nil
}

// PrepareProposal implements abci.Application.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	txs, err := a.L.PrepareProposal(ledger.BlockInfo{Height: req.Height, Time: req.Time, Proposer: req.ProposerAddress}, req.Txs, req.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	return &abci.ResponsePrepareProposal{Txs: txs}, nil
}

// ProcessProposal implements abci.Application.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	ok, err := a.L.ProcessProposal(ledger.BlockInfo{Height: req.Height, Time: req.Time, Proposer: req.ProposerAddress}, req.Txs)
	if err != nil {
		return nil, err
	}
	status := abci.ResponseProcessProposal_REJECT
	if ok {
		status = abci.ResponseProcessProposal_ACCEPT
	}
	return &abci.ResponseProcessProposal{Status: status}, nil
}

// FinalizeBlock implements abci.Application. An error halts the node: it
// means a storage failure or a broken invariant.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	res, err := a.L.FinalizeBlock(ledger.BlockInfo{Height: req.Height, Time: req.Time, Proposer: req.ProposerAddress, Hash: req.Hash}, req.Txs)
	if err != nil {
		return nil, fmt.Errorf("finalize block %d: %w", req.Height, err)
	}
	out := &abci.ResponseFinalizeBlock{TxResults: make([]*abci.ExecTxResult, len(res.Txs)), Events: events(res.Events), AppHash: res.AppHash}
	for i, r := range res.Txs {
		out.TxResults[i] = &abci.ExecTxResult{Code: r.Code, Codespace: r.Codespace, Log: r.Log,
			GasWanted: int64(r.Gas), GasUsed: int64(r.Gas), Events: events(r.Events)}
	}
	return out, nil
}

// Commit implements abci.Application.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	if err := a.L.Commit(); err != nil {
		return nil, err
	}
	return &abci.ResponseCommit{}, nil
}

// Query implements abci.Application. Paths are the ledger's: "/store" for
// raw keys (with an ICS23 proof when req.Prove), "/ledger/…" and
// "/<module>/…" for JSON answers.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	res, err := a.L.Query(req.Path, req.Data, req.Height, req.Prove)
	if err != nil {
		e := ledger.CodeOf(err)
		return &abci.ResponseQuery{Code: e.Code, Codespace: e.Codespace, Log: err.Error(), Height: req.Height}, nil
	}
	out := &abci.ResponseQuery{Value: res.Value, Key: res.Key, Height: res.Height}
	if res.Proof != nil {
		b, err := res.Proof.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encode proof: %w", err)
		}
		out.ProofOps = &crypto.ProofOps{Ops: []crypto.ProofOp{{Type: ProofOpICS23, Key: res.Key, Data: b}}}
	}
	return out, nil
}

func events(in []ledger.Event) []abci.Event {
	if len(in) == 0 {
		return nil
	}
	out := make([]abci.Event, len(in))
	for i, e := range in {
		attrs := make([]abci.EventAttribute, len(e.Attrs))
		for j, a := range e.Attrs {
			attrs[j] = abci.EventAttribute{Key: a.Key, Value: a.Value, Index: a.Index}
		}
		out[i] = abci.Event{Type: e.Type, Attributes: attrs}
	}
	return out
}
