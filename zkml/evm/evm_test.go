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
