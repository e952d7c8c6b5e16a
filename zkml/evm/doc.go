// Package evm checks vai's exported Groth16 verifier on Ethereum: its test
// compiles the contract with solc-js (scripts/install-solc.sh) and runs it on
// go-ethereum's simulated chain against vai's proofs and tampered ones.
// go-ethereum is imported only by that test, so nothing else builds it.
package evm
