package ledger

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/vai-dev/vai/wire"
)

// Params are the chain-wide rules of the ledger core. They live in the state
// (so governance can change them later) under "ledger/params".
type Params struct {
	// MaxTxBytes is the largest transaction envelope accepted.
	MaxTxBytes uint64 `json:"max_tx_bytes"`
	// SequenceWindow is how far ahead of an account's next sequence a
	// transaction may be (at most 64): see auth.go.
	SequenceWindow uint64 `json:"sequence_window"`
	// TxBaseGas is charged once per transaction, TxByteGas per envelope
	// byte; each message type adds its own gas.
	TxBaseGas uint64 `json:"tx_base_gas"`
	TxByteGas uint64 `json:"tx_byte_gas"`
	// MinGasPrice is the least fee per gas unit a transaction must pay.
	MinGasPrice GasPrice `json:"min_gas_price"`
}

// DefaultParams are the parameters of a new chain.
func DefaultParams() Params {
	return Params{
		MaxTxBytes:     64 << 10,
		SequenceWindow: 64,
		TxBaseGas:      10_000,
		TxByteGas:      10,
		MinGasPrice:    GasPrice(10_000), // 0.01 uvai per gas
	}
}

// Validate checks the parameters make sense.
func (p Params) Validate() error {
	switch {
	case p.MaxTxBytes < 256 || p.MaxTxBytes > wire.MaxTxBytes:
		return ErrInvalidParams.Wrapf("max_tx_bytes %d outside [256, %d]", p.MaxTxBytes, wire.MaxTxBytes)
	case p.SequenceWindow == 0 || p.SequenceWindow > 64:
		return ErrInvalidParams.Wrapf("sequence_window %d outside [1, 64]", p.SequenceWindow)
	}
	return nil
}

// Gas returns the gas of a transaction of size bytes whose messages cost
// msgGas, saturating instead of overflowing.
func (p Params) Gas(size int, msgGas uint64) uint64 {
	hi, g := bits.Mul64(p.TxByteGas, uint64(size))
	if hi != 0 {
		return math.MaxUint64
	}
	g, c1 := bits.Add64(g, p.TxBaseGas, 0)
	g, c2 := bits.Add64(g, msgGas, 0)
	if c1|c2 != 0 {
		return math.MaxUint64
	}
	return g
}

// GasPrice is a price per gas unit in millionths of a uvai, written as a
// decimal number of uvai ("0.01").
type GasPrice uint64

const gasPriceScale = 1_000_000

// Fee returns the least fee for gas at this price, rounded up, and false if
// it does not fit in a uint64.
func (g GasPrice) Fee(gas uint64) (uint64, bool) {
	hi, lo := bits.Mul64(gas, uint64(g))
	if hi >= gasPriceScale {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, gasPriceScale)
	if r != 0 {
		if q == math.MaxUint64 {
			return 0, false
		}
		q++
	}
	return q, true
}

func (g GasPrice) String() string {
	w, f := uint64(g)/gasPriceScale, uint64(g)%gasPriceScale
	if f == 0 {
		return strconv.FormatUint(w, 10)
	}
	return strconv.FormatUint(w, 10) + "." + strings.TrimRight(fmt.Sprintf("%06d", f), "0")
}

// ParseGasPrice parses a decimal uvai amount with up to 6 decimals.
func ParseGasPrice(s string) (GasPrice, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && (frac == "" || len(frac) > 6)) {
		return 0, fmt.Errorf("invalid gas price %q: want a decimal number of uvai with at most 6 decimals", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("invalid gas price %q", s)
		}
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxUint64/gasPriceScale {
		return 0, fmt.Errorf("invalid gas price %q: out of range", s)
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return GasPrice(w*gasPriceScale + f), nil
}

// MarshalText implements encoding.TextMarshaler.
func (g GasPrice) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *GasPrice) UnmarshalText(b []byte) error {
	p, err := ParseGasPrice(string(b))
	if err != nil {
		return err
	}
	*g = p
	return nil
}

var paramsKey = []byte("ledger/params")

// GetParams reads the core parameters from the state.
func GetParams(ctx *Context) Params {
	b := ctx.kv.Get(paramsKey)
	if b == nil {
		return DefaultParams()
	}
	return globalParams.decode(b)
}

// paramsMemo keeps the last decoded parameters with their stored bytes:
// every transaction reads them, and they almost never change. Decoding is a
// pure function of the bytes, so a hit equals decoding again.
type paramsMemo struct {
	mu  sync.Mutex
	raw []byte
	p   Params
}

var globalParams paramsMemo

func (m *paramsMemo) decode(b []byte) Params {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw != nil && bytes.Equal(m.raw, b) {
		return m.p
	}
	var p Params
	if err := DecodeJSON(b, &p); err != nil {
		panic(&StorageError{Err: fmt.Errorf("corrupt ledger params: %w", err)})
	}
	m.raw, m.p = bytes.Clone(b), p
	return p
}

// SetParams validates and stores the core parameters.
func SetParams(ctx *Context, p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	ctx.kv.Set(paramsKey, MustEncodeJSON(p))
	return nil
}
