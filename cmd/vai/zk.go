package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

func newZKCmd(g *globalFlags) *cobra.Command {
	zk := &cobra.Command{
		Use:   "zk",
		Short: "Prove inferences in zero knowledge: setup ceremony, commitments, proofs, verifiers",
		Long: `Prove that a committed model (weights private, committed by a salted Poseidon2
hash) gave an output on an input, for one job, with Groth16 on BN254. Keys come
from a multi-party ceremony: 'vai zk setup' starts it, 'vai zk contribute' adds
a contribution, 'vai zk seal' closes a phase with a public beacon, and
'vai zk verify-setup' replays the whole transcript.

PLONK is the option: 'vai zk setup MODEL --backend plonk' makes its keys from a
universal SRS that serves every circuit up to its size — a sealed
'vai zk powers-of-tau' ceremony (or any ceremony's phase 1), or an SRS file.`,
	}
	zk.AddCommand(newZKSetupCmd(g), newZKPowersOfTauCmd(g), newZKContributeCmd(g), newZKSealCmd(g), newZKVerifySetupCmd(g),
		newZKCommitCmd(g), newZKProveCmd(g), newZKVerifyCmd(g), newZKExportSolidityCmd(g),
		newZKCommitModelCmd(g), newZKLinkCmd(g), newZKJobProofCmd(g))
	return zk
}

func loadZKModel(path string) (*vairt.Model, error) {
	f := runtimeFlags{maxMemory: vairt.DefaultLimits.MaxMemory}
	m, _, err := f.load(path)
	return m, err
}

func newZKSetupCmd(g *globalFlags) *cobra.Command {
	var dir, name, backend string
	var publicInput, dev bool
	var pf plonkSetupFlags
	c := &cobra.Command{
		Use:   "setup MODEL --dir DIR [--backend plonk (--srs FILE | --ceremony DIR | --dev)]",
		Short: "Start a Groth16 setup ceremony for MODEL's architecture, or make its PLONK keys",
		Long: `Start the ceremony in DIR (created, must be empty) for the circuit of MODEL's
architecture (its weights are not used: one ceremony serves every weight version),
and add the first phase-1 contribution as NAME. Others then run 'vai zk contribute';
'vai zk seal' closes each phase with a public random beacon.

--dev makes the keys alone with gnark's plain setup instead (seconds, not minutes):
whoever runs it could forge proofs, so it is for tests and local devnets only, and
'vai zk verify-setup' refuses it.

--backend plonk makes PLONK keys in DIR at once, from a universal SRS: --ceremony
names a sealed 'vai zk powers-of-tau' ceremony (or any ceremony whose phase 1 is
sealed), --srs a KZG SRS file in gnark-crypto's encoding; --dev draws one alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			b, err := zkml.ParseBackend(backend)
			if err != nil {
				return err
			}
			m, err := loadZKModel(args[0])
			if err != nil {
				return err
			}
			if b == zkml.BackendPlonk {
				return plonkSetup(g, m, dir, publicInput, dev, pf)
			}
			if pf.srs != "" || pf.ceremony != "" {
				return fmt.Errorf("--srs and --ceremony are for --backend plonk; Groth16 starts its own ceremony")
			}
			circ, err := zkml.Compile(m, zkml.Options{PublicInput: publicInput})
			if err != nil {
				return err
			}
			cer, err := zkml.NewCeremony(dir, circ)
			if err != nil {
				return err
			}
			if dev {
				if err := cer.SealDev(); err != nil {
					return err
				}
				mf := cer.Manifest()
				if g.output == "json" {
					return writeJSON(g.stdout, mf)
				}
				fmt.Fprintf(g.stdout, "dev setup %s for circuit %s (%d constraints): single party, not for production\nverifying key %s\n", dir, mf.Circuit, mf.Constraints, mf.VK)
				return nil
			}
			rec, err := cer.Contribute(name)
			if err != nil {
				return err
			}
			mf := cer.Manifest()
			if g.output == "json" {
				return writeJSON(g.stdout, mf)
			}
			fmt.Fprintf(g.stdout, "ceremony %s for circuit %s (%d constraints, domain %d)\n", dir, mf.Circuit, mf.Constraints, mf.Domain)
			fmt.Fprintf(g.stdout, "phase 1 contribution 1 by %s: %s\n", name, rec.Digest)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "ceremony directory to create")
	c.Flags().StringVar(&name, "name", "owner", "name recorded with the contribution")
	c.Flags().BoolVar(&publicInput, "public-input", false, "make the input public instead of private with a public digest")
	c.Flags().BoolVar(&dev, "dev", false, "make the keys alone, without a ceremony (insecure; tests and devnets)")
	c.Flags().StringVar(&backend, "backend", "groth16", "proof system: groth16 or plonk")
	pf.register(c)
	return c
}

func newZKContributeCmd(g *globalFlags) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "contribute DIR",
		Short: "Add a contribution, with fresh randomness, to the open phase of a ceremony",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cer, err := zkml.OpenCeremony(args[0])
			if err != nil {
				return err
			}
			phase := cer.Manifest().Phase
			rec, err := cer.Contribute(name)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]any{"phase": phase, "contribution": rec})
			}
			fmt.Fprintf(g.stdout, "phase %d contribution %s by %s: %s\n", phase, rec.File, rec.Name, rec.Digest)
			fmt.Fprintln(g.stdout, "keep this digest: 'vai zk verify-setup' lists every contribution it checked")
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "anonymous", "name recorded with the contribution")
	return c
}

func newZKSealCmd(g *globalFlags) *cobra.Command {
	var beacon string
	c := &cobra.Command{
		Use:   "seal DIR --beacon HEX",
		Short: "Verify the open phase's contributions and close it with a public random beacon",
		Long: `Seal the open phase: phase 1 becomes the circuit-independent SRS and phase 2 opens;
sealing phase 2 writes the proving and verifying keys. The beacon must be public
randomness fixed after the phase's last contribution (say, a later block hash), in hex.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := hex.DecodeString(strings.TrimPrefix(beacon, "0x"))
			if err != nil || beacon == "" {
				return fmt.Errorf("--beacon must be hexadecimal")
			}
			cer, err := zkml.OpenCeremony(args[0])
			if err != nil {
				return err
			}
			if err := cer.Seal(b); err != nil {
				return err
			}
			mf := cer.Manifest()
			if g.output == "json" {
				return writeJSON(g.stdout, mf)
			}
			switch {
			case mf.PowersOfTau:
				fmt.Fprintf(g.stdout, "powers of tau sealed (%d contributions): srs %s\n", len(mf.Phase1), mf.SRS)
				fmt.Fprintf(g.stdout, "it serves PLONK circuits of domain up to %d: vai zk setup MODEL --backend plonk --ceremony %s\n", mf.Domain, args[0])
			case mf.Phase == 2:
				fmt.Fprintf(g.stdout, "phase 1 sealed (%d contributions): srs %s\n", len(mf.Phase1), mf.SRS)
			default:
				fmt.Fprintf(g.stdout, "phase 2 sealed (%d contributions)\nproving key   %s\nverifying key %s\n", len(mf.Phase2), mf.PK, mf.VK)
			}
			return nil
		},
	}
	c.Flags().StringVar(&beacon, "beacon", "", "public random beacon, hex (at least 16 bytes)")
	return c
}

func newZKVerifySetupCmd(g *globalFlags) *cobra.Command {
	var srsPath string
	c := &cobra.Command{
		Use:   "verify-setup DIR [--srs PATH]",
		Short: "Replay a finished ceremony: every contribution, both seals, the keys",
		Long: `Replay a finished ceremony: every contribution, both seals, the keys. For a PLONK
setup, fetch its SRS again — replaying the powers-of-tau ceremony it came from,
or checking the SRS file against its digest — and remake the keys from it; --srs
gives the ceremony directory or SRS file if it moved.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cer, err := zkml.OpenCeremony(args[0])
			if err != nil {
				return err
			}
			var rep *zkml.CeremonyReport
			if cer.Backend() == zkml.BackendPlonk {
				rep, err = zkml.VerifyPlonkSetup(args[0], srsPath)
			} else {
				rep, err = zkml.VerifyCeremony(args[0])
			}
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, rep)
			}
			if rep.SRS != nil {
				printSRSReport(g, cer.Manifest(), rep)
				return nil
			}
			fmt.Fprintf(g.stdout, "ceremony verified: circuit %s\n", rep.Circuit)
			for i, c := range rep.Phase1 {
				fmt.Fprintf(g.stdout, "phase 1 #%d %-12s %s\n", i+1, c.Name, c.Digest)
			}
			for i, c := range rep.Phase2 {
				fmt.Fprintf(g.stdout, "phase 2 #%d %-12s %s\n", i+1, c.Name, c.Digest)
			}
			fmt.Fprintf(g.stdout, "proving key   %s\nverifying key %s\n", rep.PK, rep.VK)
			return nil
		},
	}
	c.Flags().StringVar(&srsPath, "srs", "", "PLONK: the SRS's ceremony directory or file, if not where the setup records it")
	return c
}

// readSalt reads a salt file (0x-hex field element); with create, a missing
// file is created with a fresh salt.
func readSalt(path string, create bool) (zkml.Salt, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		s, err := zkml.NewSalt()
		if err != nil {
			return s, err
		}
		return s, os.WriteFile(path, []byte(zkml.FieldHex(s)+"\n"), 0o600)
	}
	if err != nil {
		return zkml.Salt{}, err
	}
	s, err := zkml.ParseFieldHex(strings.TrimSpace(string(b)))
	if err != nil {
		return s, fmt.Errorf("salt file %s: %w", path, err)
	}
	return s, nil
}

func newZKCommitCmd(g *globalFlags) *cobra.Command {
	var saltFile string
	c := &cobra.Command{
		Use:   "commit MODEL --salt FILE",
		Short: "Print the weight commitment of MODEL (creating the salt file if it does not exist)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if saltFile == "" {
				return fmt.Errorf("--salt is required (a file; keep it secret, provers need it)")
			}
			m, err := loadZKModel(args[0])
			if err != nil {
				return err
			}
			salt, err := readSalt(saltFile, true)
			if err != nil {
				return err
			}
			comm, err := zkml.Commit(m, salt)
			if err != nil {
				return err
			}
			a, _ := zkml.ArchOf(m)
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]string{"commitment": zkml.FieldHex(comm), "arch": zkml.Digest(a.Digest()).String()})
			}
			fmt.Fprintf(g.stdout, "commitment %s\narch       %s\n", zkml.FieldHex(comm), a.Digest())
			return nil
		},
	}
	c.Flags().StringVar(&saltFile, "salt", "", "salt file (0x-hex), created if missing")
	return c
}

func newZKProveCmd(g *globalFlags) *cobra.Command {
	var input, setup, saltFile, job, out string
	var quantized, saturate bool
	c := &cobra.Command{
		Use:   "prove MODEL --input FILE --setup DIR --salt FILE --job ID -o PROOF",
		Short: "Run MODEL on one input and prove the output for a job",
		Long: `Run MODEL on the first sample of FILE (CSV or JSON, as 'vai model run'; '-' reads
standard input) and write a proof that the model committed to with the salt gave
that output, bound to job ID. The keys come from the ceremony in DIR.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" || setup == "" || saltFile == "" || out == "" {
				return fmt.Errorf("--input, --setup, --salt and -o are required")
			}
			m, err := loadZKModel(args[0])
			if err != nil {
				return err
			}
			x, err := readOneSample(m, input, quantized, saturate)
			if err != nil {
				return err
			}
			salt, err := readSalt(saltFile, false)
			if err != nil {
				return err
			}
			cer, err := zkml.OpenCeremony(setup)
			if err != nil {
				return err
			}
			pr, err := cer.Prover()
			if err != nil {
				return err
			}
			p, err := pr.Prove(m, salt, x, []byte(job))
			if err != nil {
				return err
			}
			b, err := p.MarshalJSON()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]any{"proof": out, "output": p.Public.Output, "argmax": vairt.Argmax(p.Public.Output)})
			}
			fmt.Fprintf(g.stdout, "wrote %s (%d-byte %s proof)\noutput %v, argmax %d\n", out, len(p.Bytes()), p.Backend().Title(), p.Public.Output, vairt.Argmax(p.Public.Output))
			return nil
		},
	}
	c.Flags().StringVar(&input, "input", "", "input file (CSV or JSON; - for standard input)")
	c.Flags().StringVar(&setup, "setup", "", "finished ceremony directory")
	c.Flags().StringVar(&saltFile, "salt", "", "salt file of the model's commitment")
	c.Flags().StringVar(&job, "job", "", "job id the proof is bound to")
	c.Flags().StringVarP(&out, "out", "o", "", "proof file to write")
	c.Flags().BoolVar(&quantized, "quantized", false, "input values are int8 already")
	c.Flags().BoolVar(&saturate, "saturate", false, "clamp out-of-range inputs instead of failing")
	return c
}

func readOneSample(m *vairt.Model, path string, quantized, saturate bool) ([]int8, error) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	rows, err := vairt.ReadSamples(f, m.Input.Size())
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no sample", path)
	}
	if quantized {
		return vairt.ParseQuantized(rows[:1])
	}
	return m.QuantizeRows(rows[:1], saturate)
}

func newZKVerifyCmd(g *globalFlags) *cobra.Command {
	var setup, vkFile, job, commitment string
	c := &cobra.Command{
		Use:   "verify PROOF (--setup DIR | --vk FILE) [--job ID] [--commitment HEX]",
		Short: "Verify a proof file; optionally check its job and model commitment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var p zkml.Proof
			if err := p.UnmarshalJSON(b); err != nil {
				return err
			}
			var vk zkml.Verifier
			switch {
			case setup != "" && vkFile == "":
				cer, err := zkml.OpenCeremony(setup)
				if err != nil {
					return err
				}
				if cer.Backend() != p.Backend() {
					return fmt.Errorf("%s is a %s proof and %s a %s setup: verify it with the keys of its own proof system",
						args[0], p.Backend().Title(), setup, cer.Backend().Title())
				}
				if mf := cer.Manifest(); mf.Circuit != p.Circuit {
					return fmt.Errorf("the proof is for circuit %s, the ceremony for %s", p.Circuit, mf.Circuit)
				}
				if vk, err = cer.Verifier(); err != nil {
					return err
				}
			case vkFile != "" && setup == "":
				if vk, err = readVerifier(vkFile, p.Backend()); err != nil {
					return err
				}
			default:
				return fmt.Errorf("give one of --setup and --vk")
			}
			if err := zkml.VerifyProof(vk, &p); err != nil {
				return err
			}
			if cmd.Flags().Changed("job") && zkml.JobField([]byte(job)) != p.Public.JobID {
				return fmt.Errorf("the proof is valid but for another job than %q", job)
			}
			if commitment != "" {
				want, err := zkml.ParseFieldHex(commitment)
				if err != nil {
					return err
				}
				if want != p.Public.Commitment {
					return fmt.Errorf("the proof is valid but for another model commitment")
				}
			}
			d := vk.Digest()
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]any{"verified": true, "vk": d, "circuit": p.Circuit,
					"commitment": zkml.FieldHex(p.Public.Commitment), "job_id": zkml.FieldHex(p.Public.JobID),
					"output": p.Public.Output, "argmax": vairt.Argmax(p.Public.Output)})
			}
			fmt.Fprintf(g.stdout, "proof verified with verifying key %s\n", d)
			fmt.Fprintf(g.stdout, "commitment %s\njob id     %s\n", zkml.FieldHex(p.Public.Commitment), zkml.FieldHex(p.Public.JobID))
			if p.Public.Input == nil {
				fmt.Fprintf(g.stdout, "input      digest %s\n", zkml.FieldHex(p.Public.InputDigest))
			} else {
				fmt.Fprintf(g.stdout, "input      %v\n", p.Public.Input)
			}
			fmt.Fprintf(g.stdout, "output     %v, argmax %d\n", p.Public.Output, vairt.Argmax(p.Public.Output))
			return nil
		},
	}
	c.Flags().StringVar(&setup, "setup", "", "finished ceremony directory (its vk.bin)")
	c.Flags().StringVar(&vkFile, "vk", "", "verifying key file")
	c.Flags().StringVar(&job, "job", "", "check the proof is bound to this job id")
	c.Flags().StringVar(&commitment, "commitment", "", "check the proof is for this weight commitment (0x-hex)")
	return c
}

func newZKExportSolidityCmd(g *globalFlags) *cobra.Command {
	var setup, out string
	c := &cobra.Command{
		Use:   "export-solidity MODEL --setup DIR -o Verifier.sol",
		Short: "Write the Solidity verifier of MODEL's circuit (keys from the ceremony in DIR)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if setup == "" || out == "" {
				return fmt.Errorf("--setup and -o are required")
			}
			m, err := loadZKModel(args[0])
			if err != nil {
				return err
			}
			cer, err := zkml.OpenCeremony(setup)
			if err != nil {
				return err
			}
			mf := cer.Manifest()
			a, err := zkml.ArchOf(m)
			if err != nil {
				return err
			}
			if zkml.Digest(a.Digest()) != mf.Arch {
				return fmt.Errorf("%s has architecture %s, the ceremony is for %s", args[0], a.Digest(), mf.Arch)
			}
			vk, err := cer.Verifier()
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := vk.ExportSolidity(&buf); err != nil {
				return err
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]any{"file": out, "vk": vk.Digest(), "backend": vk.Backend()})
			}
			fmt.Fprintf(g.stdout, "wrote %s (%s verifying key %s)\n", out, vk.Backend().Title(), vk.Digest())
			return nil
		},
	}
	c.Flags().StringVar(&setup, "setup", "", "finished ceremony directory")
	c.Flags().StringVarP(&out, "out", "o", "", "Solidity file to write")
	return c
}
