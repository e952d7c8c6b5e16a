package market

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/vai-dev/vai/wire"
)

// The split's arithmetic at the ends of the range: 128-bit intermediates,
// never a wrapped product.
func TestSplitArithmeticDoesNotOverflow(t *testing.T) {
	if got := feeOf(math.MaxUint64, 10_000); got != math.MaxUint64 {
		t.Fatalf("feeOf(max, 100%%) = %d", got)
	}
	if got := feeOf(math.MaxUint64, 200); got != math.MaxUint64/10_000*200+(math.MaxUint64%10_000)*200/10_000 {
		t.Fatalf("feeOf(max, 2%%) = %d", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		x, z := rng.Uint64(), rng.Uint64()|1
		y := rng.Uint64N(z + 1)
		want := new(big.Int).Mul(new(big.Int).SetUint64(x), new(big.Int).SetUint64(y))
		want.Quo(want, new(big.Int).SetUint64(z))
		if got := mulDiv(x, y, z); !want.IsUint64() || got != want.Uint64() {
			t.Fatalf("mulDiv(%d, %d, %d) = %d, want %s", x, y, z, got, want)
		}
	}
	if satAdd(math.MaxUint64, 1) != math.MaxUint64 || mulSat(math.MaxUint64, 2) != math.MaxUint64 {
		t.Fatal("saturating arithmetic wrapped")
	}
	// A provider's weight never overflows or reaches zero.
	p := &Provider{Stake: wire.UVAI(math.MaxUint64), Reputation: 10_000, Capacity: 10_000}
	if w := weight(p, 0); w == 0 {
		t.Fatal("zero weight")
	}
	p.Stake.Amount = 0
	if w := weight(p, math.MaxUint64); w != 1 {
		t.Fatalf("weight of a zero stake at the top price = %d, want the floor 1", w)
	}
}
