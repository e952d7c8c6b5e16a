package zkml

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/kzg"
	"github.com/consensys/gnark/backend"
	"github.com/consensys/gnark/backend/plonk"
	plonkbn254 "github.com/consensys/gnark/backend/plonk/bn254"
	"github.com/consensys/gnark/backend/solidity"
	cs "github.com/consensys/gnark/constraint/bn254"
	"github.com/consensys/gnark/test/unsafekzg"

	"github.com/vai-dev/vai/runtime"
)

// PLONK over BN254 with KZG polynomial commitments (gnark's backend/plonk):
// the same circuit and public inputs as Groth16, compiled to PLONK gates
// (Options{Backend: BackendPlonk}). Its keys come from a universal SRS —
// [τⁱ]₁ for i up to the circuit's domain + 3, [1]₂ and [τ]₂ — that does not
// depend on the circuit: vai's own powers-of-τ ceremony (NewPowersOfTau,
// or the phase 1 of any Groth16 ceremony) or any KZG SRS in gnark-crypto's
// encoding (ParseSRS).

// ErrSRS is wrapped by errors for an SRS that cannot serve a circuit: too
// small, malformed, or not powers of one τ.
var ErrSRS = errors.New("unusable SRS")

// Domain is the size of the circuit's evaluation domain: for PLONK, its
// gates and public inputs rounded up to a power of two; for Groth16, its
// constraints rounded up.
func (c *Circuit) Domain() uint64 {
	if c.opts.Backend == BackendPlonk {
		return ecc.NextPowerOfTwo(uint64(c.ccs.GetNbConstraints() + c.ccs.GetNbPublicVariables()))
	}
	return ecc.NextPowerOfTwo(uint64(c.ccs.GetNbConstraints()))
}

// SRSSize is the number of powers [τⁱ]₁ a PLONK circuit's SRS must have:
// its domain, and 3 more for the blinded polynomials' openings.
func (c *Circuit) SRSSize() int { return int(c.Domain()) + 3 }

// PlonkSetup makes c's PLONK keys from a universal SRS in monomial form,
// checking first that it is large enough (an error wrapping ErrSRS says how
// many powers are needed) and that its points are powers of one τ, in G1
// and G2 alike. Converting the SRS to the Lagrange basis is most of the
// cost.
func PlonkSetup(c *Circuit, srs *kzg.SRS) (plonk.ProvingKey, plonk.VerifyingKey, error) {
	spr, err := c.sparse()
	if err != nil {
		return nil, nil, err
	}
	if err := checkSRS(srs, c.SRSSize()); err != nil {
		return nil, nil, fmt.Errorf("%w (circuit of %d gates and %d public inputs, domain %d)", err,
			c.ccs.GetNbConstraints(), c.ccs.GetNbPublicVariables(), c.Domain())
	}
	n := int(c.Domain())
	lagrange, err := kzg.ToLagrangeG1(srs.Pk.G1[:n])
	if err != nil {
		return nil, nil, err
	}
	canonical := kzg.SRS{Pk: kzg.ProvingKey{G1: srs.Pk.G1[:n+3]}, Vk: srs.Vk}
	pk, vk, err := plonkbn254.Setup(spr, canonical, kzg.SRS{Pk: kzg.ProvingKey{G1: lagrange}, Vk: srs.Vk})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to set up PLONK: %w", err)
	}
	return pk, vk, nil
}

// PlonkDevSetup makes c's PLONK keys from an SRS with a τ it draws itself
// (gnark's test/unsafekzg): whoever runs it could forge proofs. Tests and
// local devnets only.
func PlonkDevSetup(c *Circuit) (plonk.ProvingKey, plonk.VerifyingKey, error) {
	spr, err := c.sparse()
	if err != nil {
		return nil, nil, err
	}
	canonical, lagrange, err := unsafekzg.NewSRS(spr)
	if err != nil {
		return nil, nil, err
	}
	pk, vk, err := plonkbn254.Setup(spr, *canonical.(*kzg.SRS), *lagrange.(*kzg.SRS))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to set up PLONK: %w", err)
	}
	return pk, vk, nil
}

func (c *Circuit) sparse() (*cs.SparseR1CS, error) {
	spr, ok := c.ccs.(*cs.SparseR1CS)
	if !ok || c.opts.Backend != BackendPlonk {
		return nil, fmt.Errorf("%w: a %s circuit, a PLONK setup", ErrBackend, c.opts.Backend.Title())
	}
	return spr, nil
}

// checkSRS checks srs has at least n powers [τⁱ]₁, starting at the
// generators, consistent with [τ]₂: e(Σ rᵢ[τⁱ⁺¹]₁, [1]₂) = e(Σ rᵢ[τⁱ]₁, [τ]₂)
// for random rᵢ. It recomputes the pairing lines of the G2 points rather
// than trusting the encoded ones.
func checkSRS(srs *kzg.SRS, n int) error {
	if len(srs.Pk.G1) < n {
		return fmt.Errorf("%w: %d powers of τ in G1, the circuit needs %d: use an SRS of at least %d powers, or a powers-of-tau ceremony of size %d or more",
			ErrSRS, len(srs.Pk.G1), n, n, n-3)
	}
	_, _, g1, g2 := bn254.Generators()
	if !srs.Pk.G1[0].Equal(&g1) || !srs.Vk.G1.Equal(&g1) || !srs.Vk.G2[0].Equal(&g2) {
		return fmt.Errorf("%w: [τ⁰]₁, [1]₁ and [1]₂ must be the generators", ErrSRS)
	}
	if srs.Vk.G2[1].IsInfinity() || srs.Vk.G2[1].Equal(&g2) || !srs.Vk.G2[1].IsInSubGroup() {
		return fmt.Errorf("%w: [τ]₂ is 0, 1 or not in the subgroup", ErrSRS)
	}
	r := make([]fr.Element, n-1)
	for i := range r {
		if _, err := r[i].SetRandom(); err != nil {
			return err
		}
	}
	var hi, lo bn254.G1Affine
	if _, err := hi.MultiExp(srs.Pk.G1[1:n], r, ecc.MultiExpConfig{}); err != nil {
		return err
	}
	if _, err := lo.MultiExp(srs.Pk.G1[:n-1], r, ecc.MultiExpConfig{}); err != nil {
		return err
	}
	lo.Neg(&lo)
	ok, err := bn254.PairingCheck([]bn254.G1Affine{hi, lo}, []bn254.G2Affine{srs.Vk.G2[0], srs.Vk.G2[1]})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: its G1 points are not successive powers of the τ in [τ]₂", ErrSRS)
	}
	srs.Vk.Lines[0] = bn254.PrecomputeLines(srs.Vk.G2[0])
	srs.Vk.Lines[1] = bn254.PrecomputeLines(srs.Vk.G2[1])
	return nil
}

// ProvePlonk is Prove with a PLONK circuit and proving key.
func ProvePlonk(c *Circuit, pk plonk.ProvingKey, m *runtime.Model, salt Salt, input []int8, jobID []byte) (*Proof, error) {
	if _, err := c.sparse(); err != nil {
		return nil, err
	}
	pub, w, err := c.witness(m, salt, input, jobID)
	if err != nil {
		return nil, err
	}
	c.solving.Lock()
	prf, err := plonk.Prove(c.ccs, pk, w, solidity.WithProverTargetSolidityVerifier(backend.PLONK))
	c.solving.Unlock()
	if err != nil {
		return nil, fmt.Errorf("failed to prove: %w", err)
	}
	var buf bytes.Buffer
	if _, err := prf.WriteTo(&buf); err != nil {
		return nil, err
	}
	return &Proof{Circuit: c.ID(), Public: *pub, Plonk: buf.Bytes()}, nil
}

// VerifyPlonk checks a PLONK proof against vk; a Groth16 proof is refused
// with ErrBackend.
func VerifyPlonk(vk plonk.VerifyingKey, p *Proof) error {
	if p.Backend() != BackendPlonk {
		return fmt.Errorf("%w: %w: a %s proof, a PLONK verifying key", ErrVerify, ErrBackend, p.Backend().Title())
	}
	return VerifyPlonkRaw(vk, p.Plonk, p.Public.Vector())
}

// VerifyPlonkRaw checks a PLONK proof in gnark's compressed encoding
// against a vector of public inputs: deterministic and pure, as the ledger
// needs; malformed bytes are an error, never a panic.
func VerifyPlonkRaw(vk plonk.VerifyingKey, proof []byte, public []fr.Element) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrVerify, r)
		}
	}()
	bvk, ok := vk.(*plonkbn254.VerifyingKey)
	if !ok {
		return fmt.Errorf("%w: not a BN254 PLONK verifying key", ErrVerify)
	}
	if uint64(len(public)) != bvk.NbPublicVariables {
		return fmt.Errorf("%w: %d public inputs, the key takes %d", ErrVerify, len(public), bvk.NbPublicVariables)
	}
	if err := checkPlonkProofBytes(proof, len(bvk.Qcp)); err != nil {
		return fmt.Errorf("%w: malformed proof: %v", ErrVerify, err)
	}
	var prf plonkbn254.Proof
	n, err := prf.ReadFrom(bytes.NewReader(proof))
	if err != nil {
		return fmt.Errorf("%w: malformed proof: %v", ErrVerify, err)
	}
	if int(n) != len(proof) {
		return fmt.Errorf("%w: %d trailing bytes after the proof", ErrVerify, len(proof)-int(n))
	}
	if err := plonkbn254.Verify(&prf, bvk, fr.Vector(public), solidity.WithVerifierTargetSolidityVerifier(backend.PLONK)); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return nil
}

// plonkProofSize is the size of a compressed PLONK proof with nc BSB22
// commitments: L, R, O, Z, H₀₋₂, the batched opening (a point and 6 + nc
// claimed values, length-prefixed), the shifted opening of Z (a point and a
// value), and the commitments (length-prefixed).
func plonkProofSize(nc int) int {
	return 8*g1Bytes + 4 + (6+nc)*fr.Bytes + g1Bytes + fr.Bytes + 4 + nc*g1Bytes
}

// checkPlonkProofBytes accepts only the compressed encoding with nc
// commitments, before gnark's decoder allocates from its length prefixes.
func checkPlonkProofBytes(b []byte, nc int) error {
	if len(b) != plonkProofSize(nc) {
		return fmt.Errorf("%d bytes, want %d", len(b), plonkProofSize(nc))
	}
	if n := binary.BigEndian.Uint32(b[8*g1Bytes:]); int(n) != 6+nc {
		return fmt.Errorf("%d claimed values, the key needs %d", n, 6+nc)
	}
	off := 8*g1Bytes + 4 + (6+nc)*fr.Bytes + g1Bytes + fr.Bytes
	if n := binary.BigEndian.Uint32(b[off:]); int(n) != nc {
		return fmt.Errorf("%d commitments, the key has %d", n, nc)
	}
	return nil
}

// plonkLinesBytes is the size of the pairing lines of [1]₂ and [τ]₂ in a
// PLONK verifying key (gnark writes them raw: 2×2×66 lines of two E2).
const plonkLinesBytes = 2 * 2 * 66 * 2 * 2 * 4 * 8

// checkPlonkVKBytes walks a compressed PLONK verifying key's length
// prefixes: Size, 1/Size, ω, the number of public inputs, the coset shift,
// S₁₋₃, Qₗ, Qᵣ, Qₘ, Qₒ, Qₖ, the Qcp (length-prefixed), the KZG key (G1, two
// G2, the lines), then the commitment indexes (length-prefixed).
func checkPlonkVKBytes(b []byte) error {
	off := 8 + 2*fr.Bytes + 8 + fr.Bytes + 8*g1Bytes
	if len(b) < off+4 {
		return fmt.Errorf("truncated at byte %d", len(b))
	}
	nc := int(binary.BigEndian.Uint32(b[off:]))
	off += 4
	if nc > (len(b)-off)/g1Bytes {
		return fmt.Errorf("%d commitment keys in %d bytes", nc, len(b)-off)
	}
	off += nc*g1Bytes + g1Bytes + 2*g2Bytes + plonkLinesBytes
	if len(b) < off+4 {
		return fmt.Errorf("truncated at byte %d", len(b))
	}
	ni := int(binary.BigEndian.Uint32(b[off:]))
	off += 4
	if ni != nc || len(b)-off != 8*ni {
		return fmt.Errorf("%d commitment indexes in %d bytes for %d commitments", ni, len(b)-off, nc)
	}
	return nil
}

// maxPlonkDomain bounds a PLONK key's domain (what a ceremony may have).
const maxPlonkDomain = 1 << 28

// ParsePlonkVK decodes a PLONK verifying key in gnark's compressed encoding,
// the only one it accepts: points on the curve and in their subgroups, no
// trailing bytes, a power-of-two domain with its generator and inverse
// size, and pairing lines that are those of its G2 points (the Solidity
// verifier uses the points, the Go one the lines: they must agree).
func ParsePlonkVK(b []byte) (vk plonk.VerifyingKey, err error) {
	if len(b) > MaxVKBytes {
		return nil, fmt.Errorf("verifying key of %d bytes, at most %d", len(b), MaxVKBytes)
	}
	if err := checkPlonkVKBytes(b); err != nil {
		return nil, fmt.Errorf("malformed PLONK verifying key: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed PLONK verifying key: %v", r)
		}
	}()
	var k plonkbn254.VerifyingKey
	n, err := k.ReadFrom(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("malformed PLONK verifying key: %w", err)
	}
	if int(n) != len(b) {
		return nil, fmt.Errorf("malformed PLONK verifying key: %d trailing bytes", len(b)-int(n))
	}
	var back bytes.Buffer
	if _, err := k.WriteTo(&back); err != nil || !bytes.Equal(back.Bytes(), b) {
		return nil, fmt.Errorf("malformed PLONK verifying key: not the canonical (compressed) encoding")
	}
	if err := checkPlonkVK(&k); err != nil {
		return nil, fmt.Errorf("malformed PLONK verifying key: %w", err)
	}
	return &k, nil
}

func checkPlonkVK(k *plonkbn254.VerifyingKey) error {
	if k.Size < 2 || k.Size > maxPlonkDomain || k.Size&(k.Size-1) != 0 {
		return fmt.Errorf("domain %d is not a power of two from 2 to 2^28", k.Size)
	}
	var size, one fr.Element
	size.SetUint64(k.Size)
	if !one.Mul(&size, &k.SizeInv).IsOne() {
		return errors.New("1/Size is not the inverse of Size")
	}
	gen, err := fr.Generator(k.Size)
	if err != nil || !gen.Equal(&k.Generator) {
		return errors.New("ω is not the generator of the domain")
	}
	if k.NbPublicVariables > k.Size || len(k.CommitmentConstraintIndexes) != len(k.Qcp) {
		return errors.New("more public inputs than the domain holds, or commitment indexes that do not match the commitments")
	}
	if k.Kzg.Lines[0] != bn254.PrecomputeLines(k.Kzg.G2[0]) || k.Kzg.Lines[1] != bn254.PrecomputeLines(k.Kzg.G2[1]) {
		return errors.New("pairing lines are not those of the key's G2 points")
	}
	return nil
}

// ReadPlonkPK reads a PLONK proving key.
func ReadPlonkPK(r io.Reader) (plonk.ProvingKey, error) {
	pk := plonk.NewProvingKey(ecc.BN254)
	if _, err := pk.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("malformed PLONK proving key: %w", err)
	}
	return pk, nil
}

// ExportPlonkSolidity writes gnark's Solidity PLONK verifier of vk: a
// contract PlonkVerifier whose Verify(bytes proof, uint256[] inputs) takes
// Proof.PlonkSolidity's bytes and the public inputs.
func ExportPlonkSolidity(vk plonk.VerifyingKey, w io.Writer) error {
	return vk.ExportSolidity(w)
}

// PlonkSolidity returns a PLONK proof as the exported contract's Verify
// takes it, and the public inputs.
func (p *Proof) PlonkSolidity() ([]byte, []*big.Int, error) {
	if p.Backend() != BackendPlonk {
		return nil, nil, fmt.Errorf("%w: a %s proof", ErrBackend, p.Backend().Title())
	}
	var prf plonkbn254.Proof
	if len(p.Plonk) < plonkProofSize(0) {
		return nil, nil, fmt.Errorf("malformed proof: %d bytes", len(p.Plonk))
	}
	nc := (len(p.Plonk) - plonkProofSize(0)) / 64
	if err := checkPlonkProofBytes(p.Plonk, nc); err != nil {
		return nil, nil, err
	}
	if _, err := prf.ReadFrom(bytes.NewReader(p.Plonk)); err != nil {
		return nil, nil, err
	}
	var in []*big.Int
	for _, e := range p.Public.Vector() {
		in = append(in, e.BigInt(new(big.Int)))
	}
	return prf.MarshalSolidity(), in, nil
}

// NewDevSRS returns a KZG SRS of n powers for a τ drawn from crypto/rand
// and forgotten: for tests that need an SRS file (whoever keeps τ could
// forge proofs).
func NewDevSRS(n int) (*kzg.SRS, error) {
	tau, err := rand.Int(rand.Reader, fr.Modulus())
	if err != nil {
		return nil, err
	}
	return kzg.NewSRS(uint64(n), tau)
}
