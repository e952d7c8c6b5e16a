package zkml

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/multicommit"
)

// byteChecker range-checks values with a log-derivative argument
// (Haböck 2022, eprint 2022/1530) against one constant table, the 256 byte
// values. Every check of an int8 (a weight, an input, an activation) is one
// query: one R1CS constraint. Narrower values take a second, shifted query;
// wider ones are split into bytes by a hint.
//
// gnark's std/rangecheck does the same with one limb size for every check,
// chosen to suit them all: the 64-bit checks of requantisation made it
// pick a size that cost each int8 check two constraints (a 784-56-10 MLP
// has 45,314 of them).
type byteChecker struct {
	api     frontend.API
	queries []frontend.Variable
}

func newByteChecker(api frontend.API) *byteChecker {
	c := &byteChecker{api: api}
	api.Compiler().Defer(c.build)
	return c
}

// Check asserts 0 ≤ v < 2^bits, v read as an integer in [0, q).
func (c *byteChecker) Check(v frontend.Variable, bits int) {
	api := c.api
	switch {
	case bits <= 0:
		api.AssertIsEqual(v, 0)
	case bits <= 8:
		c.byte(v, bits)
	case bits <= 128:
		n := (bits + 7) / 8
		limbs, err := api.Compiler().NewHint(bytesHint, n, v)
		if err != nil {
			panic(err)
		}
		var sum frontend.Variable = 0
		for i, l := range limbs {
			c.byte(l, min(8, bits-8*i))
			sum = api.Add(sum, api.Mul(l, new(big.Int).Lsh(big.NewInt(1), uint(8*i))))
		}
		// The limbs are below 2^bits together, far below q: no wrap.
		api.AssertIsEqual(sum, v)
	default:
		panic(fmt.Sprintf("zkml: range check of %d bits", bits))
	}
}

// byte queries v, and v + 2^8 − 2^bits when bits < 8: both below 2^8 means
// v below 2^bits.
func (c *byteChecker) byte(v frontend.Variable, bits int) {
	c.queries = append(c.queries, v)
	if bits < 8 {
		c.queries = append(c.queries, c.api.Add(v, 256-(1<<bits)))
	}
}

// build runs after Define: with r the commitment to the queries and the
// multiplicities m (how often each byte is queried, from a hint),
// Σ_b m_b/(r − b) = Σ_q 1/(r − q) holds, except with negligible
// probability, only if every query is a byte.
func (c *byteChecker) build(api frontend.API) error {
	if len(c.queries) == 0 {
		return nil
	}
	counts, err := api.Compiler().NewHint(byteCountHint, 256, c.queries...)
	if err != nil {
		return err
	}
	committed := append(append([]frontend.Variable{}, c.queries...), counts...)
	multicommit.WithCommitment(api, func(api frontend.API, r frontend.Variable) error {
		var table, queries frontend.Variable = 0, 0
		for b, m := range counts {
			table = api.Add(table, api.DivUnchecked(m, api.Sub(r, b)))
		}
		for _, q := range c.queries {
			queries = api.Add(queries, api.Inverse(api.Sub(r, q)))
		}
		api.AssertIsEqual(table, queries)
		return nil
	}, committed...)
	return nil
}

// bytesHint splits inputs[0] into len(outputs) bytes, least significant
// first.
func bytesHint(_ *big.Int, inputs, outputs []*big.Int) error {
	v := new(big.Int).Set(inputs[0])
	for i := range outputs {
		outputs[i].SetUint64(v.Uint64() & 0xff)
		v.Rsh(v, 8)
	}
	if v.Sign() != 0 {
		return fmt.Errorf("zkml: range check: value wider than %d bits", 8*len(outputs))
	}
	return nil
}

// byteCountHint counts how often each byte value occurs among the inputs.
func byteCountHint(_ *big.Int, inputs, outputs []*big.Int) error {
	var n [256]uint64
	for _, v := range inputs {
		if !v.IsUint64() || v.Uint64() > 255 {
			return fmt.Errorf("zkml: range check failed: %v is not a byte", v)
		}
		n[v.Uint64()]++
	}
	for i := range outputs {
		outputs[i].SetUint64(n[i])
	}
	return nil
}
