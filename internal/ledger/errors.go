package ledger

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Kind classifies an error for clients: the REST API maps each Kind to one
// HTTP status, in one place.
type Kind uint8

// Error kinds.
const (
	KindInternal     Kind = iota // a bug or a failed invariant
	KindInvalid                  // malformed or invalid input
	KindUnauthorized             // signature, signer or permission
	KindNotFound                 // the thing asked for does not exist
	KindConflict                 // exists already, used already, wrong state
	KindInsufficient             // not enough funds, fee or bond
	KindTooLarge                 // over a size limit
	KindExpired                  // past a deadline or timeout
)

var kindNames = [...]string{"internal", "invalid", "unauthorized", "not_found", "conflict", "insufficient", "too_large", "expired"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is a registered, numbered error of one codespace (a module). Codes
// are append-only: once released, a code keeps its meaning. Code 0 is success
// and code 1 is ErrInternal in every codespace.
type Error struct {
	Codespace string
	Code      uint32
	Kind      Kind
	// Desc is a short lowercase description, e.g. "insufficient funds".
	Desc string
}

func (e *Error) Error() string { return e.Desc }

// Wrapf returns an error that reads "desc: detail" and matches e with errors.Is.
func (e *Error) Wrapf(format string, args ...any) error {
	return &wrapped{base: e, msg: e.Desc + ": " + fmt.Sprintf(format, args...)}
}

// Wrap attaches a cause.
func (e *Error) Wrap(cause error) error {
	return &wrapped{base: e, msg: e.Desc + ": " + cause.Error(), cause: cause}
}

type wrapped struct {
	base  *Error
	msg   string
	cause error
}

func (w *wrapped) Error() string   { return w.msg }
func (w *wrapped) Unwrap() []error { return []error{w.base, w.cause} }

var (
	registryMu sync.Mutex
	registry   = map[string]map[uint32]*Error{}
)

// Register declares error code code of codespace. It panics on a duplicate,
// so a clash is caught when the program starts.
func Register(codespace string, code uint32, kind Kind, desc string) *Error {
	if code < 2 {
		panic(fmt.Sprintf("ledger: codes 0 and 1 are reserved (registering %s/%d)", codespace, code))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	cs := codespaceLocked(codespace)
	if prev, ok := cs[code]; ok {
		panic(fmt.Sprintf("ledger: error code %s/%d registered twice (%q and %q)", codespace, code, prev.Desc, desc))
	}
	e := &Error{Codespace: codespace, Code: code, Kind: kind, Desc: desc}
	cs[code] = e
	return e
}

// codespaceLocked returns the codes of a codespace, creating it with its
// code 1 (internal error) on first use.
func codespaceLocked(codespace string) map[uint32]*Error {
	cs := registry[codespace]
	if cs == nil {
		cs = map[uint32]*Error{1: {Codespace: codespace, Code: 1, Kind: KindInternal, Desc: "internal error"}}
		registry[codespace] = cs
	}
	return cs
}

// InternalError returns code 1 of a codespace.
func InternalError(codespace string) *Error {
	registryMu.Lock()
	defer registryMu.Unlock()
	return codespaceLocked(codespace)[1]
}

// RegisteredErrors lists every registered error, sorted by codespace and code.
func RegisteredErrors() []*Error {
	registryMu.Lock()
	defer registryMu.Unlock()
	var out []*Error
	for _, cs := range registry {
		for _, e := range cs {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Error) int {
		if a.Codespace != b.Codespace {
			if a.Codespace < b.Codespace {
				return -1
			}
			return 1
		}
		return int(a.Code) - int(b.Code)
	})
	return out
}

// LookupError returns the registered error for a codespace and code.
func LookupError(codespace string, code uint32) (*Error, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	e, ok := registry[codespace][code]
	return e, ok
}

// CodeOf returns the registered error err wraps, or the internal error of
// the "ledger" codespace if it wraps none.
func CodeOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal
}
