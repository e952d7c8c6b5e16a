package ledger

import (
	"time"

	"github.com/vai-dev/vai/wire"
)

// Mode says why a transaction or block is being executed. Handlers must not
// behave differently by mode except where noted: the mode exists so that
// services (not state) can tell a simulation from the real thing.
type Mode uint8

// Execution modes.
const (
	ModeDeliver Mode = iota // executing a decided block
	ModeCheck               // admitting a transaction to the mempool
	ModePropose             // simulating a block being proposed or checked
	ModeQuery               // read-only query
)

// Context is what a message handler, a block hook or a query sees: the block
// it runs in and a view of the state. Everything a handler may read comes
// from here; nothing else (no clock, no randomness, no I/O) is allowed in the
// state machine.
type Context struct {
	ChainID string
	Height  int64
	// Time is the block's time, the only clock of the state machine.
	Time time.Time
	Mode Mode

	// BlockHash is the block's hash, set for end-of-block hooks only (it
	// is unknown while transactions are simulated for a proposal): the
	// source of block-derived randomness.
	BlockHash []byte

	kv     KV
	events []Event

	// Tx is the transaction being executed, nil in block hooks and queries.
	Tx *wire.Tx
}

// Signer returns the address that signed the transaction being executed.
func (c *Context) Signer() wire.Address {
	if c.Tx == nil {
		return wire.Address{}
	}
	return c.Tx.Body.Signer
}

// Store returns the part of the state that belongs to a module: its keys all
// start with "<module>/".
func (c *Context) Store(module string) KV { return Prefixed(c.kv, module+"/") }

// KV returns the whole state. Only the ledger core and tests use it.
func (c *Context) KV() KV { return c.kv }

// Emit records an event for off-chain services. Events of a failed
// transaction are discarded with its writes.
func (c *Context) Emit(typ string, attrs ...Attr) {
	c.events = append(c.events, Event{Type: typ, Attrs: attrs})
}

// Events returns the events emitted so far.
func (c *Context) Events() []Event { return c.events }

// branch returns a context over a write buffer on top of c's state; the
// caller writes the buffer back (and adopts the events) on success.
func (c *Context) branch() (*Context, *Cache) {
	cache := NewCache(c.kv)
	b := *c
	b.kv = cache
	b.events = nil
	return &b, cache
}

// Try runs fn on a branch of c: its writes and events are kept if it
// returns nil and discarded if it returns an error, which Try returns.
// End-of-block hooks use it so that one record's failure undoes only its
// own changes.
// A panic in fn other than a StorageError is a bug; it is deterministic
// (the same state panics on every validator), so Try returns it as an
// error, as a failed transaction would.
func (c *Context) Try(fn func(*Context) error) (err error) {
	b, cache := c.branch()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if se, ok := r.(*StorageError); ok {
			panic(se)
		}
		err = ErrInternal.Wrapf("panic: %v", r)
	}()
	if err := fn(b); err != nil {
		return err
	}
	cache.Write()
	c.events = append(c.events, b.events...)
	return nil
}

// NewContext returns a context over kv, for the ledger core and tests.
func NewContext(kv KV, chainID string, height int64, t time.Time, mode Mode) *Context {
	return &Context{ChainID: chainID, Height: height, Time: t, Mode: mode, kv: kv}
}

// Event is a typed record of something that happened, with attributes.
type Event struct {
	Type  string
	Attrs []Attr
}

// Attr is one attribute of an event. Indexed attributes can be searched in
// the node's transaction index (e.g. transfer.recipient='vai1…').
type Attr struct {
	Key, Value string
	Index      bool
}

// A returns an attribute that is not indexed.
func A(key, value string) Attr { return Attr{Key: key, Value: value} }

// AI returns an indexed attribute.
func AI(key, value string) Attr { return Attr{Key: key, Value: value, Index: true} }
