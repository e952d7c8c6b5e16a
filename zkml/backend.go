package zkml

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/backend/plonk"
	plonkbn254 "github.com/consensys/gnark/backend/plonk/bn254"

	"github.com/vai-dev/vai/runtime"
)

// Backend names a proof system over BN254. Groth16 has the smallest proofs
// and cheapest verification but needs a setup per circuit (Ceremony);
// PLONK's keys come from a universal SRS that serves every circuit up to
// its size (plonk.go).
type Backend string

// The proof systems.
const (
	BackendGroth16 Backend = "groth16"
	BackendPlonk   Backend = "plonk"
)

// ParseBackend parses a backend's name; "" is Groth16.
func ParseBackend(s string) (Backend, error) {
	switch Backend(s) {
	case "", BackendGroth16:
		return BackendGroth16, nil
	case BackendPlonk:
		return BackendPlonk, nil
	}
	return "", fmt.Errorf("%w: backend %q (want groth16 or plonk)", ErrUnsupported, s)
}

// Title is the backend's name in prose: "Groth16" or "PLONK".
func (b Backend) Title() string {
	if b == BackendPlonk {
		return "PLONK"
	}
	return "Groth16"
}

// ErrBackend is wrapped by errors that mix proof systems: a PLONK proof
// given a Groth16 key, a Groth16 key asked of a PLONK setup, and so on.
var ErrBackend = errors.New("wrong proof system")

// Backend returns the proof system of p.
func (p *Proof) Backend() Backend {
	if p.Plonk != nil {
		return BackendPlonk
	}
	return BackendGroth16
}

// Bytes returns the proof in its backend's encoding.
func (p *Proof) Bytes() []byte {
	if p.Plonk != nil {
		return p.Plonk
	}
	return p.Groth16
}

// SetBytes sets the proof bytes of backend b (clearing the other's).
func (p *Proof) SetBytes(b Backend, proof []byte) {
	p.Groth16, p.Plonk = nil, nil
	if b == BackendPlonk {
		p.Plonk = proof
	} else {
		p.Groth16 = proof
	}
}

// KeyDigest is the identity of an encoded verifying key. A Groth16 key's is
// the SHA-256 of its compressed encoding (VKDigest); a PLONK key's is the
// SHA-256 of the tag "vai/zkml/vk/plonk" and a zero byte before it, so that
// a digest names its proof system as well as its key.
func KeyDigest(b Backend, vk []byte) Digest {
	if b == BackendPlonk {
		h := sha256.New()
		h.Write([]byte(plonkKeyTag))
		h.Write(vk)
		var d Digest
		h.Sum(d[:0])
		return d
	}
	return sha(vk)
}

const plonkKeyTag = "vai/zkml/vk/plonk\x00"

// A Verifier is a decoded verifying key of either proof system.
type Verifier interface {
	Backend() Backend
	// Digest is KeyDigest of the key's encoding.
	Digest() Digest
	// Bytes is the key's canonical (compressed) encoding.
	Bytes() []byte
	// VerifyRaw checks proof bytes in the backend's encoding against the
	// public inputs (Public.Vector). It is deterministic and pure, and
	// malformed bytes are an error wrapping ErrVerify, never a panic.
	VerifyRaw(proof []byte, public []fr.Element) error
	// ExportSolidity writes a Solidity contract that verifies the key's
	// proofs.
	ExportSolidity(w io.Writer) error
}

// ParseVerifier decodes a verifying key of backend b in its canonical
// encoding (ParseVK, ParsePlonkVK).
func ParseVerifier(b Backend, vk []byte) (Verifier, error) {
	switch b {
	case BackendGroth16, "":
		k, err := ParseVK(vk)
		if err != nil {
			return nil, err
		}
		return NewVerifier(k)
	case BackendPlonk:
		k, err := ParsePlonkVK(vk)
		if err != nil {
			return nil, err
		}
		return NewVerifier(k)
	}
	return nil, fmt.Errorf("%w: backend %q", ErrUnsupported, b)
}

// NewVerifier wraps a gnark BN254 Groth16 or PLONK verifying key.
func NewVerifier(vk any) (Verifier, error) {
	var buf bytes.Buffer
	switch k := vk.(type) {
	case *groth16bn254.VerifyingKey:
		if _, err := k.WriteTo(&buf); err != nil {
			return nil, err
		}
		return &groth16Verifier{vk: k, enc: buf.Bytes()}, nil
	case *plonkbn254.VerifyingKey:
		if _, err := k.WriteTo(&buf); err != nil {
			return nil, err
		}
		return &plonkVerifier{vk: k, enc: buf.Bytes()}, nil
	}
	return nil, fmt.Errorf("%w: a %T is not a verifying key", ErrBackend, vk)
}

type groth16Verifier struct {
	vk  groth16.VerifyingKey
	enc []byte
}

func (v *groth16Verifier) Backend() Backend { return BackendGroth16 }
func (v *groth16Verifier) Digest() Digest   { return KeyDigest(BackendGroth16, v.enc) }
func (v *groth16Verifier) Bytes() []byte    { return v.enc }
func (v *groth16Verifier) VerifyRaw(proof []byte, public []fr.Element) error {
	return VerifyRaw(v.vk, proof, public)
}
func (v *groth16Verifier) ExportSolidity(w io.Writer) error { return ExportSolidity(v.vk, w) }

type plonkVerifier struct {
	vk  plonk.VerifyingKey
	enc []byte
}

func (v *plonkVerifier) Backend() Backend { return BackendPlonk }
func (v *plonkVerifier) Digest() Digest   { return KeyDigest(BackendPlonk, v.enc) }
func (v *plonkVerifier) Bytes() []byte    { return v.enc }
func (v *plonkVerifier) VerifyRaw(proof []byte, public []fr.Element) error {
	return VerifyPlonkRaw(v.vk, proof, public)
}
func (v *plonkVerifier) ExportSolidity(w io.Writer) error { return ExportPlonkSolidity(v.vk, w) }

// VerifyProof checks p against v, refusing a proof of the other proof
// system with an error wrapping ErrVerify and ErrBackend.
func VerifyProof(v Verifier, p *Proof) error {
	if p.Backend() != v.Backend() {
		return fmt.Errorf("%w: %w: a %s proof, a %s verifying key", ErrVerify, ErrBackend, p.Backend().Title(), v.Backend().Title())
	}
	return v.VerifyRaw(p.Bytes(), p.Public.Vector())
}

// A Prover proves with a circuit and its proving key, of either proof
// system.
type Prover struct {
	c       *Circuit
	groth16 groth16.ProvingKey
	plonk   plonk.ProvingKey
}

// NewProver pairs circuit c with a proving key of its backend.
func NewProver(c *Circuit, pk any) (*Prover, error) {
	switch k := pk.(type) {
	case *groth16bn254.ProvingKey:
		if c.opts.Backend == BackendGroth16 {
			return &Prover{c: c, groth16: k}, nil
		}
	case *plonkbn254.ProvingKey:
		if c.opts.Backend == BackendPlonk {
			return &Prover{c: c, plonk: k}, nil
		}
	}
	return nil, fmt.Errorf("%w: a %s circuit and a %T", ErrBackend, c.opts.Backend.Title(), pk)
}

// Circuit returns the prover's circuit.
func (p *Prover) Circuit() *Circuit { return p.c }

// Backend returns the prover's proof system.
func (p *Prover) Backend() Backend { return p.c.opts.Backend }

// Prove is Prove or ProvePlonk, by the prover's backend.
func (p *Prover) Prove(m *runtime.Model, salt Salt, input []int8, jobID []byte) (*Proof, error) {
	if p.plonk != nil {
		return ProvePlonk(p.c, p.plonk, m, salt, input, jobID)
	}
	return Prove(p.c, p.groth16, m, salt, input, jobID)
}
