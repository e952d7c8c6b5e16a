package runtime_test

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/vai-dev/vai/runtime"
)

func TestFixedScaleRounding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    runtime.Fixed
		v    int64
		want int64
	}{
		{runtime.Fixed{Mult: 1, Shift: 1}, 3, 2},   // 1.5 → 2
		{runtime.Fixed{Mult: 1, Shift: 1}, -3, -1}, // −1.5 → −1 (half towards +∞)
		{runtime.Fixed{Mult: 1, Shift: 2}, -5, -1}, // −1.25 → −1
		{runtime.Fixed{Mult: 1, Shift: 2}, -7, -2}, // −1.75 → −2
		{runtime.Fixed{Mult: 3, Shift: 0}, -7, -21},
		{runtime.Fixed{Mult: 1<<31 - 1, Shift: 62}, -(1 << 31), -1},
		{runtime.Fixed{Mult: 1<<31 - 1, Shift: 31}, 1<<31 - 1, 1<<31 - 2},
	} {
		if got := tc.f.Scale(tc.v); got != tc.want {
			t.Errorf("%v.Scale(%d) = %d, want %d", tc.f, tc.v, got, tc.want)
		}
	}
}

// TestFixedScaleExact checks Scale against exact rational rounding.
func TestFixedScaleExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 4))
	for range 20000 {
		f := runtime.Fixed{Mult: int32(1 + r.IntN(1<<31-1)), Shift: uint8(r.IntN(63))}
		v := int64(r.IntN(1<<32)) - 1<<31
		exact := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(v), big.NewInt(int64(f.Mult))), new(big.Int).Lsh(big.NewInt(1), uint(f.Shift)))
		exact.Add(exact, big.NewRat(1, 2))
		want := new(big.Int).Div(exact.Num(), exact.Denom()) // floor(x + 1/2)
		if got := f.Scale(v); got != want.Int64() {
			t.Fatalf("%v.Scale(%d) = %d, want %d", f, v, got, want)
		}
	}
}

func TestQuantizeInput(t *testing.T) {
	t.Parallel()
	f := runtime.Fixed{Mult: 127, Shift: 4} // ×7.9375
	for _, tc := range []struct {
		in   string
		want int8
	}{
		{"0", 0}, {"16", 127}, {"+1", 8}, {"-1", -8}, {"2", 16}, {"0.5", 4}, {"-0.5", -4},
		{"1e0", 8}, {"1.0E1", 79}, {"160e-1", 127}, {" 3 ", 24}, {".5", 4}, {"5.", 40},
		{"0.0629921259842519685", 0}, // 0.0629921…·7.9375 = 0.49999… → 0
		{"0.06299212598425197", 1},   // just above ½/7.9375
		{"-16.125", -128},            // −127.99… → −128
	} {
		got, err := f.QuantizeInput(tc.in, false)
		if err != nil || got != tc.want {
			t.Errorf("QuantizeInput(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "NaN", "nan", "Inf", "-Infinity", "1/2", "0x10", "1e", "e5", "--1", "1.2.3", "17", "-17", "1e999", "1e-999", "12345678901234567890", "½"} {
		if _, err := f.QuantizeInput(bad, false); !errors.Is(err, runtime.ErrInputRange) {
			t.Errorf("QuantizeInput(%q) error = %v, want ErrInputRange", bad, err)
		}
	}
	for in, want := range map[string]int8{"17": 127, "-17": -128, "12345678901234567890": 127, "-1e300": -128} {
		got, err := f.QuantizeInput(in, true)
		if err != nil || got != want {
			t.Errorf("QuantizeInput(%q, saturate) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// TestQuantizeInputPaths checks that the integer fast path and the exact
// decimal path agree ("7" and "7.0" must quantise alike).
func TestQuantizeInputPaths(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 5))
	for range 5000 {
		f := runtime.Fixed{Mult: int32(1 + r.IntN(1<<20)), Shift: uint8(r.IntN(40))}
		v := r.IntN(2001) - 1000
		a, errA := f.QuantizeInput(fmt.Sprint(v), true)
		b, errB := f.QuantizeInput(fmt.Sprintf("%d.000", v), true)
		if a != b || errA != nil || errB != nil {
			t.Fatalf("%v: %d → %d (%v) but %d.000 → %d (%v)", f, v, a, errA, v, b, errB)
		}
	}
}
