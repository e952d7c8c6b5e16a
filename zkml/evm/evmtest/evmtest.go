// Package evmtest deploys vai's exported Solidity verifier of a verifying
// key (Groth16 or PLONK) on go-ethereum's simulated chain, for tests: the contract is compiled
// with solc-js (scripts/install-solc.sh), and a test without it is skipped.
package evmtest

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/backend/plonk"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/vai-dev/vai/zkml"
)

// Solcjs finds the compiler installed by scripts/install-solc.sh, or skips
// the test.
func Solcjs(t testing.TB) string {
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

// Verifier exports vk's Solidity verifier, compiles and deploys it, and
// returns a function that calls verifyProof and returns the gas it takes
// (an error if the contract rejects the proof).
func Verifier(t testing.TB, vk groth16.VerifyingKey) func(*zkml.SolidityProof) (uint64, error) {
	t.Helper()
	var src bytes.Buffer
	if err := zkml.ExportSolidity(vk, &src); err != nil {
		t.Fatal(err)
	}
	parsed, call := deploy(t, src.Bytes(), "Verifier")
	return func(s *zkml.SolidityProof) (uint64, error) {
		in := reflect.New(reflect.ArrayOf(len(s.Input), reflect.TypeOf((*big.Int)(nil)))).Elem()
		for i, v := range s.Input {
			in.Index(i).Set(reflect.ValueOf(v))
		}
		data, err := parsed.Pack("verifyProof", s.Proof, s.Commitments, s.CommitmentPok, in.Interface())
		if err != nil {
			return 0, err
		}
		_, gas, err := call(data)
		return gas, err
	}
}

// PlonkVerifier is Verifier for a PLONK key: gnark's PlonkVerifier
// contract, whose Verify(proof, inputs) returns a bool; the function
// returns an error if it reverts or returns false.
func PlonkVerifier(t testing.TB, vk plonk.VerifyingKey) func(proof []byte, input []*big.Int) (uint64, error) {
	t.Helper()
	var src bytes.Buffer
	if err := zkml.ExportPlonkSolidity(vk, &src); err != nil {
		t.Fatal(err)
	}
	parsed, call := deploy(t, src.Bytes(), "PlonkVerifier")
	return func(proof []byte, input []*big.Int) (uint64, error) {
		data, err := parsed.Pack("Verify", proof, input)
		if err != nil {
			return 0, err
		}
		out, gas, err := call(data)
		if err != nil {
			return 0, err
		}
		res, err := parsed.Unpack("Verify", out)
		if err != nil {
			return 0, err
		}
		if ok, _ := res[0].(bool); !ok {
			return 0, errors.New("Verify returned false")
		}
		return gas, nil
	}
}

// deploy compiles src with solc-js, deploys contract on a fresh simulated
// chain, and returns its ABI and a function that calls it with data,
// returning its output and the gas the call takes.
func deploy(t testing.TB, src []byte, contract string) (abi.ABI, func(data []byte) ([]byte, uint64, error)) {
	t.Helper()
	solc := Solcjs(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Verifier.sol"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(solc, "--bin", "--abi", "--optimize", "-o", "out", "Verifier.sol")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("solcjs: %v\n%s", err, out)
	}
	binHex, err := os.ReadFile(filepath.Join(dir, "out", "Verifier_sol_"+contract+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	abiJSON, err := os.ReadFile(filepath.Join(dir, "out", "Verifier_sol_"+contract+".abi"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(bytes.NewReader(abiJSON))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	auth, err := bind.NewKeyedTransactorWithChainID(key, big.NewInt(1337))
	if err != nil {
		t.Fatal(err)
	}
	sim := simulated.NewBackend(types.GenesisAlloc{auth.From: {Balance: new(big.Int).Lsh(big.NewInt(1), 80)}}, simulated.WithBlockGasLimit(30_000_000))
	t.Cleanup(func() { sim.Close() })
	addr, _, _, err := bind.DeployContract(auth, parsed, common.FromHex(strings.TrimSpace(string(binHex))), sim.Client())
	if err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	return parsed, func(data []byte) ([]byte, uint64, error) {
		msg := ethereum.CallMsg{From: auth.From, To: &addr, Data: data}
		out, err := sim.Client().CallContract(context.Background(), msg, nil)
		if err != nil {
			return nil, 0, err
		}
		gas, err := sim.Client().EstimateGas(context.Background(), msg)
		return out, gas, err
	}
}
