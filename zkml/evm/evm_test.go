package evm_test

import (
	"bytes"
	"context"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// solcjs finds the compiler installed by scripts/install-solc.sh.
func solcjs(t *testing.T) string {
	if p := os.Getenv("VAI_SOLCJS"); p != "" {
		return p
	}
	dir := os.Getenv("VAI_SOLC_DIR")
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "vai", "solc")
	}
	p := filepath.Join(dir, "node_modules", ".bin", "solcjs")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("solc-js not installed (%s): run scripts/install-solc.sh", p)
	}
	return p
}

func TestSolidityVerifier(t *testing.T) {
	solc := solcjs(t)
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

	// Export and compile the verifier.
	dir := t.TempDir()
	var src bytes.Buffer
	if err := zkml.ExportSolidity(vk, &src); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Verifier.sol"), src.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(solc, "--bin", "--abi", "--optimize", "-o", "out", "Verifier.sol")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("solcjs: %v\n%s", err, out)
	}
	binHex, err := os.ReadFile(filepath.Join(dir, "out", "Verifier_sol_Verifier.bin"))
	if err != nil {
		t.Fatal(err)
	}
	abiJSON, err := os.ReadFile(filepath.Join(dir, "out", "Verifier_sol_Verifier.abi"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(bytes.NewReader(abiJSON))
	if err != nil {
		t.Fatal(err)
	}

	// Deploy on a simulated chain.
	key, _ := crypto.GenerateKey()
	auth, err := bind.NewKeyedTransactorWithChainID(key, big.NewInt(1337))
	if err != nil {
		t.Fatal(err)
	}
	sim := simulated.NewBackend(types.GenesisAlloc{auth.From: {Balance: new(big.Int).Lsh(big.NewInt(1), 80)}}, simulated.WithBlockGasLimit(30_000_000))
	defer sim.Close()
	addr, _, _, err := bind.DeployContract(auth, parsed, common.FromHex(strings.TrimSpace(string(binHex))), sim.Client())
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()

	call := func(s *zkml.SolidityProof) (uint64, error) {
		in := reflect.New(reflect.ArrayOf(len(s.Input), reflect.TypeOf((*big.Int)(nil)))).Elem()
		for i, v := range s.Input {
			in.Index(i).Set(reflect.ValueOf(v))
		}
		data, err := parsed.Pack("verifyProof", s.Proof, s.Commitments, s.CommitmentPok, in.Interface())
		if err != nil {
			t.Fatal(err)
		}
		msg := ethereum.CallMsg{From: auth.From, To: &addr, Data: data}
		if _, err := sim.Client().CallContract(context.Background(), msg, nil); err != nil {
			return 0, err
		}
		return sim.Client().EstimateGas(context.Background(), msg)
	}
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
