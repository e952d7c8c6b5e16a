package runtime

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
)

// Fixed is a positive fixed-point number Mult / 2^Shift. It is how the format
// stores every scale factor, so that applying a scale is integer arithmetic.
type Fixed struct {
	Mult  int32 // 1 ≤ Mult ≤ MaxMult
	Shift uint8 // 0 ≤ Shift ≤ MaxShift
}

// Limits of a Fixed. With |acc| < 2^31 the product acc·Mult plus the rounding
// term stays below 2^63, so requantisation never overflows int64.
const (
	MaxMult  = math.MaxInt32
	MaxShift = 62
)

func (f Fixed) valid() bool { return f.Mult >= 1 && f.Shift <= MaxShift }

// Float returns the value Mult / 2^Shift. It is for display and import only;
// no inference arithmetic uses it.
func (f Fixed) Float() float64 { return math.Ldexp(float64(f.Mult), -int(f.Shift)) }

// String formats f as "M/2^S".
func (f Fixed) String() string { return fmt.Sprintf("%d/2^%d", f.Mult, f.Shift) }

// Scale returns round(v · Mult / 2^Shift), rounding halves towards +∞, as the
// runtime rescales every integer: (v·M + 2^(S−1)) >> S with an arithmetic
// (flooring) shift, and v·M when S = 0. v must satisfy |v| < 2^31.
func (f Fixed) Scale(v int64) int64 {
	p := v * int64(f.Mult)
	if f.Shift == 0 {
		return p
	}
	return (p + int64(1)<<(f.Shift-1)) >> f.Shift
}

// Requant maps int32 accumulators to int8: per output channel c,
// y = clamp((acc·Mult[c] + 2^(Shift[c]−1)) >> Shift[c], lo, 127), where lo is
// −128, or 0 when a ReLU is fused. Mult and Shift hold one entry (the same
// for every channel) or one per channel.
type Requant struct {
	Mult  []int32
	Shift []uint8
}

// at returns the multiplier of channel c.
func (r Requant) at(c int) Fixed {
	if len(r.Mult) == 1 {
		return Fixed{r.Mult[0], r.Shift[0]}
	}
	return Fixed{r.Mult[c], r.Shift[c]}
}

// PerChannel reports whether r has one multiplier per channel.
func (r Requant) PerChannel() bool { return len(r.Mult) > 1 }

func sat8(v int64, lo int64) int8 {
	if v < lo {
		return int8(lo)
	}
	if v > 127 {
		return 127
	}
	return int8(v)
}

// requant applies one channel's requantisation and saturation.
func requant(acc int32, f Fixed, lo int64) int8 { return sat8(f.Scale(int64(acc)), lo) }

// Argmax returns the index of the largest value; ties go to the lowest index
// (as ONNX ArgMax with select_last_index = 0). It returns −1 for no values.
func Argmax(v []int8) int {
	best := -1
	for i, x := range v {
		if best < 0 || x > v[best] {
			best = i
		}
	}
	return best
}

// divRoundHalfUp returns round(num/den) with halves towards +∞ for den > 0:
// floor((2·num + den) / (2·den)).
func divRoundHalfUp(num, den int64) int64 {
	n, d := 2*num+den, 2*den
	q := n / d
	if n%d != 0 && n < 0 {
		q--
	}
	return q
}

// ErrInputRange is wrapped by errors for input values that cannot be
// represented: not a finite decimal, or outside the int8 range after
// quantisation.
var ErrInputRange = fmt.Errorf("input out of range")

// QuantizeInput converts one input value, a decimal literal such as "12",
// "-0.375" or "1e-3", to int8: q = round(x · Mult / 2^Shift) computed exactly
// (halves towards +∞). Values that are not finite decimals (NaN, Inf, text) or
// whose q falls outside [−128, 127] are errors wrapping ErrInputRange; with
// saturate set, q is clamped instead. No floating point is involved, so every
// implementation gets the same int8 for the same text.
func (f Fixed) QuantizeInput(s string, saturate bool) (int8, error) {
	s = strings.TrimSpace(s)
	if q, ok := quantizeSmallInt(s, f); ok {
		return clampInput(q, s, saturate)
	}
	if q, ok := quantizeShortDecimal(s, f); ok {
		return clampInput(q, s, saturate)
	}
	return f.quantizeExact(s, saturate)
}

// quantizeExact is QuantizeInput for any decimal, with big integers.
func (f Fixed) quantizeExact(s string, saturate bool) (int8, error) {
	a, b, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	// q = floor((2·x·M + 2^S) / 2^(S+1)) with x = a/b, b > 0:
	// floor((2·a·M + b·2^S) / (b·2^(S+1))).
	num := new(big.Int).Mul(a, big.NewInt(2*int64(f.Mult)))
	num.Add(num, new(big.Int).Lsh(b, uint(f.Shift)))
	den := new(big.Int).Lsh(b, uint(f.Shift)+1)
	q := new(big.Int).Div(num, den) // Euclidean = floor for den > 0
	if !q.IsInt64() {
		if !saturate {
			return 0, fmt.Errorf("%w: %s quantises outside [-128, 127]", ErrInputRange, s)
		}
		if q.Sign() < 0 {
			return -128, nil
		}
		return 127, nil
	}
	return clampInput(q.Int64(), s, saturate)
}

// quantizeSmallInt is the fast path of QuantizeInput for plain integers of at
// most 9 digits; it computes the same value with Fixed.Scale.
func quantizeSmallInt(s string, f Fixed) (int64, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	neg := false
	digits := s
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		digits = s[1:]
	}
	if len(digits) == 0 || len(digits) > 9 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return f.Scale(v), true
}

func clampInput(q int64, s string, saturate bool) (int8, error) {
	if q < -128 || q > 127 {
		if !saturate {
			return 0, fmt.Errorf("%w: %s quantises to %d, outside [-128, 127]", ErrInputRange, s, q)
		}
		return sat8(q, -128), nil
	}
	return int8(q), nil
}

// parseDecimal parses [+-]digits[.digits][(e|E)[+-]digits] exactly as a/b
// with b > 0. It bounds the length and the exponent so that hostile input
// cannot make it allocate.
func parseDecimal(s string) (a, b *big.Int, err error) {
	bad := func() (*big.Int, *big.Int, error) {
		if len(s) > 24 {
			s = s[:24] + "…"
		}
		return nil, nil, fmt.Errorf("%w: %q is not a finite decimal number", ErrInputRange, s)
	}
	if len(s) == 0 || len(s) > 64 {
		return bad()
	}
	i := 0
	neg := false
	if s[i] == '+' || s[i] == '-' {
		neg = s[i] == '-'
		i++
	}
	var mant strings.Builder
	nd, frac := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		mant.WriteByte(s[i])
		nd++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			mant.WriteByte(s[i])
			nd++
			frac++
		}
	}
	if nd == 0 {
		return bad()
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		ed := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if exp > 1000 {
				return bad()
			}
			exp = exp*10 + int(s[i]-'0')
			ed++
		}
		if ed == 0 {
			return bad()
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return bad()
	}
	exp -= frac
	if exp > 400 || exp < -400 {
		return bad()
	}
	a, _ = new(big.Int).SetString(mant.String(), 10)
	if neg {
		a.Neg(a)
	}
	b = big.NewInt(1)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
	if exp >= 0 {
		a.Mul(a, p)
	} else {
		b = p
	}
	return a, b, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// quantizeShortDecimal is the fast path of QuantizeInput for plain decimals
// "[+-]digits.digits" of at most 18 digits: with x = a/10^e and
// D = 10^e·2^S, q = floor((2·a·M + D) / 2D), computed in 128 bits. It gives
// up (ok false) when 2D does not fit 64 bits or q does not fit int64, for
// quantizeExact to handle.
func quantizeShortDecimal(s string, f Fixed) (q int64, ok bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	neg := false
	i := 0
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i++
	}
	var a uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			a = a*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 18 {
		return 0, false
	}
	// D = 10^frac · 2^S must leave 2D below 2^64.
	p10 := uint64(1)
	for range frac {
		p10 *= 10
	}
	if bits.Len64(p10)+int(f.Shift)+1 > 63 {
		return 0, false
	}
	d := p10 << f.Shift
	// n = 2·a·M as 128 bits (a < 10^18 < 2^60, M < 2^31: below 2^92).
	hi, lo := bits.Mul64(2*a, uint64(f.Mult))
	if !neg {
		// floor((n + D) / 2D)
		lo, c := bits.Add64(lo, d, 0)
		hi += c
		if hi >= 2*d {
			return 0, false
		}
		qu, _ := bits.Div64(hi, lo, 2*d)
		if qu > math.MaxInt64 {
			return 0, false
		}
		return int64(qu), true
	}
	// x < 0: floor((D − n) / 2D) is 0 when n ≤ D, else −ceil((n − D) / 2D).
	if hi == 0 && lo <= d {
		return 0, true
	}
	lo, b := bits.Sub64(lo, d, 0)
	hi -= b
	lo, c := bits.Add64(lo, 2*d-1, 0)
	hi += c
	if hi >= 2*d {
		return 0, false
	}
	qu, _ := bits.Div64(hi, lo, 2*d)
	if qu > math.MaxInt64 {
		return 0, false
	}
	return -int64(qu), true
}
