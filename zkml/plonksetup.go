package zkml

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/kzg"
	"github.com/consensys/gnark/backend/plonk"
)

// SetupPlonk makes the PLONK keys of circuit c (compiled with BackendPlonk)
// in dir, which must not exist or be empty, as a finished setup that the
// Ceremony API opens like a Groth16 one:
//
//	ceremony.json   the manifest: backend plonk, circuit, domain, the SRS's source
//	arch.vaim       the architecture
//	pk.bin, vk.bin  the keys
//
// The keys come from srs, whose origin src records (CeremonySRS, ParseSRS
// with the file's digest); a nil srs makes a dev setup (PlonkDevSetup):
// marked Dev, refused by VerifyCeremony. Relative paths in src are recorded
// relative to dir.
func SetupPlonk(dir string, c *Circuit, srs *kzg.SRS, src SRSSource) (*Ceremony, error) {
	if _, err := c.sparse(); err != nil {
		return nil, err
	}
	var (
		pk  plonk.ProvingKey
		vk  plonk.VerifyingKey
		err error
	)
	if srs == nil {
		src = SRSSource{Kind: SRSDev, Powers: c.SRSSize()}
		pk, vk, err = PlonkDevSetup(c)
	} else {
		pk, vk, err = PlonkSetup(c, srs)
	}
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if src.Path != "" {
		src.Path = relTo(dir, src.Path)
	}
	if err := c.writeArch(dir); err != nil {
		return nil, err
	}
	cer := &Ceremony{dir: dir, m: CeremonyManifest{
		Version: 1, Backend: BackendPlonk, Circuit: c.ID(), Arch: Digest(c.arch.digest), PublicInput: c.opts.PublicInput,
		Constraints: c.Constraints(), Domain: c.Domain(), Phase: 3, Phase1: []Contribution{}, Phase2: []Contribution{},
		Source: &src, Dev: src.Kind == SRSDev,
	}}
	dp, err := cer.write("pk.bin", pk)
	if err != nil {
		return nil, err
	}
	dv, err := cer.write("vk.bin", vk)
	if err != nil {
		return nil, err
	}
	cer.m.PK, cer.m.VK = &dp, &dv
	return cer, cer.save()
}

// relTo returns path relative to dir when both are in one tree, else
// absolute: the manifest stays valid when the setup and its SRS move
// together.
func relTo(dir, path string) string {
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	if r, err := filepath.Rel(ad, ap); err == nil {
		return r
	}
	return ap
}

// PlonkKeys reads a finished PLONK setup's keys, checking their digests.
func (c *Ceremony) PlonkKeys() (plonk.ProvingKey, plonk.VerifyingKey, error) {
	if c.Backend() != BackendPlonk {
		return nil, nil, fmt.Errorf("%w: %s has no PLONK keys (%s)", ErrBackend, c.dir, c.kind())
	}
	pk, vk := plonk.NewProvingKey(ecc.BN254), plonk.NewVerifyingKey(ecc.BN254)
	if err := c.readFile("pk.bin", *c.m.PK, pk); err != nil {
		return nil, nil, err
	}
	if err := c.readFile("vk.bin", *c.m.VK, vk); err != nil {
		return nil, nil, err
	}
	return pk, vk, nil
}

// Prover returns a finished setup's circuit and proving key, of either
// proof system.
func (c *Ceremony) Prover() (*Prover, error) {
	circ, err := c.Circuit()
	if err != nil {
		return nil, err
	}
	var pk any
	if c.Backend() == BackendPlonk {
		pk, _, err = c.PlonkKeys()
	} else {
		pk, _, err = c.Keys()
	}
	if err != nil {
		return nil, err
	}
	return NewProver(circ, pk)
}

// Verifier returns a finished setup's verifying key, of either proof
// system, checked against its digest and decoded as strictly as the ledger
// decodes keys.
func (c *Ceremony) Verifier() (Verifier, error) {
	if c.m.PowersOfTau || c.m.Phase != 3 || c.m.VK == nil {
		return nil, fmt.Errorf("%w: %s has no verifying key (%s, phase %d)", ErrWrongPhase, c.dir, c.kind(), c.m.Phase)
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "vk.bin"))
	if err != nil {
		return nil, err
	}
	if sha(b) != *c.m.VK {
		return nil, fmt.Errorf("%w: vk.bin has digest %s, the manifest records %s", ErrCeremony, sha(b), c.m.VK)
	}
	return ParseVerifier(c.Backend(), b)
}

// VerifyPlonkSetup checks a finished PLONK setup: the circuit recompiled
// from arch.vaim, its SRS fetched again from its recorded source — a
// ceremony's whole phase-1 transcript replayed, or an SRS file checked
// against its digest — and the keys made again from it equal to pk.bin and
// vk.bin. srsPath, if not empty, replaces the recorded path (the ceremony
// directory or SRS file, when it moved). A dev setup is refused.
func VerifyPlonkSetup(dir, srsPath string) (*CeremonyReport, error) {
	c, err := OpenCeremony(dir)
	if err != nil {
		return nil, err
	}
	if c.Backend() != BackendPlonk {
		return nil, fmt.Errorf("%w: %s is %s", ErrBackend, dir, c.kind())
	}
	src := *c.m.Source
	if c.m.Dev || src.Kind == SRSDev {
		return nil, fmt.Errorf("%w: a dev setup's SRS was drawn by one party, who can forge proofs: there is nothing to verify", ErrCeremony)
	}
	if c.m.Phase != 3 || c.m.PK == nil || c.m.VK == nil || src.Digest == nil {
		return nil, fmt.Errorf("%w: the setup is not finished", ErrWrongPhase)
	}
	circ, err := c.Circuit()
	if err != nil {
		return nil, err
	}
	path := srsPath
	if path == "" {
		if path = src.Path; !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
	}
	rep := &CeremonyReport{Circuit: c.m.Circuit, PK: *c.m.PK, VK: *c.m.VK, Backend: BackendPlonk, SRS: &src}
	var srs *kzg.SRS
	switch src.Kind {
	case SRSCeremony:
		tau, err := OpenCeremony(path)
		if err != nil {
			return nil, fmt.Errorf("the SRS's ceremony: %w (give its directory)", err)
		}
		if tau.m.SRS == nil || *tau.m.SRS != *src.Digest {
			return nil, fmt.Errorf("%w: the ceremony in %s is not the one the setup used (SRS %s)", ErrCeremony, path, src.Digest)
		}
		p1, err := tau.replayPhase1()
		if err != nil {
			return nil, fmt.Errorf("the SRS's ceremony %s: %w", path, err)
		}
		if srs, err = kzgFromPhase1(p1); err != nil {
			return nil, err
		}
		rep.Phase1 = tau.m.Phase1
	case SRSFile:
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("the SRS file: %w (give its path)", err)
		}
		if sha(b) != *src.Digest {
			return nil, fmt.Errorf("%w: %s has digest %s, the setup used %s", ErrSRS, path, sha(b), src.Digest)
		}
		if srs, err = ParseSRS(b); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown SRS kind %q", ErrCeremony, src.Kind)
	}
	pk, vk, err := PlonkSetup(circ, srs)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct {
		obj  io.WriterTo
		want Digest
		name string
	}{{pk, *c.m.PK, "pk.bin"}, {vk, *c.m.VK, "vk.bin"}} {
		var buf bytes.Buffer
		if _, err := k.obj.WriteTo(&buf); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(dir, k.name))
		if err != nil {
			return nil, err
		}
		if sha(buf.Bytes()) != k.want || !bytes.Equal(b, buf.Bytes()) {
			return nil, fmt.Errorf("%w: %s is not the key the SRS gives", ErrCeremony, k.name)
		}
		if k.name == "vk.bin" {
			rep.VK = KeyDigest(BackendPlonk, b) // its identity on the chain
		}
	}
	return rep, nil
}
