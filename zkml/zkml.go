package zkml

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/backend/solidity"
	"github.com/consensys/gnark/backend/witness"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/frontend/cs/scs"
	"github.com/consensys/gnark/logger"

	"github.com/vai-dev/vai/runtime"
)

func init() {
	// gnark logs compilation and proving to stdout by default; a library
	// must not.
	logger.Disable()
}

// Options choose the circuit's public inputs and proof system.
type Options struct {
	// PublicInput makes the int8 input public (one public input per value)
	// instead of private with its digest public.
	PublicInput bool
	// Backend is the proof system; the zero value is Groth16.
	Backend Backend
}

// Circuit is a compiled architecture: the R1CS that Groth16 proves, or the
// sparse system PLONK proves (Options.Backend).
type Circuit struct {
	arch *Arch
	opts Options
	ccs  constraint.ConstraintSystem
	// solving serialises the solver: gnark's lookup blueprints cache
	// state in the constraint system (Reset at the start of each solve),
	// so two concurrent solves of one system can read a truncated table
	// and panic (seen in TestDigitsBitExact).
	solving *sync.Mutex
}

// Compile compiles m's architecture into a circuit. The parameters of m are
// not part of it: any model with the same architecture proves with the same
// circuit and keys. It fails with ErrUnsupported for what it cannot prove.
func Compile(m *runtime.Model, opts Options) (*Circuit, error) {
	a, err := ArchOf(m)
	if err != nil {
		return nil, err
	}
	return CompileArch(a, opts)
}

// CompileArch compiles an architecture.
func CompileArch(a *Arch, opts Options) (*Circuit, error) {
	if opts.Backend == "" {
		opts.Backend = BackendGroth16
	}
	var builder frontend.NewBuilder = r1cs.NewBuilder
	switch opts.Backend {
	case BackendGroth16:
	case BackendPlonk:
		builder = scs.NewBuilder
	default:
		return nil, fmt.Errorf("%w: backend %q", ErrUnsupported, opts.Backend)
	}
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), builder, newCircuit(a, opts.PublicInput))
	if err != nil {
		return nil, fmt.Errorf("failed to compile circuit: %w", err)
	}
	return &Circuit{arch: a, opts: opts, ccs: ccs, solving: new(sync.Mutex)}, nil
}

// Arch returns the circuit's architecture.
func (c *Circuit) Arch() *Arch { return c.arch }

// Options returns the options the circuit was compiled with.
func (c *Circuit) Options() Options { return c.opts }

// Constraints returns the number of constraints (R1CS or PLONK gates).
func (c *Circuit) Constraints() int { return c.ccs.GetNbConstraints() }

// R1CS returns the constraint system (for the setup ceremony); for a PLONK
// circuit it is the sparse system.
func (c *Circuit) R1CS() constraint.ConstraintSystem { return c.ccs }

// ID identifies the circuit: architecture, options and this package's
// circuit version. Keys and proofs name the circuit they belong to by it.
func (c *Circuit) ID() Digest {
	h := sha256.New()
	h.Write([]byte("vai/zkml/circuit/v2\x00"))
	h.Write(c.arch.digest[:])
	if c.opts.PublicInput {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	if c.opts.Backend == BackendPlonk {
		// Groth16 circuits keep their original identity.
		h.Write([]byte("plonk"))
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

// Salt blinds a weight commitment: without it, the commitment of a model
// with few plausible weight versions could be found by trial.
type Salt = fr.Element

// NewSalt returns a random salt of 248 bits.
func NewSalt() (Salt, error) {
	var b [31]byte
	var s Salt
	if _, err := rand.Read(b[:]); err != nil {
		return s, err
	}
	s.SetBytes(b[:])
	return s, nil
}

// Commit returns the commitment to m's parameters under salt: the Poseidon2
// sponge (domain 1) of the architecture digest, the salt, and the
// parameters packed into field elements (weights, biases, multipliers,
// shifts and tables, in layer order, each offset to be non-negative and
// given its fixed width, at most 248 bits per element). The circuit
// range-checks every parameter to its width, so the packing is injective and
// the commitment binds every parameter.
func Commit(m *runtime.Model, salt Salt) (fr.Element, error) {
	a, err := ArchOf(m)
	if err != nil {
		return fr.Element{}, err
	}
	return a.commit(m, salt), nil
}

func (a *Arch) commit(m *runtime.Model, salt Salt) fr.Element {
	elems := append([]fr.Element{a.field(), salt}, packNative(a.params(m), a.kinds)...)
	return hashNative(domainWeights, elems)
}

// InputDigest returns the public digest of a private int8 input: the
// Poseidon2 sponge (domain 2) of the values packed 31 to a field element.
// It is not salted: it hides nothing from someone who can guess the input.
func InputDigest(input []int8) fr.Element {
	kinds := make([]paramKind, len(input))
	vals := make([]int64, len(input))
	for i, v := range input {
		kinds[i], vals[i] = kindWeight, int64(v)
	}
	return hashNative(domainInput, packNative(vals, kinds))
}

// Public is the statement a proof proves: the model committed to by
// Commitment, run on the input (or the input with digest InputDigest) for
// job JobID, gives Output.
type Public struct {
	Commitment  fr.Element
	JobID       fr.Element
	InputDigest fr.Element // when the input is private
	Input       []int8     // when the input is public
	Output      []int8
}

// Vector returns the public inputs in the circuit's order: commitment, job
// id, then the input digest or the input values, then the output values
// (int8 values as field elements, negative ones as q − |v|).
func (p *Public) Vector() []fr.Element {
	v := []fr.Element{p.Commitment, p.JobID}
	if p.Input == nil {
		v = append(v, p.InputDigest)
	}
	for _, x := range p.Input {
		var e fr.Element
		e.SetInt64(int64(x))
		v = append(v, e)
	}
	for _, x := range p.Output {
		var e fr.Element
		e.SetInt64(int64(x))
		v = append(v, e)
	}
	return v
}

// Proof is a Groth16 or PLONK proof with the statement it proves: exactly
// one of Groth16 and Plonk is set.
type Proof struct {
	Circuit Digest // Circuit.ID
	Public  Public
	// Groth16 is the proof in gnark's compressed encoding: A, B, C, the
	// commitment of the range checks and lookups, and its proof of
	// knowledge.
	Groth16 []byte
	// Plonk is a PLONK proof in gnark's compressed encoding (plonk.go).
	Plonk []byte
}

// ErrInput is wrapped by errors for an input or model that does not fit the
// circuit.
var ErrInput = errors.New("bad prover input")

// witness computes the statement with the reference runtime and assigns
// the full witness.
func (c *Circuit) witness(m *runtime.Model, salt Salt, input []int8, jobID []byte) (*Public, witness.Witness, error) {
	if err := c.arch.check(m); err != nil {
		return nil, nil, err
	}
	if len(input) != c.arch.InputSize() {
		return nil, nil, fmt.Errorf("%w: %d input values, the model takes %d", ErrInput, len(input), c.arch.InputSize())
	}
	out, err := runtime.Reference(m, input, 1)
	if err != nil {
		return nil, nil, err
	}
	pub := &Public{Commitment: c.arch.commit(m, salt), JobID: JobField(jobID), Output: out}
	if c.opts.PublicInput {
		pub.Input = append([]int8{}, input...)
	} else {
		pub.InputDigest = InputDigest(input)
	}
	w, err := frontend.NewWitness(c.assign(m, salt, input, pub), ecc.BN254.ScalarField())
	if err != nil {
		return nil, nil, err
	}
	return pub, w, nil
}

// Solve computes the statement and checks that the circuit's constraints
// hold for it without proving: what Prove does before the expensive part.
// Tests use it to hold the circuit to the runtime, sample by sample.
func Solve(c *Circuit, m *runtime.Model, salt Salt, input []int8, jobID []byte) (*Public, error) {
	pub, w, err := c.witness(m, salt, input, jobID)
	if err != nil {
		return nil, err
	}
	c.solving.Lock()
	err = c.ccs.IsSolved(w)
	c.solving.Unlock()
	if err != nil {
		return nil, fmt.Errorf("constraints not satisfied: %w", err)
	}
	return pub, nil
}

// Prove runs m on input with the circuit's arithmetic and proves the result
// for job jobID. m must have the circuit's architecture; salt is the one its
// commitment was made with.
func Prove(c *Circuit, pk groth16.ProvingKey, m *runtime.Model, salt Salt, input []int8, jobID []byte) (*Proof, error) {
	if c.opts.Backend != BackendGroth16 {
		return nil, fmt.Errorf("%w: a %s circuit, a Groth16 proving key", ErrBackend, c.opts.Backend.Title())
	}
	pub, w, err := c.witness(m, salt, input, jobID)
	if err != nil {
		return nil, err
	}
	c.solving.Lock()
	prf, err := groth16.Prove(c.ccs, pk, w, solidity.WithProverTargetSolidityVerifier(backend.GROTH16))
	c.solving.Unlock()
	if err != nil {
		return nil, fmt.Errorf("failed to prove: %w", err)
	}
	var buf bytes.Buffer
	if _, err := prf.WriteTo(&buf); err != nil {
		return nil, err
	}
	return &Proof{Circuit: c.ID(), Public: *pub, Groth16: buf.Bytes()}, nil
}

// assign builds the full witness.
func (c *Circuit) assign(m *runtime.Model, salt Salt, input []int8, pub *Public) *circuit {
	w := newCircuit(c.arch, c.opts.PublicInput)
	w.Commitment, w.JobID, w.Salt = pub.Commitment, pub.JobID, salt
	for i, v := range input {
		if c.opts.PublicInput {
			w.InputPublic[i] = int64(v)
		} else {
			w.Input[i] = int64(v)
		}
	}
	if !c.opts.PublicInput {
		w.InputDigest[0] = pub.InputDigest
	}
	for i, v := range pub.Output {
		w.Output[i] = int64(v)
	}
	for i, v := range c.arch.params(m) {
		w.Params[i] = v + c.arch.kinds[i].offset()
	}
	return w
}

// ErrVerify is wrapped by every error of a proof that does not verify.
var ErrVerify = errors.New("proof does not verify")

// Verify checks proof against vk. A PLONK proof is refused with ErrBackend.
func Verify(vk groth16.VerifyingKey, p *Proof) error {
	if p.Backend() != BackendGroth16 {
		return fmt.Errorf("%w: %w: a %s proof, a Groth16 verifying key", ErrVerify, ErrBackend, p.Backend().Title())
	}
	return VerifyRaw(vk, p.Groth16, p.Public.Vector())
}

// VerifyRaw checks a Groth16 proof in gnark's encoding against a vector of
// public inputs. It is deterministic and pure (no I/O, no randomness), as
// the ledger needs; malformed bytes are an error, never a panic.
func VerifyRaw(vk groth16.VerifyingKey, proof []byte, public []fr.Element) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrVerify, r)
		}
	}()
	bvk, ok := vk.(*groth16bn254.VerifyingKey)
	if !ok {
		return fmt.Errorf("%w: not a BN254 verifying key", ErrVerify)
	}
	if want := len(bvk.G1.K) - len(bvk.PublicAndCommitmentCommitted) - 1; len(public) != want {
		return fmt.Errorf("%w: %d public inputs, the key takes %d", ErrVerify, len(public), want)
	}
	if err := checkProofBytes(proof, len(bvk.PublicAndCommitmentCommitted)); err != nil {
		return fmt.Errorf("%w: malformed proof: %v", ErrVerify, err)
	}
	var prf groth16bn254.Proof
	n, err := prf.ReadFrom(bytes.NewReader(proof))
	if err != nil {
		return fmt.Errorf("%w: malformed proof: %v", ErrVerify, err)
	}
	if int(n) != len(proof) {
		return fmt.Errorf("%w: %d trailing bytes after the proof", ErrVerify, len(proof)-int(n))
	}
	if err := groth16bn254.Verify(&prf, bvk, fr.Vector(public), solidity.WithVerifierTargetSolidityVerifier(backend.GROTH16)); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return nil
}

// DevSetup runs gnark's single-party Groth16 setup. Whoever runs it knows
// the toxic waste and can forge proofs: it is for tests and local devnets.
// Real keys come from the ceremony (Ceremony).
func DevSetup(c *Circuit) (groth16.ProvingKey, groth16.VerifyingKey, error) {
	if c.opts.Backend != BackendGroth16 {
		return nil, nil, fmt.Errorf("%w: a %s circuit has no Groth16 setup", ErrBackend, c.opts.Backend.Title())
	}
	return groth16.Setup(c.ccs)
}
