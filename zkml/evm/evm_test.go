package evm_test

import (
	"math/big"
	"testing"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
	"github.com/vai-dev/vai/zkml/evm/evmtest"
)

func TestSolidityVerifier(t *testing.T) {
	evmtest.Solcjs(t)
	m := &runtime.Model{
		Input: runtime.Shape{4}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{&runtime.Dense{In: 4, Out: 3, Weights: []int8{1, -2, 3, -4, 50, 60, -70, 80, 9, 9, -9, 9}, Bias: []int32{7, -7, 0},
			Requant: runtime.Requant{Mult: []int32{3 << 28}, Shift: []uint8{33}}}},
	}
	c, err := zkml.Compile(m, zkml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pk, vk, err := zkml.DevSetup(c)
	if err != nil {
		t.Fatal(err)
	}
	salt, _ := zkml.NewSalt()
	p, err := zkml.Prove(c, pk, m, salt, []int8{100, -20, 3, -128}, []byte("eth-job"))
	if err != nil {
		t.Fatal(err)
	}

	call := evmtest.Verifier(t, vk)
	good, err := p.Solidity()
	if err != nil {
		t.Fatal(err)
	}
	gas, err := call(good)
	if err != nil {
		t.Fatalf("the contract rejects vai's proof: %v", err)
	}
	t.Logf("verifyProof: %d gas", gas)

	one := big.NewInt(1)
	tamper := []struct {
		name string
		edit func(s *zkml.SolidityProof)
	}{
		{"output", func(s *zkml.SolidityProof) { s.Input[len(s.Input)-1] = new(big.Int).Add(s.Input[len(s.Input)-1], one) }},
		{"job", func(s *zkml.SolidityProof) { s.Input[1] = new(big.Int).Add(s.Input[1], one) }},
		{"commitment", func(s *zkml.SolidityProof) { s.Input[0] = new(big.Int).Add(s.Input[0], one) }},
		{"input digest", func(s *zkml.SolidityProof) { s.Input[2] = new(big.Int).Add(s.Input[2], one) }},
		{"proof point", func(s *zkml.SolidityProof) { s.Proof[0] = new(big.Int).Add(s.Proof[0], one) }},
		{"swapped points", func(s *zkml.SolidityProof) { s.Proof[0], s.Proof[6] = s.Proof[6], s.Proof[0] }},
		{"commitment point", func(s *zkml.SolidityProof) { s.Commitments[1] = new(big.Int).Add(s.Commitments[1], one) }},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			s := *good
			s.Input = append([]*big.Int{}, good.Input...)
			tc.edit(&s)
			if _, err := call(&s); err == nil {
				t.Fatal("the contract accepts a tampered proof")
			}
		})
	}
}

// TestPlonkSolidityVerifier: gnark's PLONK verifier contract of a vai key
// accepts vai's PLONK proof and rejects it tampered.
func TestPlonkSolidityVerifier(t *testing.T) {
	evmtest.Solcjs(t)
	m := &runtime.Model{
		Input: runtime.Shape{4}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{&runtime.Dense{In: 4, Out: 3, Weights: []int8{1, -2, 3, -4, 50, 60, -70, 80, 9, 9, -9, 9}, Bias: []int32{7, -7, 0},
			Requant: runtime.Requant{Mult: []int32{3 << 28}, Shift: []uint8{33}}}},
	}
	c, err := zkml.Compile(m, zkml.Options{Backend: zkml.BackendPlonk})
	if err != nil {
		t.Fatal(err)
	}
	pk, vk, err := zkml.PlonkDevSetup(c)
	if err != nil {
		t.Fatal(err)
	}
	salt, _ := zkml.NewSalt()
	p, err := zkml.ProvePlonk(c, pk, m, salt, []int8{100, -20, 3, -128}, []byte("eth-job"))
	if err != nil {
		t.Fatal(err)
	}
	call := evmtest.PlonkVerifier(t, vk)
	proof, input, err := p.PlonkSolidity()
	if err != nil {
		t.Fatal(err)
	}
	gas, err := call(proof, input)
	if err != nil {
		t.Fatalf("the contract rejects vai's PLONK proof: %v", err)
	}
	t.Logf("Verify: %d gas, %d-byte proof, %d public inputs", gas, len(proof), len(input))

	one := big.NewInt(1)
	bump := func(i int) func([]byte, []*big.Int) ([]byte, []*big.Int) {
		return func(pr []byte, in []*big.Int) ([]byte, []*big.Int) {
			in[i] = new(big.Int).Add(in[i], one)
			return pr, in
		}
	}
	flip := func(i int) func([]byte, []*big.Int) ([]byte, []*big.Int) {
		return func(pr []byte, in []*big.Int) ([]byte, []*big.Int) {
			pr[i] ^= 1
			return pr, in
		}
	}
	tamper := []struct {
		name string
		edit func([]byte, []*big.Int) ([]byte, []*big.Int)
	}{
		{"output", bump(len(input) - 1)},
		{"job", bump(1)},
		{"commitment", bump(0)},
		{"input digest", bump(2)},
		{"first point", flip(31)},
		{"quotient point", flip(5*64 + 31)},
		{"claimed value", flip(len(proof) - 3*32 - 1)},
		{"last byte", flip(len(proof) - 1)},
		{"truncated", func(pr []byte, in []*big.Int) ([]byte, []*big.Int) { return pr[:len(pr)-32], in }},
		{"missing input", func(pr []byte, in []*big.Int) ([]byte, []*big.Int) { return pr, in[:len(in)-1] }},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			pr, in := tc.edit(append([]byte{}, proof...), append([]*big.Int{}, input...))
			if _, err := call(pr, in); err == nil {
				t.Fatal("the contract accepts a tampered proof")
			}
		})
	}
}
