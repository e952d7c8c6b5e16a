package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestQuantizeShortDecimal checks the 128-bit decimal fast path against the
// big-integer path on random decimals and on exact ties.
func TestQuantizeShortDecimal(t *testing.T) {
	t.Parallel()
	ties := map[string]int64{"2.5": 3, "-2.5": -2, "0.5": 1, "-0.5": 0, "-1.5": -1, "+7.50": 8, "-0": 0, ".5": 1, "-.25": 0, "-5.": -5, "-7.0": -7, "-0.75": -1}
	for s, want := range ties {
		q, ok := quantizeShortDecimal(s, Fixed{Mult: 1})
		if !ok || q != want {
			t.Errorf("quantizeShortDecimal(%q) = %d, %v; want %d", s, q, ok, want)
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	fast := 0
	for range 200000 {
		f := Fixed{Mult: int32(1 + r.IntN(1<<31-1)), Shift: uint8(r.IntN(63))}
		switch r.IntN(4) {
		case 0:
			f.Mult = int32(1 + r.IntN(300))
		case 1:
			f.Mult, f.Shift = 1, uint8(r.IntN(4))
		}
		intDigits, fracDigits := r.IntN(8), r.IntN(11)
		s := ""
		if r.IntN(2) == 0 {
			s = "-"
		}
		for range intDigits {
			s += fmt.Sprint(r.IntN(10))
		}
		if r.IntN(8) == 0 {
			s += "." // "12." has no fraction digits: D = 2^S
		} else if fracDigits > 0 || intDigits == 0 {
			s += "."
			for range max(fracDigits, 1) {
				s += fmt.Sprint(r.IntN(10))
			}
		}
		q, ok := quantizeShortDecimal(s, f)
		if !ok {
			continue
		}
		fast++
		want, err := f.quantizeExact(s, true)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		got, _ := clampInput(q, s, true)
		if got != want {
			t.Fatalf("%v: %q: fast path %d (unclamped %d), exact %d", f, s, got, q, want)
		}
	}
	if fast < 100000 {
		t.Errorf("only %d of 200000 decimals took the fast path", fast)
	}
}
