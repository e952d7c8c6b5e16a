// Package zkml proves that an inference came from a committed model.
//
// Compile turns a .vaim model (runtime package: int8 MLPs and small CNNs)
// into a gnark circuit that computes exactly the runtime's integer
// arithmetic — matrix products, requantisation, saturating ReLU, lookup
// activations, pooling — and checks it bit for bit. The weights are a
// private witness bound by a salted Poseidon2 commitment; the public inputs
// are that commitment, the job identifier (so a proof cannot be replayed for
// another job), the input's digest (or the input itself, by option) and the
// output.
//
// Two proof systems, both on BN254:
//   - Groth16 (the default): keys from an MPC ceremony (Ceremony: a
//     universal phase 1 of powers of tau and a per-circuit phase 2, each
//     contribution recorded in a transcript that VerifyCeremony replays),
//     or, for development only, gnark's single-party setup marked Dev.
//   - PLONK: keys derived from a universal KZG SRS — the powers of tau of
//     a sealed phase 1 of vai's own ceremony, or an SRS file — so one
//     ceremony serves every circuit up to its size.
//
// Proofs verify in Go (the ledger's zk module does so during block
// execution) and in the Solidity verifier that ExportSolidity writes.
// docs/design/zkml.md records the circuit's design and its costs.
package zkml
