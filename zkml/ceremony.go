package zkml

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
	cs "github.com/consensys/gnark/constraint/bn254"

	"github.com/vai-dev/vai/runtime"
)

// A Ceremony is the Groth16 multi-party setup of one circuit, kept as a
// directory that is also its transcript:
//
//	ceremony.json      the manifest: circuit, domain, phase, contributions
//	arch.vaim          the architecture (the model with zeroed parameters)
//	phase1/NNNN.bin    powers-of-τ contributions, in order
//	srs.bin            phase 1 sealed with its beacon (circuit-independent)
//	phase2/NNNN.bin    circuit-specific contributions, in order
//	pk.bin, vk.bin     the keys, once phase 2 is sealed
//
// Each contribution mixes fresh randomness into the previous one and proves
// knowledge of it; the keys are sound if at least one contributor of each
// phase discarded their randomness. A public random beacon, fixed after the
// last contribution of a phase, seals it. VerifyCeremony replays everything.
type Ceremony struct {
	dir string
	m   CeremonyManifest
}

// CeremonyManifest is ceremony.json.
type CeremonyManifest struct {
	Version     int            `json:"version"`
	Circuit     Digest         `json:"circuit"`
	Arch        Digest         `json:"arch"`
	PublicInput bool           `json:"public_input"`
	Constraints int            `json:"constraints"`
	Domain      uint64         `json:"domain"`
	Phase       int            `json:"phase"` // 1, 2, or 3 when done
	Phase1      []Contribution `json:"phase1"`
	Beacon1     string         `json:"beacon1,omitempty"` // hex
	SRS         *Digest        `json:"srs,omitempty"`
	Phase2      []Contribution `json:"phase2"`
	Beacon2     string         `json:"beacon2,omitempty"`
	PK          *Digest        `json:"pk,omitempty"`
	VK          *Digest        `json:"vk,omitempty"`
	// Dev marks keys made by one party with gnark's plain setup (SealDev):
	// whoever made them can forge proofs. Tests and devnets only.
	Dev bool `json:"dev,omitempty"`
	// Backend is the keys' proof system: Groth16 when empty; PLONK for
	// keys made from a universal SRS (SetupPlonk), which has no phases.
	Backend Backend `json:"backend,omitempty"`
	// Source is where a PLONK setup's SRS came from.
	Source *SRSSource `json:"srs_source,omitempty"`
	// PowersOfTau marks a universal ceremony (NewPowersOfTau): phase 1
	// only, no circuit; sealed, it is a KZG SRS for PLONK circuits.
	PowersOfTau bool `json:"powers_of_tau,omitempty"`
}

// Contribution records one participant's contribution file.
type Contribution struct {
	Name   string    `json:"name"`
	File   string    `json:"file"`
	Digest Digest    `json:"digest"`
	Time   time.Time `json:"time"`
}

// Ceremony errors.
var (
	ErrCeremony         = errors.New("invalid setup ceremony")
	ErrBadContribution  = errors.New("bad contribution")
	ErrWrongPhase       = errors.New("wrong ceremony phase")
	errCeremonyManifest = "ceremony.json"
)

// NewCeremony starts a ceremony for circuit c in dir, which must not exist
// or be empty. The first contribution is anyone's (typically the model
// owner's) call to Contribute.
func NewCeremony(dir string, c *Circuit) (*Ceremony, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty", dir)
	}
	for _, d := range []string{dir, filepath.Join(dir, "phase1"), filepath.Join(dir, "phase2")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := c.writeArch(dir); err != nil {
		return nil, err
	}
	cer := &Ceremony{dir: dir, m: CeremonyManifest{
		Version: 1, Circuit: c.ID(), Arch: Digest(c.arch.digest), PublicInput: c.opts.PublicInput,
		Constraints: c.Constraints(), Domain: ecc.NextPowerOfTwo(uint64(c.Constraints())), Phase: 1,
		Phase1: []Contribution{}, Phase2: []Contribution{},
	}}
	return cer, cer.save()
}

// OpenCeremony opens the ceremony in dir.
func OpenCeremony(dir string) (*Ceremony, error) {
	b, err := os.ReadFile(filepath.Join(dir, errCeremonyManifest))
	if err != nil {
		return nil, err
	}
	c := &Ceremony{dir: dir}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCeremony, errCeremonyManifest, err)
	}
	if c.m.Version != 1 || c.m.Phase < 1 || c.m.Phase > 3 || c.m.Domain == 0 || c.m.Domain > 1<<28 {
		return nil, fmt.Errorf("%w: unsupported version, phase or domain", ErrCeremony)
	}
	if b, err := ParseBackend(string(c.m.Backend)); err != nil || (b == BackendPlonk) != (c.m.Source != nil) || (c.m.PowersOfTau && b == BackendPlonk) {
		return nil, fmt.Errorf("%w: unsupported backend %q, or an SRS source without PLONK", ErrCeremony, c.m.Backend)
	}
	return c, nil
}

// Manifest returns the ceremony's manifest.
func (c *Ceremony) Manifest() CeremonyManifest { return c.m }

// Dir returns the ceremony's directory.
func (c *Ceremony) Dir() string { return c.dir }

func (c *Ceremony) save() error {
	b, err := json.MarshalIndent(c.m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, errCeremonyManifest+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, errCeremonyManifest))
}

// Circuit recompiles the ceremony's circuit from arch.vaim and checks it is
// the one the manifest names.
func (c *Ceremony) Circuit() (*Circuit, error) {
	if c.m.PowersOfTau {
		return nil, fmt.Errorf("%w: a powers-of-tau ceremony has no circuit", ErrWrongPhase)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "arch.vaim"))
	if err != nil {
		return nil, err
	}
	m, err := runtime.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: arch.vaim: %v", ErrCeremony, err)
	}
	cc, err := Compile(m, Options{PublicInput: c.m.PublicInput, Backend: c.Backend()})
	if err != nil {
		return nil, err
	}
	if cc.ID() != c.m.Circuit {
		return nil, fmt.Errorf("%w: arch.vaim compiles to circuit %s, the manifest names %s", ErrCeremony, cc.ID(), c.m.Circuit)
	}
	return cc, nil
}

// Contribute adds a contribution, with fresh randomness from crypto/rand, to
// the open phase, and returns its record. The randomness is never stored.
func (c *Ceremony) Contribute(name string) (Contribution, error) {
	var obj io.WriterTo
	switch c.m.Phase {
	case 1:
		p := mpcsetup.NewPhase1(c.m.Domain)
		if n := len(c.m.Phase1); n > 0 {
			if err := c.read(c.m.Phase1[n-1], p); err != nil {
				return Contribution{}, err
			}
		}
		p.Contribute()
		obj = p
	case 2:
		p := new(mpcsetup.Phase2)
		if n := len(c.m.Phase2); n > 0 {
			if err := c.read(c.m.Phase2[n-1], p); err != nil {
				return Contribution{}, err
			}
		} else {
			cc, srs, err := c.phase2Inputs()
			if err != nil {
				return Contribution{}, err
			}
			p.Initialize(cc.ccs.(*cs.R1CS), srs)
		}
		p.Contribute()
		obj = p
	default:
		return Contribution{}, fmt.Errorf("%w: the ceremony is finished", ErrWrongPhase)
	}
	return c.add(name, obj)
}

// add writes a contribution file and records it.
func (c *Ceremony) add(name string, obj io.WriterTo) (Contribution, error) {
	list := &c.m.Phase1
	if c.m.Phase == 2 {
		list = &c.m.Phase2
	}
	file := fmt.Sprintf("phase%d/%04d.bin", c.m.Phase, len(*list)+1)
	d, err := c.write(file, obj)
	if err != nil {
		return Contribution{}, err
	}
	rec := Contribution{Name: name, File: file, Digest: d, Time: time.Now().UTC().Truncate(time.Second)}
	*list = append(*list, rec)
	return rec, c.save()
}

// write writes obj to file in the ceremony and returns the file's digest.
func (c *Ceremony) write(file string, obj io.WriterTo) (Digest, error) {
	var buf bytes.Buffer
	if _, err := obj.WriteTo(&buf); err != nil {
		return Digest{}, err
	}
	if err := os.WriteFile(filepath.Join(c.dir, file), buf.Bytes(), 0o644); err != nil {
		return Digest{}, err
	}
	return sha(buf.Bytes()), nil
}

// read reads a recorded file into obj, checking its digest and that it is
// read whole.
func (c *Ceremony) read(rec Contribution, obj io.ReaderFrom) error {
	return c.readFile(rec.File, rec.Digest, obj)
}

func (c *Ceremony) readFile(file string, want Digest, obj io.ReaderFrom) error {
	if !filepath.IsLocal(file) {
		return fmt.Errorf("%w: file %q outside the ceremony", ErrCeremony, file)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return err
	}
	if sha(b) != want {
		return fmt.Errorf("%w: %s has digest %s, the manifest records %s", ErrCeremony, file, sha(b), want)
	}
	n, err := readAll(obj, b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadContribution, file, err)
	}
	if n != len(b) {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrBadContribution, file, len(b)-n)
	}
	return nil
}

// readAll decodes b into obj; decoders of malformed input may panic.
func readAll(obj io.ReaderFrom, b []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed: %v", r)
		}
	}()
	m, err := obj.ReadFrom(bufio.NewReader(bytes.NewReader(b)))
	return int(m), err
}

func (c *Ceremony) phase2Inputs() (*Circuit, *mpcsetup.SrsCommons, error) {
	if c.m.SRS == nil {
		return nil, nil, fmt.Errorf("%w: phase 1 is not sealed", ErrCeremony)
	}
	cc, err := c.Circuit()
	if err != nil {
		return nil, nil, err
	}
	srs := new(mpcsetup.SrsCommons)
	if err := c.readFile("srs.bin", *c.m.SRS, srs); err != nil {
		return nil, nil, err
	}
	return cc, srs, nil
}

// Seal closes the open phase with the public random beacon: phase 1 becomes
// srs.bin, phase 2 the proving and verifying keys. It verifies every
// contribution of the phase first and fails with ErrBadContribution if one
// does not verify.
// SealDev finishes a ceremony that has no contribution yet with keys from
// gnark's single-party setup (DevSetup): seconds instead of the minutes of
// a one-person MPC, and no more secure than one. The manifest says Dev;
// VerifyCeremony refuses it.
func (c *Ceremony) SealDev() error {
	if c.m.Phase != 1 || len(c.m.Phase1) > 0 {
		return fmt.Errorf("%w: a dev setup replaces the whole ceremony; this one has started", ErrWrongPhase)
	}
	circ, err := c.Circuit()
	if err != nil {
		return err
	}
	pk, vk, err := DevSetup(circ)
	if err != nil {
		return err
	}
	dp, err := c.write("pk.bin", pk)
	if err != nil {
		return err
	}
	dv, err := c.write("vk.bin", vk)
	if err != nil {
		return err
	}
	c.m.PK, c.m.VK, c.m.Phase, c.m.Dev = &dp, &dv, 3, true
	return c.save()
}

func (c *Ceremony) Seal(beacon []byte) error {
	if len(beacon) < 16 {
		return fmt.Errorf("%w: a beacon of at least 16 bytes is needed", ErrCeremony)
	}
	switch c.m.Phase {
	case 1:
		srs, err := c.verifyPhase1(beacon)
		if err != nil {
			return err
		}
		d, err := c.write("srs.bin", &srs)
		if err != nil {
			return err
		}
		c.m.SRS, c.m.Beacon1, c.m.Phase = &d, hex.EncodeToString(beacon), 2
		if c.m.PowersOfTau {
			c.m.Phase = 3 // one phase only
		}
	case 2:
		pk, vk, err := c.verifyPhase2(beacon)
		if err != nil {
			return err
		}
		dp, err := c.write("pk.bin", pk)
		if err != nil {
			return err
		}
		dv, err := c.write("vk.bin", vk)
		if err != nil {
			return err
		}
		c.m.PK, c.m.VK, c.m.Beacon2, c.m.Phase = &dp, &dv, hex.EncodeToString(beacon), 3
	default:
		return fmt.Errorf("%w: the ceremony is finished", ErrWrongPhase)
	}
	return c.save()
}

// sealedPhase1 replays phase 1 with its beacon and checks that the result
// is the srs.bin the ceremony recorded.
func (c *Ceremony) sealedPhase1(beacon []byte) (*mpcsetup.SrsCommons, error) {
	srs, err := c.verifyPhase1(beacon)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := srs.WriteTo(&buf); err != nil {
		return nil, err
	}
	if sha(buf.Bytes()) != *c.m.SRS {
		return nil, fmt.Errorf("%w: phase 1 sealed with its beacon is not srs.bin", ErrCeremony)
	}
	return &srs, nil
}

func (c *Ceremony) verifyPhase1(beacon []byte) (mpcsetup.SrsCommons, error) {
	if len(c.m.Phase1) == 0 {
		return mpcsetup.SrsCommons{}, fmt.Errorf("%w: phase 1 has no contribution", ErrCeremony)
	}
	ps := make([]*mpcsetup.Phase1, len(c.m.Phase1))
	for i, rec := range c.m.Phase1 {
		ps[i] = new(mpcsetup.Phase1)
		if err := c.read(rec, ps[i]); err != nil {
			return mpcsetup.SrsCommons{}, err
		}
	}
	srs, err := verifyPhase1(c.m.Domain, beacon, ps)
	if err != nil {
		return srs, fmt.Errorf("%w: phase 1: %v", ErrBadContribution, err)
	}
	return srs, nil
}

// verifyPhase1 is mpcsetup.VerifyPhase1 with the contribution that fails
// named, and no panic on malformed points.
func verifyPhase1(n uint64, beacon []byte, ps []*mpcsetup.Phase1) (srs mpcsetup.SrsCommons, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed contribution: %v", r)
		}
	}()
	prev := mpcsetup.NewPhase1(n)
	for i, p := range ps {
		if err := prev.Verify(p); err != nil {
			return srs, fmt.Errorf("contribution %d: %v", i+1, err)
		}
		prev = p
	}
	return prev.Seal(beacon), nil
}

func (c *Ceremony) verifyPhase2(beacon []byte) (pk groth16.ProvingKey, vk groth16.VerifyingKey, err error) {
	if len(c.m.Phase2) == 0 {
		return nil, nil, fmt.Errorf("%w: phase 2 has no contribution", ErrCeremony)
	}
	cc, srs, err := c.phase2Inputs()
	if err != nil {
		return nil, nil, err
	}
	ps := make([]*mpcsetup.Phase2, len(c.m.Phase2))
	for i, rec := range c.m.Phase2 {
		ps[i] = new(mpcsetup.Phase2)
		if err := c.read(rec, ps[i]); err != nil {
			return nil, nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: phase 2: malformed contribution: %v", ErrBadContribution, r)
		}
	}()
	prev := new(mpcsetup.Phase2)
	evals := prev.Initialize(cc.ccs.(*cs.R1CS), srs)
	for i, p := range ps {
		if err := prev.Verify(p); err != nil {
			return nil, nil, fmt.Errorf("%w: phase 2: contribution %d: %v", ErrBadContribution, i+1, err)
		}
		prev = p
	}
	pk, vk = prev.Seal(srs, &evals, beacon)
	return pk, vk, nil
}

// CeremonyReport is what VerifyCeremony checked.
type CeremonyReport struct {
	Circuit Digest
	Phase1  []Contribution
	Phase2  []Contribution
	// PK is pk.bin's digest; VK is the verifying key's identity (KeyDigest:
	// vk.bin's digest for Groth16, tagged for PLONK).
	PK, VK Digest
	// Backend is the keys' proof system.
	Backend Backend `json:",omitempty"`
	// SRS is the checked SRS of a PLONK setup or a powers-of-tau ceremony.
	SRS *SRSSource `json:",omitempty"`
}

// VerifyCeremony replays a finished ceremony: every file against its
// recorded digest, every contribution's proof of knowledge and consistency
// with the one before, phase 1 sealed with its beacon giving srs.bin, phase 2
// sealed with its beacon giving exactly pk.bin and vk.bin, and the circuit
// recompiled from arch.vaim. It fails with ErrBadContribution naming the
// first contribution that does not verify.
func VerifyCeremony(dir string) (*CeremonyReport, error) {
	c, err := OpenCeremony(dir)
	if err != nil {
		return nil, err
	}
	if c.m.Dev {
		return nil, fmt.Errorf("%w: a dev setup has no transcript to verify: whoever made it can forge proofs", ErrCeremony)
	}
	switch {
	case c.m.PowersOfTau:
		return c.verifyPowersOfTau()
	case c.Backend() == BackendPlonk:
		return VerifyPlonkSetup(dir, "")
	}
	if c.m.Phase != 3 || c.m.PK == nil || c.m.VK == nil || c.m.SRS == nil {
		return nil, fmt.Errorf("%w: the ceremony is not finished (phase %d)", ErrWrongPhase, c.m.Phase)
	}
	b1, err1 := hex.DecodeString(c.m.Beacon1)
	b2, err2 := hex.DecodeString(c.m.Beacon2)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: beacons are not hexadecimal", ErrCeremony)
	}
	if _, err := c.Circuit(); err != nil {
		return nil, err
	}
	if _, err := c.sealedPhase1(b1); err != nil {
		return nil, err
	}
	pk, vk, err := c.verifyPhase2(b2)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, k := range []struct {
		obj  io.WriterTo
		want Digest
		name string
	}{{pk, *c.m.PK, "pk.bin"}, {vk, *c.m.VK, "vk.bin"}} {
		buf.Reset()
		if _, err := k.obj.WriteTo(&buf); err != nil {
			return nil, err
		}
		if sha(buf.Bytes()) != k.want {
			return nil, fmt.Errorf("%w: phase 2 sealed with its beacon is not %s", ErrCeremony, k.name)
		}
		b, err := os.ReadFile(filepath.Join(dir, k.name))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(b, buf.Bytes()) {
			return nil, fmt.Errorf("%w: %s differs from the sealed key", ErrCeremony, k.name)
		}
	}
	return &CeremonyReport{Circuit: c.m.Circuit, Phase1: c.m.Phase1, Phase2: c.m.Phase2, PK: *c.m.PK, VK: *c.m.VK, Backend: BackendGroth16}, nil
}

// Keys reads a finished ceremony's keys, checking their digests.
func (c *Ceremony) Keys() (groth16.ProvingKey, groth16.VerifyingKey, error) {
	if c.m.PowersOfTau || c.Backend() != BackendGroth16 {
		return nil, nil, fmt.Errorf("%w: %s has no Groth16 keys (%s)", ErrBackend, c.dir, c.kind())
	}
	if c.m.Phase != 3 {
		return nil, nil, fmt.Errorf("%w: the ceremony is not finished", ErrWrongPhase)
	}
	pk, vk := groth16.NewProvingKey(ecc.BN254), groth16.NewVerifyingKey(ecc.BN254)
	if err := c.readFile("pk.bin", *c.m.PK, pk); err != nil {
		return nil, nil, err
	}
	if err := c.readFile("vk.bin", *c.m.VK, vk); err != nil {
		return nil, nil, err
	}
	return pk, vk, nil
}

// writeArch writes the circuit's architecture (the model without its
// weights) to dir/arch.vaim, which a setup directory carries.
func (c *Circuit) writeArch(dir string) error {
	arch, err := c.arch.model.MarshalBinary()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "arch.vaim"), arch, 0o644)
}
