// Package evm checks vai's exported Groth16 and PLONK verifiers on
// Ethereum: its tests compile the contracts with solc-js
// (scripts/install-solc.sh) and run them on go-ethereum's simulated chain
// against vai's proofs and tampered ones. go-ethereum is imported only by
// those tests, so nothing else builds it.
package evm
