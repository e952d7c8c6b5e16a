package wire

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Denominations. Amounts are always held in the base unit.
const (
	BaseDenom    = "uvai" // 1 uvai is the smallest amount
	DisplayDenom = "vai"  // 1 vai = 10^6 uvai
	// DisplayDecimals is the power of ten between vai and uvai.
	DisplayDecimals = 6
)

// ErrCoin is wrapped by every coin parsing error.
var ErrCoin = errors.New("invalid amount")

// Coin is an amount of uvai.
type Coin struct {
	Amount uint64
}

// UVAI returns a Coin of n uvai.
func UVAI(n uint64) Coin { return Coin{Amount: n} }

// ParseCoin parses "2500uvai", "1.5vai" or "3vai". The amount is a decimal
// number without sign, exponent or white space; at most 6 decimals for vai and
// none for uvai. A bare number without denomination is an error, as is any
// other denomination.
func ParseCoin(s string) (Coin, error) {
	if s == "" {
		return Coin{}, fmt.Errorf("%w: empty", ErrCoin)
	}
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if i <= 0 {
		if i == 0 {
			return Coin{}, fmt.Errorf("%w %q: must start with a number (e.g. 2500uvai or 1.5vai)", ErrCoin, s)
		}
		return Coin{}, fmt.Errorf("%w %q: missing denomination (uvai or vai)", ErrCoin, s)
	}
	num, denom := s[:i], s[i:]
	var decimals int
	switch denom {
	case BaseDenom:
		decimals = 0
	case DisplayDenom:
		decimals = DisplayDecimals
	default:
		return Coin{}, fmt.Errorf("%w %q: unknown denomination %q (want uvai or vai)", ErrCoin, s, denom)
	}
	whole, frac, hasDot := strings.Cut(num, ".")
	if whole == "" || (hasDot && frac == "") || strings.Contains(frac, ".") {
		return Coin{}, fmt.Errorf("%w %q: malformed number", ErrCoin, s)
	}
	if len(frac) > decimals {
		return Coin{}, fmt.Errorf("%w %q: %s has at most %d decimal places", ErrCoin, s, denom, decimals)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return Coin{}, fmt.Errorf("%w %q: out of range", ErrCoin, s)
	}
	scale := pow10(decimals)
	if w > math.MaxUint64/scale {
		return Coin{}, fmt.Errorf("%w %q: out of range", ErrCoin, s)
	}
	amt := w * scale
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 64)
		if err != nil {
			return Coin{}, fmt.Errorf("%w %q: malformed number", ErrCoin, s)
		}
		f *= pow10(decimals - len(frac))
		if amt > math.MaxUint64-f {
			return Coin{}, fmt.Errorf("%w %q: out of range", ErrCoin, s)
		}
		amt += f
	}
	return Coin{Amount: amt}, nil
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// String returns the canonical form, e.g. "2500uvai".
func (c Coin) String() string { return strconv.FormatUint(c.Amount, 10) + BaseDenom }

// Display returns the amount in vai without trailing zeros, e.g. "1.5vai".
func (c Coin) Display() string {
	scale := pow10(DisplayDecimals)
	w, f := c.Amount/scale, c.Amount%scale
	if f == 0 {
		return strconv.FormatUint(w, 10) + DisplayDenom
	}
	fs := strings.TrimRight(fmt.Sprintf("%0*d", DisplayDecimals, f), "0")
	return strconv.FormatUint(w, 10) + "." + fs + DisplayDenom
}

// IsZero reports whether the amount is zero.
func (c Coin) IsZero() bool { return c.Amount == 0 }

// MarshalText implements encoding.TextMarshaler.
func (c Coin) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Coin) UnmarshalText(b []byte) error {
	p, err := ParseCoin(string(b))
	if err != nil {
		return err
	}
	*c = p
	return nil
}
