package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cosmos/iavl"

	"github.com/vai-dev/vai/wire"
)

// FeeCollector moves a transaction's fee from its payer to the fee pool.
// The bank module implements it. It must return an error (and move nothing)
// when the payer cannot pay.
type FeeCollector interface {
	CollectFee(ctx *Context, payer wire.Address, amount uint64) error
}

// Config assembles a Ledger.
type Config struct {
	// DB holds the IAVL state. The Ledger does not close it.
	DB dbm.DB
	// Modules in the order their genesis is loaded and their block hooks run.
	Modules []Module
	Fees    FeeCollector
	// InvariantPeriod checks every invariant after each block whose height
	// is a multiple of it (1: every block, as tests do; 0: never). A broken
	// invariant halts the node.
	InvariantPeriod int64
	// KeepVersions is how many recent state versions are kept for queries
	// and proofs; 0 keeps all.
	KeepVersions int64
	// CacheSize is the IAVL node cache size, in nodes.
	CacheSize int
	// Logger reports operational facts (pruning, recovered panics). The
	// state machine never decides anything by what it logs.
	Logger *slog.Logger
}

// BlockInfo is what the state machine knows of the block it executes.
type BlockInfo struct {
	Height   int64
	Time     time.Time
	Proposer []byte
	// Hash is the block's hash: known when a decided block is finalized,
	// not while one is proposed.
	Hash []byte
}

// TxResult is the outcome of one transaction.
type TxResult struct {
	Code      uint32
	Codespace string
	Log       string
	Gas       uint64
	Events    []Event
}

// OK reports whether the transaction succeeded.
func (r TxResult) OK() bool { return r.Code == 0 }

// BlockResult is the outcome of a block.
type BlockResult struct {
	Txs     []TxResult
	Events  []Event // from block hooks
	AppHash []byte
}

// Ledger is vai's deterministic state machine: the modules, the IAVL state
// and the rules for executing transactions and blocks. The consensus
// methods (InitChain, FinalizeBlock, Commit) must be called from one
// goroutine; CheckTx, the proposal methods and Query may run concurrently
// with them.
type Ledger struct {
	cfg    Config
	mods   []Module
	router *router
	txs    *txCache
	sigs   *sigBatcher
	log    *slog.Logger

	// noPredecode (tests and benchmarks) leaves block transactions to be
	// verified one by one, as execution meets them.
	noPredecode bool

	// saving is held for writing while IAVL saves or prunes a version,
	// and for reading by every read of a committed version (versionKV).
	saving     sync.RWMutex
	mu         sync.RWMutex // guards tree versions and the fields below
	tree       *iavl.MutableTree
	chainID    string
	lastHeight int64
	lastTime   time.Time
	// pendingTime is the time of the block finalized but not committed.
	pendingTime time.Time
	// genesis is the genesis state until the first block commits it.
	genesis KV

	checkMu sync.Mutex
	check   *Context

	// Proposals this node simulated (see proposal).
	propMu sync.Mutex
	props  []*proposal
}

// New opens the state in cfg.DB at its latest version.
func New(cfg Config) (*Ledger, error) {
	if cfg.DB == nil {
		return nil, errors.New("ledger: no database")
	}
	if cfg.Fees == nil {
		return nil, errors.New("ledger: no fee collector")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 500_000
	}
	seen := map[string]bool{"ledger": true, "auth": true, "store": true}
	for _, m := range cfg.Modules {
		if seen[m.Name()] {
			return nil, fmt.Errorf("ledger: module name %q is reserved or used twice", m.Name())
		}
		seen[m.Name()] = true
	}
	r, err := newRouter(cfg.Modules)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	tree := iavl.NewMutableTree(cometDB{cfg.DB}, cfg.CacheSize, false, iavl.NewNopLogger(), iavl.AsyncPruningOption(true))
	if _, err := tree.Load(); err != nil {
		return nil, fmt.Errorf("ledger: failed to load state: %w", err)
	}
	l := &Ledger{cfg: cfg, mods: cfg.Modules, router: r, txs: newTxCache(60_000), sigs: newSigBatcher(runtime.GOMAXPROCS(0)), log: cfg.Logger, tree: tree}
	if v := tree.Version(); v > 0 {
		imm, err := tree.GetImmutable(v)
		if err != nil {
			return nil, fmt.Errorf("ledger: failed to load version %d: %w", v, err)
		}
		kv := versionKV{imm, &l.saving}
		l.chainID = string(kv.Get(chainIDKey))
		_, l.lastTime = decodeLastBlock(kv.Get(lastBlockKey))
		l.lastHeight = v
	}
	l.resetCheck()
	return l, nil
}

var (
	chainIDKey   = []byte("ledger/chain_id")
	lastBlockKey = []byte("ledger/last_block")
)

func encodeLastBlock(h int64, t time.Time) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(h))
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
}

func decodeLastBlock(b []byte) (int64, time.Time) {
	if len(b) != 16 {
		return 0, time.Time{}
	}
	return int64(binary.BigEndian.Uint64(b)), time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))).UTC()
}

// Info returns the last committed height and app hash.
func (l *Ledger) Info() (height int64, appHash []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tree.Version(), l.tree.Hash()
}

// ChainID returns the chain id recorded at genesis ("" before InitChain).
func (l *Ledger) ChainID() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.chainID
}

// LastBlock returns the height and time of the last committed block.
func (l *Ledger) LastBlock() (int64, time.Time) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastHeight, l.lastTime
}

// Modules returns the modules in order.
func (l *Ledger) Modules() []Module { return l.mods }

// MsgTypes lists the message types the ledger accepts.
func (l *Ledger) MsgTypes() []MsgType {
	var out []MsgType
	for _, m := range l.mods {
		out = append(out, m.Msgs()...)
	}
	return out
}

// InitChain loads the genesis state. The state is committed together with
// the first block, so the returned app hash is the one the first header
// carries.
func (l *Ledger) InitChain(chainID string, genesisTime time.Time, initialHeight int64, appState []byte) ([]byte, error) {
	if chainID == "" || len(chainID) > wire.MaxChainIDBytes {
		return nil, ErrInvalidGenesis.Wrapf("chain id %q must be 1 to %d bytes", chainID, wire.MaxChainIDBytes)
	}
	if initialHeight < 1 {
		initialHeight = 1
	}
	sections := map[string]json.RawMessage{}
	if len(appState) > 0 {
		if err := DecodeJSON(appState, &sections); err != nil {
			return nil, ErrInvalidGenesis.Wrapf("app_state: %v", err)
		}
	}
	// Genesis is built in memory first: it stays readable there (for the
	// mempool and proposals) until the first block commits it.
	gen := NewCache(emptyKV{})
	ctx := NewContext(gen, chainID, initialHeight, genesisTime.UTC(), ModeDeliver)
	if err := l.initGenesis(ctx, sections); err != nil {
		return nil, err
	}
	hash, err := l.loadGenesis(chainID, genesisTime.UTC(), initialHeight, gen)
	if err != nil {
		return nil, err
	}
	l.resetCheck()
	return hash, nil
}

// loadGenesis writes the genesis state into the working tree.
func (l *Ledger) loadGenesis(chainID string, genesisTime time.Time, initialHeight int64, gen *Cache) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v := l.tree.Version(); v != 0 {
		return nil, fmt.Errorf("ledger: InitChain on a state at height %d", v)
	}
	if initialHeight > 1 {
		l.tree.SetInitialVersion(uint64(initialHeight))
	}
	tree := treeKV{l.tree}
	it := gen.Iterator(nil, nil)
	for ; it.Valid(); it.Next() {
		tree.Set(it.Key(), it.Value())
	}
	it.Close()
	l.chainID = chainID
	l.genesis = gen
	l.lastHeight, l.lastTime = initialHeight-1, genesisTime
	return l.tree.WorkingHash(), nil
}

// initGenesis loads every section of the app state into ctx.
func (l *Ledger) initGenesis(ctx *Context, sections map[string]json.RawMessage) error {
	ctx.kv.Set(chainIDKey, []byte(ctx.ChainID))
	known := map[string]bool{"ledger": true}
	var lg struct {
		Params Params `json:"params"`
	}
	lg.Params = DefaultParams()
	if raw, ok := sections["ledger"]; ok {
		if err := DecodeJSON(raw, &lg); err != nil {
			return ErrInvalidGenesis.Wrapf("ledger: %v", err)
		}
	}
	if err := SetParams(ctx, lg.Params); err != nil {
		return ErrInvalidGenesis.Wrap(err)
	}
	for _, m := range l.mods {
		known[m.Name()] = true
		raw, ok := sections[m.Name()]
		if !ok {
			raw = m.DefaultGenesis()
		}
		if err := m.InitGenesis(ctx, raw); err != nil {
			return ErrInvalidGenesis.Wrapf("%s: %v", m.Name(), err)
		}
	}
	for name := range sections {
		if !known[name] {
			return ErrInvalidGenesis.Wrapf("unknown app_state section %q", name)
		}
	}
	if err := l.checkInvariants(ctx); err != nil {
		return ErrInvalidGenesis.Wrap(err)
	}
	return nil
}

// DefaultGenesis returns the app state of a new chain: every module's
// default section.
func (l *Ledger) DefaultGenesis() map[string]json.RawMessage {
	out := map[string]json.RawMessage{"ledger": MustEncodeJSON(map[string]any{"params": DefaultParams()})}
	for _, m := range l.mods {
		out[m.Name()] = m.DefaultGenesis()
	}
	return out
}

// ExportGenesis writes the state at the last committed height as an
// app_state that InitChain accepts.
func (l *Ledger) ExportGenesis() (map[string]json.RawMessage, int64, error) {
	kv, h, err := l.versionAt(0)
	if err != nil {
		return nil, 0, err
	}
	ctx := NewContext(kv, l.ChainID(), h, time.Time{}, ModeQuery)
	out := map[string]json.RawMessage{"ledger": MustEncodeJSON(map[string]any{"params": GetParams(ctx)})}
	for _, m := range l.mods {
		raw, err := m.ExportGenesis(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("export %s: %w", m.Name(), err)
		}
		out[m.Name()] = raw
	}
	return out, h, nil
}

// Commit saves the state of the block last finalized as a new version.
func (l *Ledger) Commit() error {
	l.mu.Lock()
	l.saving.Lock()
	_, v, err := l.tree.SaveVersion()
	l.saving.Unlock()
	if err != nil {
		l.mu.Unlock()
		return fmt.Errorf("ledger: failed to save state: %w", err)
	}
	l.lastHeight, l.lastTime = v, l.pendingTime
	l.genesis = nil
	l.mu.Unlock()

	if k := l.cfg.KeepVersions; k > 0 && v > k && v%100 == 0 {
		l.mu.Lock()
		l.saving.Lock()
		err := l.tree.DeleteVersionsTo(v - k)
		l.saving.Unlock()
		l.mu.Unlock()
		if err != nil {
			l.log.Warn("failed to prune old state versions", "to", v-k, "err", err)
		}
	}
	l.resetCheck()
	return nil
}

// committed returns a read-only view of the last committed state, or of the
// genesis state before the first commit.
func (l *Ledger) committed() KV {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v := l.tree.Version()
	if v == 0 {
		if l.genesis != nil {
			return l.genesis
		}
		return emptyKV{}
	}
	imm, err := l.tree.GetImmutable(v)
	if err != nil {
		storagePanic("load committed version", err)
	}
	return versionKV{imm, &l.saving}
}

// versionAt returns a read-only view of the state at height h (0: latest).
func (l *Ledger) versionAt(h int64) (KV, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	latest := l.tree.Version()
	if h == 0 {
		h = latest
	}
	if h <= 0 || h > latest {
		return nil, 0, ErrHeightNotStored.Wrapf("height %d (latest is %d)", h, latest)
	}
	imm, err := l.tree.GetImmutable(h)
	if err != nil || (h != latest && !l.tree.VersionExists(h)) {
		return nil, 0, ErrHeightNotStored.Wrapf("height %d is pruned", h)
	}
	return versionKV{imm, &l.saving}, h, nil
}

// resetCheck starts a fresh mempool state over the last committed version.
func (l *Ledger) resetCheck() {
	base := l.committed()
	h, t := l.LastBlock()
	ctx := NewContext(NewCache(base), l.ChainID(), h+1, t, ModeCheck)
	l.checkMu.Lock()
	l.check = ctx
	l.checkMu.Unlock()
}

// checkInvariants runs every module's invariants against ctx.
func (l *Ledger) checkInvariants(ctx *Context) error {
	for _, m := range l.mods {
		for _, inv := range m.Invariants() {
			if err := inv.Check(ctx); err != nil {
				return ErrInvariantBroken.Wrapf("%s/%s: %v", m.Name(), inv.Name, err)
			}
		}
	}
	return nil
}

// CheckInvariants checks every invariant against the latest committed state.
func (l *Ledger) CheckInvariants() error {
	kv, h, err := l.versionAt(0)
	if err != nil {
		return err
	}
	return l.checkInvariants(NewContext(kv, l.ChainID(), h, time.Time{}, ModeQuery))
}

// txCache remembers transactions that decoded and verified, with their
// decoded messages. Decoding and verification are pure functions of the
// bytes, so a hit is exactly as good as doing the work again: a transaction
// checked when it entered the mempool is not verified or decoded again on
// recheck, in proposals or in the block.
//
// Entries are found by a keyed 64-bit hash of the bytes (hash/maphash,
// with a seed drawn when the process starts) and a hit is confirmed by
// comparing the bytes, so two transactions that share a key only cost a
// decode. A lookup used to hash with SHA-256, 0.3 µs for a transfer, done
// several times per transaction (1.5–2 % of a node's CPU).
type txCache struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]*decodedTx
	ring []uint64
	next int
}

// decodedTx is a verified transaction and its decoded messages (or the
// error decoding them gave). Message values are shared by every execution
// of the transaction: handlers must not modify them.
type decodedTx struct {
	tx     *wire.Tx
	types  []MsgType
	msgs   []Msg
	msgGas uint64
	err    error
}

func newTxCache(n int) *txCache {
	return &txCache{seed: maphash.MakeSeed(), m: make(map[uint64]*decodedTx, n), ring: make([]uint64, n)}
}

func (c *txCache) key(raw []byte) uint64 { return maphash.Bytes(c.seed, raw) }

// get returns the cached transaction whose bytes are raw, or nil.
func (c *txCache) get(raw []byte) *decodedTx {
	k := c.key(raw)
	c.mu.Lock()
	d := c.m[k]
	c.mu.Unlock()
	if d == nil || !bytes.Equal(d.tx.Bytes, raw) {
		return nil
	}
	return d
}

func (c *txCache) put(d *decodedTx) {
	k := c.key(d.tx.Bytes)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	delete(c.m, c.ring[c.next])
	c.ring[c.next] = k
	c.m[k] = d
	c.next = (c.next + 1) % len(c.ring)
}

// forget drops the transactions of a finalized block. CometBFT removes them
// from the mempool, so nothing looks them up again, and a decoded
// transaction holds about 2 KB: left to age out of the ring, the
// transactions of the last 60,000 committed made up half of a busy node's
// live heap, and the heap goal with it. Their ring slots stay; reaching one
// deletes the key again, at worst a later copy of the same transaction,
// which only costs a decode.
func (c *txCache) forget(txs [][]byte) {
	if len(txs) == 0 {
		return
	}
	ks := make([]uint64, len(txs))
	for i, raw := range txs {
		ks[i] = c.key(raw)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range ks {
		if d := c.m[k]; d != nil && bytes.Equal(d.tx.Bytes, txs[i]) {
			delete(c.m, k)
		}
	}
}

// txHash is CometBFT's hash of a transaction.
func txHash(raw []byte) [32]byte { return sha256.Sum256(raw) }
