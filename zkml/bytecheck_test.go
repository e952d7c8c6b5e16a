package zkml

import (
	"math/big"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/constraint/solver"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"

	"github.com/vai-dev/vai/runtime"
)

// A cheating prover runs hints of its choosing. These count only the bytes
// among the queries and split values without complaint, so that only the
// constraints stand between an out-of-range value and a proof.
var lenient = []solver.Option{
	solver.OverrideHint(solver.GetHintID(byteCountHint), func(_ *big.Int, in, out []*big.Int) error {
		for _, o := range out {
			o.SetUint64(0)
		}
		for _, v := range in {
			if v.IsUint64() && v.Uint64() < 256 {
				out[v.Uint64()].Add(out[v.Uint64()], big.NewInt(1))
			}
		}
		return nil
	}),
	solver.OverrideHint(solver.GetHintID(bytesHint), func(_ *big.Int, in, out []*big.Int) error {
		v := new(big.Int).Set(in[0])
		for i := range out[:len(out)-1] {
			out[i].SetUint64(v.Uint64() & 0xff)
			v.Rsh(v, 8)
		}
		out[len(out)-1].Set(v) // whatever is left, however wide
		return nil
	}),
}

type checkCircuit struct {
	V    frontend.Variable
	bits int
}

func (c *checkCircuit) Define(api frontend.API) error {
	newByteChecker(api).Check(c.V, c.bits)
	return nil
}

func TestByteChecker(t *testing.T) {
	t.Parallel()
	q := ecc.BN254.ScalarField()
	for _, bits := range []int{1, 3, 7, 8, 9, 16, 25, 64} {
		ccs, err := frontend.Compile(q, r1cs.NewBuilder, &checkCircuit{bits: bits})
		if err != nil {
			t.Fatal(err)
		}
		top := new(big.Int).Lsh(big.NewInt(1), uint(bits))
		minus := func(d int64) *big.Int { return new(big.Int).Sub(top, big.NewInt(d)) }
		tests := []struct {
			v  *big.Int
			ok bool
		}{
			{big.NewInt(0), true},
			{big.NewInt(1), true},
			{minus(1), true},
			{top, false},
			{new(big.Int).Add(top, big.NewInt(255)), false},
			{new(big.Int).Lsh(top, 8), false},
			{new(big.Int).Sub(q, big.NewInt(1)), false}, // −1
			{new(big.Int).Sub(q, top), false},           // −2^bits
		}
		for _, tc := range tests {
			w, err := frontend.NewWitness(&checkCircuit{V: tc.v}, q)
			if err != nil {
				t.Fatal(err)
			}
			if err := ccs.IsSolved(w, lenient...); (err == nil) != tc.ok {
				t.Errorf("%d bits, %v: solved = %v, want %v", bits, tc.v, err == nil, tc.ok)
			}
		}
	}
}

// TestWeightsBound: weights w0 + 256 and w1 − 1 pack to the same field
// element as w0 and w1, so they have the same commitment; on a zero input
// they give the same output too. Only the weights' range checks refuse them.
func TestWeightsBound(t *testing.T) {
	t.Parallel()
	m := &runtime.Model{
		Input: runtime.Shape{2}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{
			&runtime.Dense{In: 2, Out: 1, Weights: []int8{5, -7}, Bias: []int32{1000},
				Requant: runtime.Requant{Mult: []int32{1 << 30}, Shift: []uint8{35}}},
		},
	}
	c, err := Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	solve := func(edit func(w *circuit)) error {
		in := []int8{0, 0}
		out, err := runtime.Reference(m, in, 1)
		if err != nil {
			t.Fatal(err)
		}
		pub := &Public{Commitment: c.arch.commit(m, Salt{}), JobID: JobField(nil), InputDigest: InputDigest(in), Output: out}
		a := c.assign(m, Salt{}, in, pub)
		edit(a)
		w, err := frontend.NewWitness(a, ecc.BN254.ScalarField())
		if err != nil {
			t.Fatal(err)
		}
		return c.ccs.IsSolved(w, lenient...)
	}
	if err := solve(func(*circuit) {}); err != nil {
		t.Fatalf("honest weights: %v", err)
	}
	if err := solve(func(w *circuit) { w.Params[0], w.Params[1] = int64(5+256+128), int64(-7-1+128) }); err == nil {
		t.Fatal("weights 261 and −8 satisfy the circuit of weights 5 and −7")
	}
}
