package zkml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/backend/solidity"
	"golang.org/x/crypto/sha3"
)

// proofJSON is the proof file format (version 1).
type proofJSON struct {
	Version     int    `json:"version"`
	Scheme      string `json:"scheme"`
	Circuit     Digest `json:"circuit"`
	Commitment  string `json:"commitment"`
	JobID       string `json:"job_id"`
	InputDigest string `json:"input_digest,omitempty"`
	Input       []int8 `json:"input,omitempty"`
	Output      []int8 `json:"output"`
	Proof       []byte `json:"proof"`
}

// Scheme names the proof system of Groth16 proofs in proof files;
// SchemePlonk that of PLONK proofs.
const (
	Scheme      = "groth16-bn254"
	SchemePlonk = "plonk-bn254"
)

// MarshalJSON encodes the proof file: the statement (field elements as
// 0x-hex, int8 values as numbers), the proof system (scheme) and the proof
// in base64.
func (p *Proof) MarshalJSON() ([]byte, error) {
	scheme := Scheme
	if p.Backend() == BackendPlonk {
		scheme = SchemePlonk
	}
	j := proofJSON{Version: 1, Scheme: scheme, Circuit: p.Circuit, Commitment: FieldHex(p.Public.Commitment),
		JobID: FieldHex(p.Public.JobID), Input: p.Public.Input, Output: p.Public.Output, Proof: p.Bytes()}
	if p.Public.Input == nil {
		j.InputDigest = FieldHex(p.Public.InputDigest)
	}
	if j.Output == nil {
		j.Output = []int8{}
	}
	return json.Marshal(j)
}

// MaxProofFile bounds a proof file (a statement with a public input of up to
// a million values).
const MaxProofFile = 8 << 20

// UnmarshalJSON decodes a proof file strictly: unknown fields, a wrong
// version or scheme, and non-canonical field elements are errors.
func (p *Proof) UnmarshalJSON(b []byte) error {
	if len(b) > MaxProofFile {
		return fmt.Errorf("proof file of %d bytes, at most %d", len(b), MaxProofFile)
	}
	var j proofJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("malformed proof file: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("malformed proof file: trailing data")
	}
	if j.Version != 1 || (j.Scheme != Scheme && j.Scheme != SchemePlonk) {
		return fmt.Errorf("proof file version %d, scheme %q: want 1, %q or %q", j.Version, j.Scheme, Scheme, SchemePlonk)
	}
	var q Proof
	var err error
	if q.Public.Commitment, err = ParseFieldHex(j.Commitment); err != nil {
		return fmt.Errorf("commitment: %w", err)
	}
	if q.Public.JobID, err = ParseFieldHex(j.JobID); err != nil {
		return fmt.Errorf("job_id: %w", err)
	}
	switch {
	case j.Input == nil && j.InputDigest != "":
		if q.Public.InputDigest, err = ParseFieldHex(j.InputDigest); err != nil {
			return fmt.Errorf("input_digest: %w", err)
		}
	case j.Input != nil && j.InputDigest == "":
		q.Public.Input = j.Input
	default:
		return fmt.Errorf("proof file: want exactly one of input and input_digest")
	}
	if len(j.Output) == 0 || len(j.Proof) == 0 {
		return fmt.Errorf("proof file: empty output or proof")
	}
	q.Circuit, q.Public.Output = j.Circuit, j.Output
	if j.Scheme == SchemePlonk {
		q.SetBytes(BackendPlonk, j.Proof)
	} else {
		q.SetBytes(BackendGroth16, j.Proof)
	}
	*p = q
	return nil
}

// VKDigest is the identity of a verifying key: the SHA-256 of its
// compressed encoding (WriteVK).
func VKDigest(vk groth16.VerifyingKey) (Digest, error) {
	var buf bytes.Buffer
	if _, err := vk.WriteTo(&buf); err != nil {
		return Digest{}, err
	}
	return sha(buf.Bytes()), nil
}

// MaxVKBytes bounds an encoded verifying key: a public input costs 32 bytes.
const MaxVKBytes = 64 << 10

// ParseVK decodes a verifying key in gnark's compressed encoding, checking
// the points are on the curve and in the right subgroup, with no trailing
// bytes.
func ParseVK(b []byte) (vk groth16.VerifyingKey, err error) {
	if len(b) > MaxVKBytes {
		return nil, fmt.Errorf("verifying key of %d bytes, at most %d", len(b), MaxVKBytes)
	}
	if err := checkVKBytes(b); err != nil {
		return nil, fmt.Errorf("malformed verifying key: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed verifying key: %v", r)
		}
	}()
	vk = groth16.NewVerifyingKey(ecc.BN254)
	n, err := vk.ReadFrom(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("malformed verifying key: %w", err)
	}
	if int(n) != len(b) {
		return nil, fmt.Errorf("malformed verifying key: %d trailing bytes", len(b)-int(n))
	}
	return vk, nil
}

// ReadPK reads a proving key.
func ReadPK(r io.Reader) (groth16.ProvingKey, error) {
	pk := groth16.NewProvingKey(ecc.BN254)
	if _, err := pk.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("malformed proving key: %w", err)
	}
	return pk, nil
}

// ExportSolidity writes a Solidity contract that verifies this package's
// Groth16 proofs (which hash their commitment with Keccak-256, as the contract does).
func ExportSolidity(vk groth16.VerifyingKey, w io.Writer) error {
	return vk.ExportSolidity(w, solidity.WithHashToFieldFunction(keccak()))
}

func keccak() hash.Hash { return sha3.NewLegacyKeccak256() }

// SolidityProof is a proof as the exported contract's verifyProof takes it:
// verifyProof(proof, commitments, commitmentPok, input).
type SolidityProof struct {
	Proof         [8]*big.Int
	Commitments   [2]*big.Int
	CommitmentPok [2]*big.Int
	Input         []*big.Int
}

// Solidity returns the proof's points uncompressed and its public inputs,
// for a call to the exported verifier.
func (p *Proof) Solidity() (*SolidityProof, error) {
	if p.Backend() != BackendGroth16 {
		return nil, fmt.Errorf("%w: a %s proof: use PlonkSolidity", ErrBackend, p.Backend().Title())
	}
	var prf groth16bn254.Proof
	if err := checkProofBytes(p.Groth16, 1); err != nil {
		return nil, err
	}
	if _, err := prf.ReadFrom(bytes.NewReader(p.Groth16)); err != nil {
		return nil, err
	}
	raw := prf.MarshalSolidity() // A, B, C, then a 4-byte count, commitments, proof of knowledge
	word := func(i int) *big.Int { return new(big.Int).SetBytes(raw[i*32 : i*32+32]) }
	s := &SolidityProof{}
	for i := range 8 {
		s.Proof[i] = word(i)
	}
	raw = raw[8*32+4:]
	for i := range 2 {
		s.Commitments[i], s.CommitmentPok[i] = word(i), word(i+2)
	}
	for _, e := range p.Public.Vector() {
		s.Input = append(s.Input, e.BigInt(new(big.Int)))
	}
	return s, nil
}
