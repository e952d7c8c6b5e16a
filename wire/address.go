package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

// AddressPrefix is the bech32 human-readable part of every vai address.
const AddressPrefix = "vai"

// AddressLen is the length of an address in bytes.
const AddressLen = 20

// Address identifies an account: SHA-256(ed25519 public key)[:20].
type Address [AddressLen]byte

// ErrAddress is wrapped by every address parsing error.
var ErrAddress = errors.New("invalid address")

// AddressFromPubKey derives the address of an ed25519 public key.
func AddressFromPubKey(pub ed25519.PublicKey) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:AddressLen])
	return a
}

// ModuleAddress is the address of the account a ledger module holds funds in
// (escrow, stakes, pools). No private key exists for it: it is derived from
// a domain-separated hash of the module's name.
func ModuleAddress(name string) Address {
	sum := sha256.Sum256([]byte("vai/module-account/" + name))
	var a Address
	copy(a[:], sum[:AddressLen])
	return a
}

// ParseAddress parses the canonical bech32 form of an address: lowercase,
// prefix "vai", the bech32 (not bech32m) checksum.
func ParseAddress(s string) (Address, error) {
	var a Address
	if s == "" {
		return a, fmt.Errorf("%w: empty", ErrAddress)
	}
	if a, ok := names.lookup(s); ok {
		return a, nil
	}
	hrp, data, err := bech32.DecodeToBase256(s)
	if err != nil {
		return a, fmt.Errorf("%w %q: %v", ErrAddress, s, err)
	}
	if hrp != AddressPrefix {
		return a, fmt.Errorf("%w %q: prefix %q, want %q", ErrAddress, s, hrp, AddressPrefix)
	}
	if len(data) != AddressLen {
		return a, fmt.Errorf("%w %q: %d bytes, want %d", ErrAddress, s, len(data), AddressLen)
	}
	copy(a[:], data)
	// One address, one spelling: uppercase and bech32m forms decode too, but
	// only the canonical string is accepted.
	if a.String() != s {
		return Address{}, fmt.Errorf("%w %q: not in canonical lowercase bech32 form", ErrAddress, s)
	}
	return a, nil
}

// String returns the canonical bech32 form.
func (a Address) String() string {
	if s, ok := names.get(a); ok {
		return s
	}
	s, err := bech32.EncodeFromBase256(AddressPrefix, a[:])
	if err != nil {
		// Unreachable: 20 bytes always convert and encode.
		panic(err)
	}
	names.put(a, s)
	return s
}

// names remembers recent addresses' bech32 strings: the ledger writes the
// same few addresses into many events, and bech32's checksum is not free.
// Only canonical strings (made by String) enter it, so a hit in lookup is
// exactly as valid as decoding.
var names = &nameMemo{m: make(map[Address]string), r: make(map[string]Address)}

type nameMemo struct {
	mu sync.RWMutex
	m  map[Address]string
	r  map[string]Address
}

const nameMemoMax = 1 << 16

func (n *nameMemo) get(a Address) (string, bool) {
	n.mu.RLock()
	s, ok := n.m[a]
	n.mu.RUnlock()
	return s, ok
}

func (n *nameMemo) lookup(s string) (Address, bool) {
	n.mu.RLock()
	a, ok := n.r[s]
	n.mu.RUnlock()
	return a, ok
}

func (n *nameMemo) put(a Address, s string) {
	n.mu.Lock()
	if len(n.m) >= nameMemoMax {
		clear(n.m)
		clear(n.r)
	}
	n.m[a] = s
	n.r[s] = a
	n.mu.Unlock()
}

// IsZero reports whether a is the zero address (never a valid signer).
func (a Address) IsZero() bool { return a == Address{} }

// Bytes returns the 20 raw bytes.
func (a Address) Bytes() []byte { return bytes.Clone(a[:]) }

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}
