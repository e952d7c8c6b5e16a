package zkml

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/kzg"
	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
)

// A universal SRS for PLONK is a KZG SRS in monomial form: [τⁱ]₁ for i < n,
// [1]₂ and [τ]₂. The phase 1 of vai's ceremony (powers of τ, the first half
// of the Groth16 MPC of https://eprint.iacr.org/2017/1050) computes exactly
// that and more — [τⁱ]₁ for i < 2·domain − 1 and [τⁱ]₂ for i < domain —
// with a verifiable transcript and a beacon, so that one multi-party
// ceremony serves every PLONK circuit of domain up to its own, and the
// phase 1 of a Groth16 ceremony serves as well as a dedicated one.

// SRS kinds (SRSSource.Kind).
const (
	SRSCeremony = "ceremony" // a vai ceremony's sealed phase 1
	SRSFile     = "file"     // a KZG SRS file in gnark-crypto's encoding
	SRSDev      = "dev"      // drawn by one party (unsafekzg): insecure
)

// SRSSource records where a PLONK setup's SRS came from, so that
// VerifyPlonkSetup can fetch it again.
type SRSSource struct {
	Kind string `json:"kind"`
	// Path is the ceremony directory or SRS file, relative to the setup
	// directory when it can be.
	Path string `json:"path,omitempty"`
	// Digest is the ceremony's srs.bin digest (its manifest's "srs"), or
	// the SHA-256 of the SRS file.
	Digest *Digest `json:"digest,omitempty"`
	// Powers is the number of [τⁱ]₁ in the SRS.
	Powers int `json:"powers"`
}

// MaxPowersOfTau bounds a powers-of-tau ceremony's size (2^26 would need
// tens of GiB per contribution file).
const MaxPowersOfTau = 1 << 24

// NewPowersOfTau starts a universal ceremony in dir (which must not exist
// or be empty): phase 1 only, of the given size, a power of two from 8 to
// MaxPowersOfTau. Contribute, Seal and VerifyCeremony work as for a
// circuit's ceremony; once sealed, CeremonySRS gives a KZG SRS for every
// PLONK circuit of domain up to size. A contribution costs about 4·size
// G1 and size G2 scalar multiplications.
func NewPowersOfTau(dir string, size uint64) (*Ceremony, error) {
	if size < 8 || size > MaxPowersOfTau || size&(size-1) != 0 {
		return nil, fmt.Errorf("%w: size %d: want a power of two from 8 to %d", ErrCeremony, size, MaxPowersOfTau)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "phase1"), 0o755); err != nil {
		return nil, err
	}
	c := &Ceremony{dir: dir, m: CeremonyManifest{Version: 1, PowersOfTau: true, Domain: size, Phase: 1,
		Phase1: []Contribution{}, Phase2: []Contribution{}}}
	return c, c.save()
}

// Backend returns the proof system of the setup's keys.
func (c *Ceremony) Backend() Backend {
	if c.m.Backend == BackendPlonk {
		return BackendPlonk
	}
	return BackendGroth16
}

func (c *Ceremony) kind() string {
	switch {
	case c.m.PowersOfTau:
		return "a powers-of-tau ceremony"
	case c.Backend() == BackendPlonk:
		return "a PLONK setup"
	}
	return "a Groth16 ceremony"
}

// verifyPowersOfTau replays a sealed powers-of-tau ceremony.
func (c *Ceremony) verifyPowersOfTau() (*CeremonyReport, error) {
	srs, err := c.replayPhase1()
	if err != nil {
		return nil, err
	}
	return &CeremonyReport{Phase1: c.m.Phase1, SRS: &SRSSource{Kind: SRSCeremony, Digest: c.m.SRS, Powers: len(srs.G1.Tau)}}, nil
}

// replayPhase1 verifies every phase-1 contribution and the seal, and
// checks the result is srs.bin.
func (c *Ceremony) replayPhase1() (*mpcsetup.SrsCommons, error) {
	if c.m.Dev {
		return nil, fmt.Errorf("%w: a dev setup has no transcript to verify: whoever made it can forge proofs", ErrCeremony)
	}
	if c.m.SRS == nil {
		return nil, fmt.Errorf("%w: phase 1 of %s is not sealed", ErrWrongPhase, c.dir)
	}
	beacon, err := hex.DecodeString(c.m.Beacon1)
	if err != nil {
		return nil, fmt.Errorf("%w: the beacon is not hexadecimal", ErrCeremony)
	}
	return c.sealedPhase1(beacon)
}

// CeremonySRS reads the KZG SRS of the vai ceremony in dir, whose phase 1
// must be sealed: a powers-of-tau ceremony, or a Groth16 one. It checks
// srs.bin against the manifest's digest but does not replay the
// transcript (VerifyCeremony and VerifyPlonkSetup do).
func CeremonySRS(dir string) (*kzg.SRS, *SRSSource, error) {
	c, err := OpenCeremony(dir)
	if err != nil {
		return nil, nil, err
	}
	if c.m.Dev || c.m.SRS == nil || c.Backend() != BackendGroth16 {
		return nil, nil, fmt.Errorf("%w: %s has no sealed phase 1 (%s, phase %d)", ErrWrongPhase, dir, c.kind(), c.m.Phase)
	}
	var p1 mpcsetup.SrsCommons
	if err := c.readFile("srs.bin", *c.m.SRS, &p1); err != nil {
		return nil, nil, err
	}
	srs, err := kzgFromPhase1(&p1)
	if err != nil {
		return nil, nil, err
	}
	d := *c.m.SRS
	return srs, &SRSSource{Kind: SRSCeremony, Path: dir, Digest: &d, Powers: len(srs.Pk.G1)}, nil
}

// kzgFromPhase1 takes the KZG SRS out of a sealed phase 1: all of [τⁱ]₁,
// and [τ⁰]₂, [τ¹]₂.
func kzgFromPhase1(p *mpcsetup.SrsCommons) (*kzg.SRS, error) {
	if len(p.G1.Tau) < 2 || len(p.G2.Tau) < 2 {
		return nil, fmt.Errorf("%w: a phase 1 of %d G1 and %d G2 powers", ErrSRS, len(p.G1.Tau), len(p.G2.Tau))
	}
	srs := &kzg.SRS{Pk: kzg.ProvingKey{G1: p.G1.Tau}}
	srs.Vk.G1, srs.Vk.G2[0], srs.Vk.G2[1] = p.G1.Tau[0], p.G2.Tau[0], p.G2.Tau[1]
	srs.Vk.Lines[0] = bn254.PrecomputeLines(srs.Vk.G2[0])
	srs.Vk.Lines[1] = bn254.PrecomputeLines(srs.Vk.G2[1])
	return srs, nil
}

// ParseSRS decodes a KZG SRS in gnark-crypto's encoding (kzg.SRS.WriteTo,
// compressed, or WriteRawTo), whole: points on the curve and in their
// subgroups, no trailing bytes. The G1 count is checked against the input's
// length before anything is allocated.
func ParseSRS(b []byte) (srs *kzg.SRS, err error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrSRS, len(b))
	}
	if n := binary.BigEndian.Uint32(b); int64(n) > int64(len(b)-4)/g1Bytes {
		return nil, fmt.Errorf("%w: %d G1 points in %d bytes", ErrSRS, n, len(b))
	}
	srs = new(kzg.SRS)
	n, err := readAll(srs, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSRS, err)
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrSRS, len(b)-n)
	}
	return srs, nil
}

// maxPowersFor is the largest PLONK domain an SRS of n powers serves.
func maxPowersFor(n int) uint64 {
	if n < 5 {
		return 0
	}
	return 1 << (bits.Len(uint(n-3)) - 1)
}
