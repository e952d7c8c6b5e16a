package ledger

import (
	"encoding/json"
	"fmt"
)

// Module is one part of the state machine (bank, registry, market, …). It
// owns the keys under "<Name()>/", the message types it declares and the
// queries under "/<Name()>/…". Modules reach each other only through the
// Go APIs (keepers) they are given when the application is assembled.
type Module interface {
	Name() string
	// Msgs declares the message types the module handles.
	Msgs() []MsgType
	// DefaultGenesis is the module's genesis state for a new chain.
	DefaultGenesis() json.RawMessage
	// InitGenesis loads the module's genesis state (possibly empty).
	InitGenesis(ctx *Context, state json.RawMessage) error
	// ExportGenesis writes the module's state as genesis JSON that
	// InitGenesis accepts.
	ExportGenesis(ctx *Context) (json.RawMessage, error)
	// Query answers "/<module>/<path>" with req as the JSON request; the
	// result is encoded as JSON. Unknown paths wrap ErrUnknownQuery.
	Query(ctx *Context, path string, req []byte) (any, error)
	// Invariants are checked after blocks (every block in tests).
	Invariants() []Invariant
}

// BeginBlocker is implemented by modules with work at the start of a block.
type BeginBlocker interface {
	BeginBlock(ctx *Context) error
}

// EndBlocker is implemented by modules with work at the end of a block
// (expiries, schedulers, settlement).
type EndBlocker interface {
	EndBlock(ctx *Context) error
}

// Msg is a decoded message value. Validate checks what needs no state.
type Msg interface {
	Validate() error
}

// MsgType declares one message type of a module.
type MsgType struct {
	// Type is the name on the wire, "<module>/<verb>", e.g. "bank/send".
	Type string
	// New returns an empty value (a pointer) to decode the message into.
	New func() Msg
	// Gas is the message's cost in gas units; it may depend on the
	// message's content (say, its number of outputs). Nil means zero.
	Gas func(Msg) uint64
	// Handle executes the message. Its writes are discarded if it fails.
	Handle func(ctx *Context, m Msg) error
}

// Handler builds a MsgType from a typed handler, so modules need no casts.
// gas is a fixed cost; use GasFunc for content-dependent costs.
func Handler[T any, PT interface {
	*T
	Msg
}](typ string, gas uint64, h func(*Context, PT) error) MsgType {
	return MsgType{
		Type:   typ,
		New:    func() Msg { return PT(new(T)) },
		Gas:    func(Msg) uint64 { return gas },
		Handle: func(ctx *Context, m Msg) error { return h(ctx, m.(PT)) },
	}
}

// GasFunc replaces the fixed gas of a MsgType built by Handler.
func GasFunc[T any, PT interface {
	*T
	Msg
}](mt MsgType, gas func(PT) uint64) MsgType {
	mt.Gas = func(m Msg) uint64 { return gas(m.(PT)) }
	return mt
}

// Invariant is a property of the state that must hold after every block.
type Invariant struct {
	Name  string
	Check func(ctx *Context) error
}

// router maps message type names to their declarations.
type router struct {
	types map[string]MsgType
}

func newRouter(mods []Module) (*router, error) {
	r := &router{types: map[string]MsgType{}}
	for _, m := range mods {
		for _, mt := range m.Msgs() {
			if _, dup := r.types[mt.Type]; dup {
				return nil, fmt.Errorf("message type %q declared twice", mt.Type)
			}
			if mt.New == nil || mt.Handle == nil {
				return nil, fmt.Errorf("message type %q lacks New or Handle", mt.Type)
			}
			r.types[mt.Type] = mt
		}
	}
	return r, nil
}
