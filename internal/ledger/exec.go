package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vai-dev/vai/wire"
)

// decodeTx decodes and verifies a transaction and its messages, or returns
// the cached result.
func (l *Ledger) decodeTx(raw []byte, maxBytes uint64) (*decodedTx, error) {
	return l.decodeTxWith(raw, maxBytes, (*wire.Tx).Verify)
}

// decodeTxWith is decodeTx with the signature checked by verify.
func (l *Ledger) decodeTxWith(raw []byte, maxBytes uint64, verify func(*wire.Tx) error) (*decodedTx, error) {
	if uint64(len(raw)) > maxBytes {
		return nil, ErrTxTooLarge.Wrapf("%d bytes, at most %d", len(raw), maxBytes)
	}
	if d := l.txs.get(raw); d != nil {
		return d, nil
	}
	tx, err := wire.Decode(raw, int(maxBytes))
	if err == nil {
		err = verify(tx)
	}
	if err != nil {
		return nil, wireError(err)
	}
	return l.cacheDecoded(tx), nil
}

// cacheDecoded decodes the messages of a transaction whose signature
// verified, and caches the result.
func (l *Ledger) cacheDecoded(tx *wire.Tx) *decodedTx {
	d := &decodedTx{tx: tx}
	d.types, d.msgs, d.msgGas, d.err = l.decodeMsgs(tx)
	l.txs.put(d)
	return d
}

// predecodeChunk is the batch size of predecode: wire.VerifyBatch costs
// about half of single verification per signature at 64.
const predecodeChunk = 64

// predecode decodes the transactions of a block that are not in the
// decoded-tx cache and verifies their signatures in batches, on all cores
// (PreverifyBatch). A validator that first sees a block's transactions in
// the proposal (at four validators each node gossips to two peers, and in
// some runs one received none), or a node catching up through block sync,
// would otherwise check every signature alone on the consensus path.
//
// Like Preverify it only fills the cache, with what decodeTx would produce
// itself: batch and single ZIP-215 verification accept the same signatures,
// so execution, which runs after it and in order, is unchanged. The
// goroutines end before it returns and touch no state; transactions that
// fail to decode or verify are left for execution to reject.
func (l *Ledger) predecode(txs [][]byte) {
	if !l.noPredecode {
		l.PreverifyBatch(txs)
	}
}

// PreverifyBatch decodes the transactions not yet in the cache and verifies
// their signatures with wire.VerifyBatch, in chunks of 64 spread over
// GOMAXPROCS goroutines, caching those that verify. Transactions that fail
// are left for CheckTx or execution to report. It is safe to call
// concurrently with everything else.
func (l *Ledger) PreverifyBatch(txs [][]byte) {
	var todo []*wire.Tx
	seen := make(map[uint64][]byte, len(txs))
	for _, raw := range txs {
		if len(raw) > wire.MaxTxBytes {
			continue
		}
		k := l.txs.key(raw)
		if prev, ok := seen[k]; ok && bytes.Equal(prev, raw) {
			continue // the same transaction twice (from two peers, say)
		}
		seen[k] = raw
		if l.txs.get(raw) != nil {
			continue
		}
		if tx, err := wire.Decode(raw, wire.MaxTxBytes); err == nil {
			todo = append(todo, tx)
		}
	}
	if len(todo) < 2 {
		return // alone, execution verifies it at the same cost
	}
	// Chunks of up to 64, as even as the cores allow.
	procs := runtime.GOMAXPROCS(0)
	chunk := min(predecodeChunk, (len(todo)+procs-1)/procs)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(procs, (len(todo)+chunk-1)/chunk) {
		wg.Go(func() {
			defer func() {
				// A panic here is a bug, but it only leaves the cache
				// unfilled: execution verifies the transactions itself.
				if r := recover(); r != nil {
					l.log.Error("batch signature verification panicked", "panic", r, "stack", string(debug.Stack()))
				}
			}()
			for {
				i := int(next.Add(int64(chunk))) - chunk
				if i >= len(todo) {
					return
				}
				part := todo[i:min(i+chunk, len(todo))]
				for j, err := range wire.VerifyBatch(part) {
					if err == nil {
						l.cacheDecoded(part[j])
					}
				}
			}
		})
	}
	wg.Wait()
}

// decodeMsgs decodes and validates a transaction's messages.
func (l *Ledger) decodeMsgs(tx *wire.Tx) ([]MsgType, []Msg, uint64, error) {
	types := make([]MsgType, len(tx.Body.Msgs))
	msgs := make([]Msg, len(tx.Body.Msgs))
	var gas uint64
	for i, raw := range tx.Body.Msgs {
		mt, ok := l.router.types[raw.Type]
		if !ok {
			return nil, nil, 0, ErrUnknownMsg.Wrapf("message %d has type %q", i, raw.Type)
		}
		m := mt.New()
		if err := raw.DecodeValue(m); err != nil {
			return nil, nil, 0, ErrInvalidMsg.Wrapf("message %d: %v", i, err)
		}
		if err := m.Validate(); err != nil {
			if _, registered := errors.AsType[*Error](err); registered {
				return nil, nil, 0, fmt.Errorf("message %d (%s): %w", i, raw.Type, err)
			}
			return nil, nil, 0, ErrInvalidMsg.Wrapf("message %d (%s): %v", i, raw.Type, err)
		}
		if mt.Gas != nil {
			gas = satAdd(gas, mt.Gas(m))
		}
		types[i], msgs[i] = mt, m
	}
	return types, msgs, gas, nil
}

// Preverify decodes and verifies a transaction into the cache, so that
// CheckTx, proposals and the block find it done. It is safe to call from
// many goroutines at once, and signatures of concurrent calls are verified
// in batches (sigBatcher); a transaction that fails is left for CheckTx to
// report.
func (l *Ledger) Preverify(raw []byte) {
	if len(raw) <= wire.MaxTxBytes {
		l.decodeTxWith(raw, wire.MaxTxBytes, l.sigs.verify)
	}
}

// wireError maps a wire error to its ledger code, keeping the detail.
func wireError(err error) error {
	for _, m := range []struct {
		wire error
		code *Error
	}{
		{wire.ErrTooLarge, ErrTxTooLarge},
		{wire.ErrNotCanonical, ErrTxNotCanonical},
		{wire.ErrSignature, ErrSignature},
		{wire.ErrInvalidBody, ErrInvalidBody},
		{wire.ErrMalformed, ErrTxMalformed},
	} {
		if errors.Is(err, m.wire) {
			detail := strings.TrimPrefix(strings.TrimPrefix(err.Error(), m.wire.Error()), ": ")
			if detail == "" {
				return m.code
			}
			return m.code.Wrapf("%s", detail)
		}
	}
	return ErrTxMalformed.Wrap(err)
}

// errResult turns an error into a transaction result.
func errResult(err error, gas uint64) TxResult {
	e := CodeOf(err)
	return TxResult{Code: e.Code, Codespace: e.Codespace, Log: err.Error(), Gas: gas}
}

// runTx decodes and executes raw on top of parent. On success its writes
// are applied to parent's state; on failure parent is unchanged except, if
// the ante checks passed, for the fee and the sequence.
func (l *Ledger) runTx(parent *Context, raw []byte) TxResult {
	params := GetParams(parent)
	d, err := l.decodeTx(raw, params.MaxTxBytes)
	if err != nil {
		return errResult(err, 0)
	}
	return l.execTx(parent, params, d)
}

func (l *Ledger) execTx(parent *Context, params Params, d *decodedTx) (res TxResult) {
	tx := d.tx
	ante, anteCache := parent.branch()
	ante.Tx = tx
	stage := "ante"
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if se, ok := r.(*StorageError); ok {
			panic(se)
		}
		// A panicking handler is a bug. It is deterministic (same input,
		// same panic on every validator), so failing the transaction keeps
		// consensus; the stack is for the operator.
		l.log.Error("transaction panicked", "tx", tx.HashString(), "stage", stage, "panic", r, "stack", string(debug.Stack()))
		res = errResult(ErrInternal.Wrapf("panic in %s", stage), res.Gas)
		if stage == "messages" && parent.Mode == ModeDeliver {
			anteCache.Write()
			res.Events = ante.events
		}
	}()

	gas, err := l.ante(ante, params, d)
	res.Gas = gas
	if err != nil {
		return errResult(err, gas)
	}
	stage = "messages"
	mctx, mcache := ante.branch()
	for i, m := range d.msgs {
		if err := d.types[i].Handle(mctx, m); err != nil {
			if parent.Mode == ModeDeliver {
				// In a block the fee is paid and the sequence spent. A
				// mempool check or a proposal simply leaves the
				// transaction out.
				anteCache.Write()
			}
			r := errResult(err, gas)
			r.Log = fmt.Sprintf("message %d (%s): %s", i, d.types[i].Type, err)
			r.Events = ante.events
			return r
		}
	}
	mcache.Write()
	anteCache.Write()
	res.Events = append(ante.events, mctx.events...)
	return res
}

// ante checks everything about a transaction except its messages' effects,
// charges the fee and consumes the sequence. It returns the gas.
func (l *Ledger) ante(ctx *Context, params Params, d *decodedTx) (uint64, error) {
	b := &d.tx.Body
	if b.ChainID != ctx.ChainID {
		return 0, ErrWrongChain.Wrapf("transaction is for chain %q, this is %q", b.ChainID, ctx.ChainID)
	}
	if b.TimeoutHeight != 0 && uint64(ctx.Height) > b.TimeoutHeight {
		return 0, ErrTxExpired.Wrapf("timeout height %d, block height %d", b.TimeoutHeight, ctx.Height)
	}
	if d.err != nil {
		return 0, d.err
	}
	gas := params.Gas(len(d.tx.Bytes), d.msgGas)
	required, ok := params.MinGasPrice.Fee(gas)
	if !ok {
		return gas, ErrInsufficientFee.Wrapf("%d gas costs more than any fee", gas)
	}
	if b.Fee.Amount < required {
		return gas, ErrInsufficientFee.Wrapf("fee %s is below the required %s (%d gas at %s uvai/gas)", b.Fee, wire.UVAI(required), gas, params.MinGasPrice)
	}
	acc := GetAccount(ctx, b.Signer)
	if err := acc.Check(b.Sequence, params.SequenceWindow); err != nil {
		return gas, err
	}
	setAccount(ctx, b.Signer, acc.Use(b.Sequence))
	if b.Fee.Amount > 0 {
		if err := l.cfg.Fees.CollectFee(ctx, b.Signer, b.Fee.Amount); err != nil {
			return gas, ErrCannotPayFee.Wrap(err)
		}
	}
	ctx.Emit("tx",
		AI("signer", b.Signer.String()),
		A("sequence", strconv.FormatUint(b.Sequence, 10)),
		A("fee", b.Fee.String()))
	return gas, nil
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// EstimateGas returns the gas and least fee of a transaction without
// checking its signature or sequence: clients sign with a placeholder fee,
// ask, and sign again.
func (l *Ledger) EstimateGas(raw []byte) (gas, fee uint64, err error) {
	kv, h, err := l.versionAt(0)
	if err != nil {
		return 0, 0, err
	}
	_, t := l.LastBlock()
	ctx := NewContext(kv, l.ChainID(), h+1, t, ModeQuery)
	params := GetParams(ctx)
	tx, err := wire.Decode(raw, int(params.MaxTxBytes))
	if err != nil {
		return 0, 0, wireError(err)
	}
	_, _, msgGas, err := l.decodeMsgs(tx)
	if err != nil {
		return 0, 0, err
	}
	gas = params.Gas(len(raw), msgGas)
	fee, ok := params.MinGasPrice.Fee(gas)
	if !ok {
		return gas, 0, ErrInsufficientFee.Wrapf("%d gas costs more than any fee", gas)
	}
	return gas, fee, nil
}

// FinalizeBlock executes a decided block. The writes stay in the working
// state until Commit. An error means the node must stop (a storage failure,
// a failing block hook or a broken invariant).
func (l *Ledger) FinalizeBlock(info BlockInfo, txs [][]byte) (res *BlockResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			if se, ok := r.(*StorageError); ok {
				err = se
				return
			}
			panic(r)
		}
	}()
	var cache *Cache
	var ctx *Context
	if p := l.recall(proposalHash(info, txs), true); p != nil && len(p.results) == len(txs) {
		// This node simulated exactly this block on this state: adopt
		// its writes (re-based on the working tree, which holds the same
		// committed state) and results.
		cache = p.cache
		cache.parent = treeKV{l.tree}
		ctx = NewContext(cache, l.ChainID(), info.Height, info.Time.UTC(), ModeDeliver)
		ctx.events = p.begin
		res = &BlockResult{Txs: p.results}
	} else {
		l.predecode(txs)
		cache = NewCache(treeKV{l.tree})
		ctx = NewContext(cache, l.ChainID(), info.Height, info.Time.UTC(), ModeDeliver)
		res = &BlockResult{Txs: make([]TxResult, len(txs))}
		if err := l.beginBlock(ctx); err != nil {
			return nil, err
		}
		for i, raw := range txs {
			res.Txs[i] = l.runTx(ctx, raw)
		}
	}
	ctx.BlockHash = info.Hash
	if err := l.endBlock(ctx); err != nil {
		return nil, err
	}
	if cache.Len() > 0 {
		// Record the block's time only when the block changed the state:
		// an unchanged app hash is how CometBFT knows it may wait before
		// making the next empty block.
		ctx.kv.Set(lastBlockKey, encodeLastBlock(info.Height, ctx.Time))
	}
	if p := l.cfg.InvariantPeriod; p > 0 && info.Height%p == 0 {
		if err := l.checkInvariants(ctx); err != nil {
			return nil, err
		}
	}
	res.Events = ctx.events
	l.txs.forget(txs)
	l.mu.Lock()
	cache.Write()
	res.AppHash = l.tree.WorkingHash()
	l.pendingTime = ctx.Time
	l.mu.Unlock()
	return res, nil
}

func (l *Ledger) beginBlock(ctx *Context) error {
	for _, m := range l.mods {
		if bb, ok := m.(BeginBlocker); ok {
			if err := bb.BeginBlock(ctx); err != nil {
				return fmt.Errorf("%s begin block: %w", m.Name(), err)
			}
		}
	}
	return nil
}

func (l *Ledger) endBlock(ctx *Context) error {
	for _, m := range l.mods {
		if eb, ok := m.(EndBlocker); ok {
			if err := eb.EndBlock(ctx); err != nil {
				return fmt.Errorf("%s end block: %w", m.Name(), err)
			}
		}
	}
	return nil
}

// CheckTx decides whether a transaction may enter the mempool: it executes
// it against the committed state plus every transaction admitted since, so
// two transactions that together overdraw an account are not both admitted.
func (l *Ledger) CheckTx(raw []byte) (res TxResult) {
	l.checkMu.Lock()
	defer l.checkMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			if se, ok := r.(*StorageError); ok {
				res = errResult(ErrInternal.Wrap(se), 0)
				return
			}
			panic(r)
		}
	}()
	return l.runTx(l.check, raw)
}

// PendingAccount returns an account's replay state as the mempool sees it,
// so a client can pick a free sequence.
func (l *Ledger) PendingAccount(addr wire.Address) Account {
	l.checkMu.Lock()
	defer l.checkMu.Unlock()
	return GetAccount(l.check, addr)
}

// simulate executes txs as block info on a copy of the committed state,
// calling keep with each result: keep returns whether to go on. It returns
// the simulated state (only the writes of transactions that succeeded).
func (l *Ledger) simulate(info BlockInfo, txs [][]byte, keep func(i int, r TxResult) bool) (sim *proposal, err error) {
	defer func() {
		if r := recover(); r != nil {
			if se, ok := r.(*StorageError); ok {
				err = se
				return
			}
			panic(r)
		}
	}()
	cache := NewCache(l.committed())
	ctx := NewContext(cache, l.ChainID(), info.Height, info.Time.UTC(), ModePropose)
	if err := l.beginBlock(ctx); err != nil {
		return nil, err
	}
	sim = &proposal{cache: cache, begin: ctx.events}
	for i, raw := range txs {
		r := l.runTx(ctx, raw)
		if !keep(i, r) {
			return nil, nil
		}
		if r.OK() {
			sim.results = append(sim.results, r)
		}
	}
	return sim, nil
}

// proposal is a block this node simulated while preparing or checking it.
// Execution is deterministic, so if the same block is then decided on the
// same state, FinalizeBlock takes the simulation's writes and results
// instead of executing every transaction again.
type proposal struct {
	hash    [32]byte
	cache   *Cache  // writes of the block hooks and the transactions
	begin   []Event // events of the begin-block hooks
	results []TxResult
}

// remember keeps a simulated proposal for FinalizeBlock (the last few, as a
// height may see proposals in several rounds).
func (l *Ledger) remember(p *proposal) {
	l.propMu.Lock()
	defer l.propMu.Unlock()
	l.props = append(l.props, p)
	if len(l.props) > 4 {
		l.props = l.props[1:]
	}
}

// recall returns the simulation of exactly this block; take also forgets
// every kept simulation (the height is being decided).
func (l *Ledger) recall(h [32]byte, take bool) *proposal {
	l.propMu.Lock()
	defer l.propMu.Unlock()
	for _, p := range l.props {
		if p.hash == h {
			if take {
				l.props = nil
			}
			return p
		}
	}
	return nil
}

// PrepareProposal chooses the transactions of a block this node proposes:
// those of txs (in order, within maxBytes) that succeed when executed in
// sequence. A transaction that would fail is left out, so honest blocks
// hold only transactions that succeed.
func (l *Ledger) PrepareProposal(info BlockInfo, txs [][]byte, maxBytes int64) ([][]byte, error) {
	var out [][]byte
	var size int64
	sim, err := l.simulate(info, txs, func(i int, r TxResult) bool {
		if r.OK() {
			if size+int64(len(txs[i])) > maxBytes {
				return false // a transaction it had to leave out would leave state behind
			}
			out = append(out, txs[i])
			size += int64(len(txs[i]))
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if sim != nil {
		sim.hash = proposalHash(info, out)
		l.remember(sim)
	}
	return out, nil
}

// ProcessProposal accepts a proposed block only if every transaction in it
// succeeds, executed in order on the committed state. PrepareProposal only
// proposes such blocks and execution is deterministic, so honest proposals
// are always accepted.
func (l *Ledger) ProcessProposal(info BlockInfo, txs [][]byte) (bool, error) {
	h := proposalHash(info, txs)
	if l.recall(h, false) != nil {
		return true, nil // simulated already, on this very state
	}
	l.predecode(txs)
	ok := true
	sim, err := l.simulate(info, txs, func(_ int, r TxResult) bool {
		ok = r.OK()
		return ok
	})
	if err != nil || !ok {
		return false, err
	}
	sim.hash = h
	l.remember(sim)
	return true, nil
}

func proposalHash(info BlockInfo, txs [][]byte) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d/%d/%d/", info.Height, info.Time.UnixNano(), len(txs))
	for _, tx := range txs {
		sum := txHash(tx)
		h.Write(sum[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
