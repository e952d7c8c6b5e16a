// Package ledgertest runs a ledger in memory for tests: a genesis with funded
// keys, signed transactions, and blocks executed and committed one by one
// with every invariant checked after each block.
package ledgertest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/wire"
)

// ChainID of test chains.
const ChainID = "vai-test"

// Chain is an in-memory ledger with funded keys.
type Chain struct {
	t      testing.TB
	DB     dbm.DB
	L      *ledger.Ledger
	Bank   *bank.Module
	Keys   []ed25519.PrivateKey
	Height int64
	Time   time.Time
	seq    map[wire.Address]uint64
	mods   func(b *bank.Module) []ledger.Module
	// Mods are the modules after bank, as built for the current Ledger.
	Mods []ledger.Module
}

// Options configure New.
type Options struct {
	// Accounts is how many keys to fund (default 4); Funds each (default 10 vai).
	Accounts int
	Funds    uint64
	// Modules builds the modules added after bank (given the bank, whose
	// keeper they may use). ModuleAccounts are blocked as recipients of
	// plain sends.
	Modules        func(b *bank.Module) []ledger.Module
	ModuleAccounts []string
	// Genesis sections to add or override.
	Genesis map[string]json.RawMessage
	// DB to use (default: a new goleveldb in a temporary directory).
	DB dbm.DB
}

// Key returns the deterministic test key number i.
func Key(i int) ed25519.PrivateKey {
	seed := bytes.Repeat([]byte{'v'}, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed[8:], uint64(i))
	return ed25519.NewKeyFromSeed(seed)
}

// Addr returns the address of a key.
func Addr(k ed25519.PrivateKey) wire.Address {
	return wire.AddressFromPubKey(k.Public().(ed25519.PublicKey))
}

// New starts a chain: genesis, then nothing committed yet (the first Block
// commits genesis with it, as on a real node).
func New(t testing.TB, o Options) *Chain {
	t.Helper()
	if o.Accounts == 0 {
		o.Accounts = 4
	}
	if o.Funds == 0 {
		o.Funds = 10_000_000
	}
	if o.DB == nil {
		// The node's own backend, not a memory DB: the two differ in ways
		// that matter (iterator buffer reuse).
		db, err := dbm.NewGoLevelDB("application", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		o.DB = db
	}
	c := &Chain{t: t, DB: o.DB, Bank: bank.New(o.ModuleAccounts...), Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), seq: map[wire.Address]uint64{}, mods: o.Modules}
	c.L = c.open()
	g := bank.Genesis{}
	for i := range o.Accounts {
		k := Key(i)
		c.Keys = append(c.Keys, k)
		g.Balances = append(g.Balances, bank.GenesisBalance{Address: Addr(k), Amount: wire.UVAI(o.Funds)})
	}
	sections := map[string]json.RawMessage{"bank": ledger.MustEncodeJSON(g)}
	for k, v := range o.Genesis {
		sections[k] = v
	}
	if _, err := c.L.InitChain(ChainID, c.Time, 1, ledger.MustEncodeJSON(sections)); err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	return c
}

func (c *Chain) open() *ledger.Ledger {
	c.Mods = nil
	if c.mods != nil {
		c.Mods = c.mods(c.Bank)
	}
	l, err := ledger.New(ledger.Config{
		DB:              c.DB,
		Modules:         append([]ledger.Module{c.Bank}, c.Mods...),
		Fees:            c.Bank.Keeper,
		InvariantPeriod: 1,
	})
	if err != nil {
		c.t.Fatalf("ledger.New: %v", err)
	}
	return l
}

// ModsFunc returns the chain's module constructor, to build another chain
// with the same modules.
func (c *Chain) ModsFunc() func(b *bank.Module) []ledger.Module { return c.mods }

// Reopen loads a new Ledger from the same database, as after a restart.
func (c *Chain) Reopen() {
	c.L = c.open()
}

// Body builds an unsigned body for key k with the next sequence this chain
// has handed out for it and a generous fee.
func (c *Chain) Body(k ed25519.PrivateKey, msgs ...wire.Msg) *wire.Body {
	a := Addr(k)
	s := c.seq[a]
	c.seq[a] = s + 1
	return &wire.Body{ChainID: ChainID, Sequence: s, Fee: wire.UVAI(1_000), Msgs: msgs}
}

// Sign signs body with k.
func (c *Chain) Sign(k ed25519.PrivateKey, body *wire.Body) []byte {
	c.t.Helper()
	env, err := wire.Sign(body, k)
	if err != nil {
		c.t.Fatalf("sign: %v", err)
	}
	return env
}

// Tx signs msgs from k with the next sequence.
func (c *Chain) Tx(k ed25519.PrivateKey, msgs ...wire.Msg) []byte {
	return c.Sign(k, c.Body(k, msgs...))
}

// Msg builds a message or fails the test.
func (c *Chain) Msg(typ string, v any) wire.Msg {
	c.t.Helper()
	m, err := wire.NewMsg(typ, v)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// Send is a bank/send message.
func (c *Chain) Send(to wire.Address, amount uint64) wire.Msg {
	return c.Msg("bank/send", bank.MsgSend{To: to, Amount: wire.UVAI(amount)})
}

// Block executes txs as the next block (without the proposal checks, as a
// block decided by a faulty majority would be), commits it, and returns the
// results. Invariants are checked after the block.
func (c *Chain) Block(txs ...[]byte) *ledger.BlockResult {
	c.t.Helper()
	c.Height++
	c.Time = c.Time.Add(time.Second)
	hash := sha256.Sum256(ledger.PutUint64(uint64(c.Height)))
	res, err := c.L.FinalizeBlock(ledger.BlockInfo{Height: c.Height, Time: c.Time, Hash: hash[:]}, txs)
	if err != nil {
		c.t.Fatalf("FinalizeBlock %d: %v", c.Height, err)
	}
	if err := c.L.Commit(); err != nil {
		c.t.Fatalf("Commit %d: %v", c.Height, err)
	}
	if h, hash := c.L.Info(); h != c.Height || !bytes.Equal(hash, res.AppHash) {
		c.t.Fatalf("after commit: Info = %d %X, want %d %X", h, hash, c.Height, res.AppHash)
	}
	return res
}

// Propose runs txs through PrepareProposal and ProcessProposal as a node
// would, then executes the chosen transactions as a block.
func (c *Chain) Propose(txs ...[]byte) ([][]byte, *ledger.BlockResult) {
	c.t.Helper()
	info := ledger.BlockInfo{Height: c.Height + 1, Time: c.Time.Add(time.Second)}
	chosen, err := c.L.PrepareProposal(info, txs, 1<<30)
	if err != nil {
		c.t.Fatalf("PrepareProposal: %v", err)
	}
	ok, err := c.L.ProcessProposal(info, chosen)
	if err != nil || !ok {
		c.t.Fatalf("ProcessProposal rejected the prepared block: %v %v", ok, err)
	}
	return chosen, c.Block(chosen...)
}

// Balance returns an address's committed balance.
func (c *Chain) Balance(a wire.Address) uint64 {
	c.t.Helper()
	var r bank.BalanceResponse
	c.Query("/bank/balance", map[string]any{"address": a}, &r)
	return r.Amount.Amount
}

// Query runs a module query at the latest height and decodes the answer.
func (c *Chain) Query(path string, req, out any) {
	c.t.Helper()
	res, err := c.L.Query(path, ledger.MustEncodeJSON(req), 0, false)
	if err != nil {
		c.t.Fatalf("query %s: %v", path, err)
	}
	if err := ledger.DecodeJSON(res.Value, out); err != nil {
		c.t.Fatalf("decode %s: %v", path, err)
	}
}
