package zkml

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark/constraint/solver"
)

func init() {
	solver.RegisterHint(lanesHint, requantHint, maxHint, avgHint, bytesHint, byteCountHint)
}

// signed maps a field element to the integer in (−q/2, q/2) it stands for.
func signed(q, v *big.Int) *big.Int {
	s := new(big.Int).Set(v)
	if s.Cmp(new(big.Int).Rsh(q, 1)) > 0 {
		s.Sub(s, q)
	}
	return s
}

// lanesHint splits inputs[1] into len(outputs) balanced base-2^inputs[0]
// digits, least significant first.
func lanesHint(q *big.Int, inputs, outputs []*big.Int) error {
	k := uint(inputs[0].Uint64())
	t := signed(q, inputs[1])
	base := new(big.Int).Lsh(big.NewInt(1), k)
	half := new(big.Int).Rsh(base, 1)
	for i := range outputs {
		d := new(big.Int).Mod(t, base)
		if d.Cmp(half) >= 0 {
			d.Sub(d, base)
		}
		t.Sub(t, d)
		t.Rsh(t, k)
		outputs[i].Mod(d, q)
	}
	if t.Sign() != 0 {
		return fmt.Errorf("zkml: accumulator does not fit %d lanes of %d bits", len(outputs), k)
	}
	return nil
}

// requantHint is clamp(floor(v / pow), lo, 127) for inputs v, pow, lo.
func requantHint(q *big.Int, inputs, outputs []*big.Int) error {
	v, pow, lo := signed(q, inputs[0]), inputs[1], signed(q, inputs[2])
	if pow.Sign() <= 0 {
		return fmt.Errorf("zkml: requantisation divisor %v", pow)
	}
	y := new(big.Int).Div(v, pow) // Euclidean: floor for pow > 0
	if y.Cmp(lo) < 0 {
		y.Set(lo)
	}
	if y.Cmp(big.NewInt(127)) > 0 {
		y.SetInt64(127)
	}
	outputs[0].Mod(y, q)
	return nil
}

// maxHint is the largest of its (signed) inputs.
func maxHint(q *big.Int, inputs, outputs []*big.Int) error {
	m := signed(q, inputs[0])
	for _, v := range inputs[1:] {
		if s := signed(q, v); s.Cmp(m) > 0 {
			m = s
		}
	}
	outputs[0].Mod(m, q)
	return nil
}

// avgHint is floor((2·sum + n) / 2n) for inputs sum, n.
func avgHint(q *big.Int, inputs, outputs []*big.Int) error {
	sum, n := signed(q, inputs[0]), inputs[1]
	num := new(big.Int).Add(new(big.Int).Lsh(sum, 1), n)
	y := new(big.Int).Div(num, new(big.Int).Lsh(n, 1))
	outputs[0].Mod(y, q)
	return nil
}
