package zkml_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/kzg"
	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
	"github.com/consensys/gnark/backend/plonk"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// plonkFixture is smallModel's PLONK circuit with dev keys and one proof,
// shared by the tests that only read it.
type plonkFixture struct {
	m    *runtime.Model
	c    *zkml.Circuit
	pk   plonk.ProvingKey
	vk   plonk.VerifyingKey
	salt zkml.Salt
	in   []int8
	p    *zkml.Proof
}

var (
	plonkOnce sync.Once
	plonkFix  *plonkFixture
	plonkErr  error
)

func plonkSmall(t testing.TB) *plonkFixture {
	t.Helper()
	plonkOnce.Do(func() {
		f := &plonkFixture{m: smallModel(), in: []int8{100, -20, 3, 127}}
		if f.c, plonkErr = zkml.Compile(f.m, zkml.Options{Backend: zkml.BackendPlonk}); plonkErr != nil {
			return
		}
		if f.pk, f.vk, plonkErr = zkml.PlonkDevSetup(f.c); plonkErr != nil {
			return
		}
		if f.salt, plonkErr = zkml.NewSalt(); plonkErr != nil {
			return
		}
		f.p, plonkErr = zkml.ProvePlonk(f.c, f.pk, f.m, f.salt, f.in, []byte("job-7"))
		plonkFix = f
	})
	if plonkErr != nil {
		t.Fatal(plonkErr)
	}
	return plonkFix
}

// TestPlonkProve: a PLONK proof verifies, states what Groth16's would, and
// is bound to every part of its statement and to its key.
func TestPlonkProve(t *testing.T) {
	t.Parallel()
	f := plonkSmall(t)
	p := f.p
	if p.Backend() != zkml.BackendPlonk || p.Groth16 != nil || len(p.Plonk) == 0 {
		t.Fatalf("backend %s, %d Groth16 bytes", p.Backend(), len(p.Groth16))
	}
	if err := zkml.VerifyPlonk(f.vk, p); err != nil {
		t.Fatalf("valid proof: %v", err)
	}
	want, _ := runtime.Reference(f.m, f.in, 1)
	comm, _ := zkml.Commit(f.m, f.salt)
	if !slices.Equal(p.Public.Output, want) || p.Public.Commitment != comm || p.Public.InputDigest != zkml.InputDigest(f.in) ||
		p.Public.JobID != zkml.JobField([]byte("job-7")) {
		t.Fatal("the statement is not the runtime's output, Commit, InputDigest and JobField")
	}
	// The same public inputs as the Groth16 circuit, in the same order.
	g, err := zkml.Compile(f.m, zkml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gpub, err := zkml.Solve(g, f.m, f.salt, f.in, []byte("job-7"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gpub.Vector(), p.Public.Vector()) {
		t.Fatal("PLONK and Groth16 statements differ")
	}
	if g.ID() == f.c.ID() {
		t.Fatal("PLONK and Groth16 circuits share an id")
	}

	m2 := smallModel()
	m2.Layers[0].(*runtime.Dense).Weights[0] ^= 1
	comm2, _ := zkml.Commit(m2, f.salt)
	c2, err := zkml.Compile(tinyModel(), zkml.Options{Backend: zkml.BackendPlonk})
	if err != nil {
		t.Fatal(err)
	}
	_, vk2, err := zkml.PlonkDevSetup(c2)
	if err != nil {
		t.Fatal(err)
	}
	attacks := []struct {
		name string
		edit func(p *zkml.Proof)
		vk   plonk.VerifyingKey
	}{
		{"another job", func(p *zkml.Proof) { p.Public.JobID = zkml.JobField([]byte("job-8")) }, nil},
		{"zero job", func(p *zkml.Proof) { p.Public.JobID = fr.Element{} }, nil},
		{"another commitment", func(p *zkml.Proof) { p.Public.Commitment = comm2 }, nil},
		{"another input", func(p *zkml.Proof) { p.Public.InputDigest = zkml.InputDigest([]int8{1, 2, 3, 4}) }, nil},
		{"another output", func(p *zkml.Proof) { p.Public.Output[0]++ }, nil},
		{"another circuit's key", func(p *zkml.Proof) {}, vk2},
		{"flipped proof byte", func(p *zkml.Proof) { p.Plonk[40] ^= 4 }, nil},
		{"flipped claimed value", func(p *zkml.Proof) { p.Plonk[300] ^= 1 }, nil},
		{"truncated proof", func(p *zkml.Proof) { p.Plonk = p.Plonk[:len(p.Plonk)-32] }, nil},
		{"trailing bytes", func(p *zkml.Proof) { p.Plonk = append(p.Plonk, 0) }, nil},
		{"huge length prefix", func(p *zkml.Proof) { copy(p.Plonk[256:], []byte{0xff, 0xff, 0xff, 0xff}) }, nil},
		{"missing public input", func(p *zkml.Proof) { p.Public.Output = p.Public.Output[:1] }, nil},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			q := *p
			q.Public.Output = slices.Clone(p.Public.Output)
			q.Plonk = bytes.Clone(p.Plonk)
			a.edit(&q)
			k := f.vk
			if a.vk != nil {
				k = a.vk
			}
			if err := zkml.VerifyPlonk(k, &q); !errors.Is(err, zkml.ErrVerify) {
				t.Fatalf("VerifyPlonk = %v, want ErrVerify", err)
			}
		})
	}

	// The proof file says PLONK and round-trips.
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"scheme":"plonk-bn254"`)) {
		t.Fatalf("proof file %s", b)
	}
	var back zkml.Proof
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if back.Backend() != zkml.BackendPlonk {
		t.Fatal("the proof file lost its backend")
	}
	if err := zkml.VerifyPlonk(f.vk, &back); err != nil {
		t.Fatalf("round-tripped proof: %v", err)
	}
}

// TestMixedBackends: a proof is refused, with ErrBackend, by a key of the
// other proof system, and so are keys and circuits of the other system.
func TestMixedBackends(t *testing.T) {
	t.Parallel()
	f := plonkSmall(t)
	g, err := zkml.Compile(f.m, zkml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gpk, gvk, err := zkml.DevSetup(g)
	if err != nil {
		t.Fatal(err)
	}
	gp, err := zkml.Prove(g, gpk, f.m, f.salt, f.in, []byte("job-7"))
	if err != nil {
		t.Fatal(err)
	}
	pv, err := zkml.NewVerifier(f.vk)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := zkml.NewVerifier(gvk)
	if err != nil {
		t.Fatal(err)
	}
	both := func(err error) bool { return errors.Is(err, zkml.ErrVerify) && errors.Is(err, zkml.ErrBackend) }
	if err := zkml.Verify(gvk, f.p); !both(err) || !strings.Contains(err.Error(), "a PLONK proof, a Groth16 verifying key") {
		t.Errorf("Verify(Groth16 key, PLONK proof) = %v", err)
	}
	if err := zkml.VerifyPlonk(f.vk, gp); !both(err) {
		t.Errorf("VerifyPlonk(PLONK key, Groth16 proof) = %v", err)
	}
	if err := zkml.VerifyProof(gv, f.p); !both(err) {
		t.Errorf("VerifyProof(Groth16, PLONK proof) = %v", err)
	}
	if err := zkml.VerifyProof(pv, gp); !both(err) {
		t.Errorf("VerifyProof(PLONK, Groth16 proof) = %v", err)
	}
	if err := zkml.VerifyProof(pv, f.p); err != nil {
		t.Errorf("VerifyProof(PLONK, PLONK proof) = %v", err)
	}
	// Raw bytes of one system under the other's key: malformed, not a panic.
	if err := gv.VerifyRaw(f.p.Plonk, f.p.Public.Vector()); !errors.Is(err, zkml.ErrVerify) {
		t.Errorf("Groth16 VerifyRaw(PLONK bytes) = %v", err)
	}
	if err := pv.VerifyRaw(gp.Groth16, gp.Public.Vector()); !errors.Is(err, zkml.ErrVerify) {
		t.Errorf("PLONK VerifyRaw(Groth16 bytes) = %v", err)
	}
	// Keys: each parses only as its own system, and the digests differ in
	// their tag.
	if _, err := zkml.ParseVerifier(zkml.BackendGroth16, pv.Bytes()); err == nil {
		t.Error("a PLONK key parses as Groth16")
	}
	if _, err := zkml.ParseVerifier(zkml.BackendPlonk, gv.Bytes()); err == nil {
		t.Error("a Groth16 key parses as PLONK")
	}
	if d, _ := zkml.VKDigest(gvk); d != gv.Digest() {
		t.Error("a Groth16 key's digest changed")
	}
	if pv.Digest() == zkml.KeyDigest(zkml.BackendGroth16, pv.Bytes()) {
		t.Error("a PLONK key's digest is not tagged")
	}
	if _, err := zkml.Prove(f.c, gpk, f.m, f.salt, f.in, nil); !errors.Is(err, zkml.ErrBackend) {
		t.Errorf("Prove(PLONK circuit) = %v", err)
	}
	if _, err := zkml.ProvePlonk(g, f.pk, f.m, f.salt, f.in, nil); !errors.Is(err, zkml.ErrBackend) {
		t.Errorf("ProvePlonk(Groth16 circuit) = %v", err)
	}
	if _, err := zkml.NewProver(g, f.pk); !errors.Is(err, zkml.ErrBackend) {
		t.Errorf("NewProver(Groth16 circuit, PLONK key) = %v", err)
	}
	if _, err := f.p.Solidity(); !errors.Is(err, zkml.ErrBackend) {
		t.Errorf("PLONK proof's Solidity() = %v", err)
	}
}

// TestPlonkSRSTooSmall: an SRS one power short is refused with the number
// needed; a fake one of the right size is refused too.
func TestPlonkSRSTooSmall(t *testing.T) {
	t.Parallel()
	f := plonkSmall(t)
	n := f.c.SRSSize()
	if n != int(f.c.Domain())+3 {
		t.Fatalf("SRSSize %d, domain %d", n, f.c.Domain())
	}
	srs, err := zkml.NewDevSRS(n - 1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = zkml.PlonkSetup(f.c, srs)
	if !errors.Is(err, zkml.ErrSRS) || !strings.Contains(err.Error(), "needs "+strconv.Itoa(n)) {
		t.Fatalf("PlonkSetup(short SRS) = %v", err)
	}
	// Right size, but not powers of one τ: the second half from another.
	other, err := zkml.NewDevSRS(n)
	if err != nil {
		t.Fatal(err)
	}
	fake := &kzg.SRS{Pk: kzg.ProvingKey{G1: append(slices.Clone(srs.Pk.G1[:n/2]), other.Pk.G1[n/2:]...)}, Vk: srs.Vk}
	if _, _, err := zkml.PlonkSetup(f.c, fake); !errors.Is(err, zkml.ErrSRS) {
		t.Fatalf("PlonkSetup(spliced SRS) = %v", err)
	}
}

// unitModel is a one-weight model: the smallest PLONK circuit (domain
// 4096), for the tests that run a powers-of-tau ceremony.
func unitModel() *runtime.Model {
	return &runtime.Model{
		Input: runtime.Shape{1}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{&runtime.Dense{In: 1, Out: 1, Weights: []int8{3}, Bias: []int32{7},
			Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{0}}}},
	}
}

// TestPlonkFromCeremony: a universal powers-of-tau ceremony with two
// contributors serves a PLONK setup; VerifyPlonkSetup replays its
// transcript and catches a bad contribution and keys that are not the
// SRS's; a dev setup is refused.
func TestPlonkFromCeremony(t *testing.T) {
	t.Parallel()
	m := unitModel()
	c, err := zkml.Compile(m, zkml.Options{Backend: zkml.BackendPlonk})
	if err != nil {
		t.Fatal(err)
	}
	salt, in := zkml.Salt{}, []int8{-5}
	root := t.TempDir()
	small := filepath.Join(root, "small")
	tau, err := zkml.NewPowersOfTau(small, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tau.Contribute("owner"); err != nil {
		t.Fatal(err)
	}
	if err := tau.Seal([]byte("a beacon of sixteen bytes or more")); err != nil {
		t.Fatal(err)
	}
	srs, _, err := zkml.CeremonySRS(small)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := zkml.PlonkSetup(c, srs); !errors.Is(err, zkml.ErrSRS) || !strings.Contains(err.Error(), "size "+strconv.Itoa(int(c.Domain()))) {
		t.Fatalf("PlonkSetup(ceremony of size 8) = %v", err)
	}

	tauDir := filepath.Join(root, "tau")
	tau, err = zkml.NewPowersOfTau(tauDir, c.Domain())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := zkml.CeremonySRS(tauDir); !errors.Is(err, zkml.ErrWrongPhase) {
		t.Fatalf("CeremonySRS(unsealed) = %v", err)
	}
	for _, name := range []string{"owner", "alice"} {
		if _, err := tau.Contribute(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := tau.Seal([]byte("beacon: block 5678 of some chain")); err != nil {
		t.Fatal(err)
	}
	if _, err := tau.Contribute("late"); !errors.Is(err, zkml.ErrWrongPhase) {
		t.Fatalf("Contribute(sealed powers of tau) = %v", err)
	}
	rep, err := zkml.VerifyCeremony(tauDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Phase1) != 2 || rep.SRS == nil || rep.SRS.Powers != 2*int(c.Domain())-1 {
		t.Fatalf("report %+v", rep)
	}
	srs, src, err := zkml.CeremonySRS(tauDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "setup")
	cer, err := zkml.SetupPlonk(dir, c, srs, *src)
	if err != nil {
		t.Fatal(err)
	}
	if mf := cer.Manifest(); mf.Backend != zkml.BackendPlonk || mf.Dev || mf.Source.Path != "../tau" {
		t.Fatalf("manifest %+v, source %+v", mf, mf.Source)
	}
	if _, _, err := cer.Keys(); !errors.Is(err, zkml.ErrBackend) {
		t.Fatalf("Keys() of a PLONK setup = %v", err)
	}
	reopened, err := zkml.OpenCeremony(dir)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := reopened.Prover()
	if err != nil {
		t.Fatal(err)
	}
	p, err := pr.Prove(m, salt, in, []byte("job-9"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := reopened.Verifier()
	if err != nil {
		t.Fatal(err)
	}
	if err := zkml.VerifyProof(v, p); err != nil {
		t.Fatal(err)
	}
	rep, err = zkml.VerifyCeremony(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backend != zkml.BackendPlonk || len(rep.Phase1) != 2 || rep.Phase1[1].Name != "alice" || rep.Circuit != c.ID() {
		t.Fatalf("report %+v", rep)
	}

	t.Run("moved", func(t *testing.T) {
		moved := copyDir(t, dir)
		if _, err := zkml.VerifyPlonkSetup(moved, ""); err == nil || !strings.Contains(err.Error(), "give its directory") {
			t.Fatalf("VerifyPlonkSetup(moved) = %v", err)
		}
		if _, err := zkml.VerifyPlonkSetup(moved, small); !errors.Is(err, zkml.ErrCeremony) {
			t.Fatalf("VerifyPlonkSetup(another ceremony) = %v", err)
		}
		if _, err := zkml.VerifyPlonkSetup(moved, tauDir); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad contribution", func(t *testing.T) {
		bad := copyDir(t, tauDir)
		p1 := mpcsetup.NewPhase1(c.Domain())
		p1.Contribute()
		replaceContribution(t, bad, "phase1/0002.bin", p1)
		if _, err := zkml.VerifyPlonkSetup(dir, bad); !errors.Is(err, zkml.ErrBadContribution) {
			t.Fatalf("VerifyPlonkSetup(bad contribution) = %v", err)
		}
	})
	t.Run("dev keys", func(t *testing.T) {
		bad := copyDir(t, dir)
		dev := filepath.Join(t.TempDir(), "dev")
		dc, err := zkml.SetupPlonk(dev, c, nil, zkml.SRSSource{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zkml.VerifyCeremony(dev); !errors.Is(err, zkml.ErrCeremony) || !strings.Contains(err.Error(), "dev setup") {
			t.Fatalf("VerifyCeremony(dev) = %v", err)
		}
		dpr, err := dc.Prover()
		if err != nil {
			t.Fatal(err)
		}
		dp, err := dpr.Prove(m, salt, in, []byte("job-9"))
		if err != nil {
			t.Fatal(err)
		}
		if err := zkml.VerifyProof(v, dp); !errors.Is(err, zkml.ErrVerify) {
			t.Fatalf("a proof under the dev key verifies under the ceremony's: %v", err)
		}
		for _, k := range []string{"pk.bin", "vk.bin"} {
			b, _ := os.ReadFile(filepath.Join(dev, k))
			os.WriteFile(filepath.Join(bad, k), b, 0o644)
		}
		editManifest(t, bad, func(m *zkml.CeremonyManifest) { m.PK, m.VK = dc.Manifest().PK, dc.Manifest().VK })
		if _, err := zkml.VerifyPlonkSetup(bad, tauDir); !errors.Is(err, zkml.ErrCeremony) {
			t.Fatalf("VerifyPlonkSetup(dev keys) = %v", err)
		}
	})
}

// TestPlonkSRSFile: an SRS file in gnark-crypto's encoding serves a setup
// that VerifyPlonkSetup checks against the file's digest.
func TestPlonkSRSFile(t *testing.T) {
	t.Parallel()
	f := plonkSmall(t)
	srs, err := zkml.NewDevSRS(f.c.SRSSize() + 100)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := srs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	file := filepath.Join(root, "srs.kzg")
	os.WriteFile(file, buf.Bytes(), 0o644)
	parsed, err := zkml.ParseSRS(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	d := zkml.Digest(sha256.Sum256(buf.Bytes()))
	dir := filepath.Join(root, "setup")
	if _, err := zkml.SetupPlonk(dir, f.c, parsed, zkml.SRSSource{Kind: zkml.SRSFile, Path: file, Digest: &d, Powers: len(parsed.Pk.G1)}); err != nil {
		t.Fatal(err)
	}
	rep, err := zkml.VerifyCeremony(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SRS.Kind != zkml.SRSFile || *rep.SRS.Digest != d {
		t.Fatalf("report %+v", rep.SRS)
	}
	// Another SRS file of the same size.
	other, _ := zkml.NewDevSRS(f.c.SRSSize() + 100)
	buf.Reset()
	other.WriteTo(&buf)
	os.WriteFile(file, buf.Bytes(), 0o644)
	if _, err := zkml.VerifyCeremony(dir); !errors.Is(err, zkml.ErrSRS) {
		t.Fatalf("VerifyCeremony(other SRS file) = %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"huge count":   {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"truncated":    buf.Bytes()[:buf.Len()-10],
		"trailing":     append(bytes.Clone(buf.Bytes()), 0),
		"not on curve": append([]byte{0, 0, 0, 1}, bytes.Repeat([]byte{0x11}, 32)...),
	} {
		if _, err := zkml.ParseSRS(b); !errors.Is(err, zkml.ErrSRS) {
			t.Errorf("ParseSRS(%s) = %v", name, err)
		}
	}
}
