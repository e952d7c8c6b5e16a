package main

import (
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/consensys/gnark-crypto/ecc/bn254/kzg"
	"github.com/spf13/cobra"

	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// plonkSetupFlags are vai zk setup's flags for --backend plonk.
type plonkSetupFlags struct {
	srs, ceremony string
}

func (f *plonkSetupFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.srs, "srs", "", "PLONK: a universal KZG SRS file (gnark-crypto encoding)")
	c.Flags().StringVar(&f.ceremony, "ceremony", "", "PLONK: a sealed powers-of-tau ceremony (or any ceremony with phase 1 sealed)")
}

// plonkSetup makes MODEL's PLONK keys in dir from the SRS the flags name.
func plonkSetup(g *globalFlags, m *vairt.Model, dir string, publicInput, dev bool, f plonkSetupFlags) error {
	n := 0
	for _, set := range []bool{f.srs != "", f.ceremony != "", dev} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("--backend plonk takes exactly one of --srs FILE, --ceremony DIR and --dev")
	}
	circ, err := zkml.Compile(m, zkml.Options{PublicInput: publicInput, Backend: zkml.BackendPlonk})
	if err != nil {
		return err
	}
	var (
		srs *kzg.SRS
		src = &zkml.SRSSource{}
	)
	switch {
	case f.srs != "":
		b, err := os.ReadFile(f.srs)
		if err != nil {
			return err
		}
		if srs, err = zkml.ParseSRS(b); err != nil {
			return fmt.Errorf("%s: %w", f.srs, err)
		}
		d := zkml.Digest(sha256.Sum256(b))
		src = &zkml.SRSSource{Kind: zkml.SRSFile, Path: f.srs, Digest: &d, Powers: len(srs.Pk.G1)}
	case f.ceremony != "":
		if srs, src, err = zkml.CeremonySRS(f.ceremony); err != nil {
			return err
		}
	}
	cer, err := zkml.SetupPlonk(dir, circ, srs, *src)
	if err != nil {
		return err
	}
	vk, err := cer.Verifier()
	if err != nil {
		return err
	}
	mf := cer.Manifest()
	if g.output == "json" {
		return writeJSON(g.stdout, map[string]any{"manifest": mf, "vk": vk.Digest()})
	}
	fmt.Fprintf(g.stdout, "PLONK setup %s for circuit %s (%d gates, domain %d)\n", dir, mf.Circuit, mf.Constraints, mf.Domain)
	switch s := mf.Source; s.Kind {
	case zkml.SRSDev:
		fmt.Fprintln(g.stdout, "SRS drawn alone (dev): single party, not for production")
	case zkml.SRSCeremony:
		fmt.Fprintf(g.stdout, "SRS from ceremony %s (srs %s, %d powers)\n", f.ceremony, s.Digest, s.Powers)
	default:
		fmt.Fprintf(g.stdout, "SRS from file %s (%s, %d powers)\n", f.srs, s.Digest, s.Powers)
	}
	fmt.Fprintf(g.stdout, "verifying key %s\n", vk.Digest())
	return nil
}

func newZKPowersOfTauCmd(g *globalFlags) *cobra.Command {
	var dir, name string
	var size uint64
	c := &cobra.Command{
		Use:   "powers-of-tau --dir DIR --size N",
		Short: "Start a universal powers-of-tau ceremony (PLONK's SRS), with the first contribution",
		Long: `Start in DIR (created, must be empty) a ceremony of one phase, powers of τ, whose
sealed result is a KZG SRS serving every PLONK circuit of domain up to N (a power
of two; 'vai zk setup MODEL --backend plonk' says the domain a model needs), and
add the first contribution as NAME. Others run 'vai zk contribute DIR'; 'vai zk
seal DIR --beacon HEX' closes it; 'vai zk verify-setup DIR' replays it. A
contribution costs about 4N G1 and N G2 scalar multiplications: 21 s at N = 65536
on two cores, and sealing (which verifies every contribution) about 30 s.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || size == 0 {
				return fmt.Errorf("--dir and --size are required")
			}
			cer, err := zkml.NewPowersOfTau(dir, size)
			if err != nil {
				return err
			}
			rec, err := cer.Contribute(name)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, cer.Manifest())
			}
			fmt.Fprintf(g.stdout, "powers-of-tau ceremony %s of size %d\n", dir, size)
			fmt.Fprintf(g.stdout, "phase 1 contribution 1 by %s: %s\n", name, rec.Digest)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "ceremony directory to create")
	c.Flags().Uint64Var(&size, "size", 0, "largest PLONK domain served, a power of two")
	c.Flags().StringVar(&name, "name", "owner", "name recorded with the contribution")
	return c
}

// readVerifier reads a verifying key file of the proof's backend, and says
// so plainly when the file is a key of the other proof system.
func readVerifier(path string, b zkml.Backend) (zkml.Verifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vk, err := zkml.ParseVerifier(b, raw)
	if err == nil {
		return vk, nil
	}
	other := zkml.BackendPlonk
	if b == zkml.BackendPlonk {
		other = zkml.BackendGroth16
	}
	if _, err2 := zkml.ParseVerifier(other, raw); err2 == nil {
		return nil, fmt.Errorf("%s is a %s verifying key and the proof a %s proof: verify it with the keys of its own proof system", path, other.Title(), b.Title())
	}
	return nil, err
}

// printSRSReport prints verify-setup's report of a PLONK setup or a
// powers-of-tau ceremony.
func printSRSReport(g *globalFlags, mf zkml.CeremonyManifest, rep *zkml.CeremonyReport) {
	if mf.PowersOfTau {
		fmt.Fprintf(g.stdout, "powers-of-tau ceremony verified: size %d, srs %s (%d powers)\n", mf.Domain, rep.SRS.Digest, rep.SRS.Powers)
	} else {
		fmt.Fprintf(g.stdout, "PLONK setup verified: circuit %s\n", rep.Circuit)
		switch rep.SRS.Kind {
		case zkml.SRSCeremony:
			fmt.Fprintf(g.stdout, "SRS from ceremony %s (srs %s), replayed:\n", rep.SRS.Path, rep.SRS.Digest)
		default:
			fmt.Fprintf(g.stdout, "SRS from file %s (%s): where it came from is for you to check\n", rep.SRS.Path, rep.SRS.Digest)
		}
	}
	for i, c := range rep.Phase1 {
		fmt.Fprintf(g.stdout, "phase 1 #%d %-12s %s\n", i+1, c.Name, c.Digest)
	}
	if !mf.PowersOfTau {
		fmt.Fprintf(g.stdout, "proving key   %s\nverifying key %s\n", rep.PK, rep.VK)
	}
}
