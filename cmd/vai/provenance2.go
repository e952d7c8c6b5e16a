package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/wire"
)

// jsonArg reads a JSON value from a file, "-" (stdin) or an inline string.
func jsonArg(flag, s string, stdin io.Reader) (jsontext.Value, error) {
	if s == "" {
		return nil, nil
	}
	var b []byte
	switch {
	case s == "-":
		var err error
		if b, err = io.ReadAll(io.LimitReader(stdin, registry.MaxStatement)); err != nil {
			return nil, err
		}
	case strings.HasPrefix(strings.TrimSpace(s), "{") || strings.HasPrefix(strings.TrimSpace(s), "["):
		b = []byte(s)
	default:
		var err error
		if b, err = os.ReadFile(s); err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
	}
	v := jsontext.Value(b)
	if !v.IsValid() {
		return nil, fmt.Errorf("--%s: not valid JSON", flag)
	}
	return v, nil
}

func newRunCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "run", Short: "Record and show training runs (SLSA provenance)"}
	var (
		tf                           txFlags
		hf                           hashFlags
		from, checkpoint, name, code string
		datasets                     []string
		base, params, metrics, att   string
		started, finished            string
	)
	record := &cobra.Command{
		Use:   "record",
		Short: "Record a training run: checkpoint, datasets, base model, hyper-parameters and code, signed by the trainer",
		Long: `Record a training run as an SLSA Provenance v1 statement: its subject is the
trained checkpoint's manifest identity, its resolved dependencies the datasets,
the base model and the code (URI@commit), its external parameters the
hyper-parameters. The trainer (--from) signs the statement (DSSE over in-toto);
the statement goes to the content store and the chain records what it binds.
Then register the checkpoint with: vai model register PATH --run <run id>.`,
		Example: `  vai run record --from dev --checkpoint ./ckpt --dataset sha256:… \
      --params '{"lr":0.001,"epochs":10}' --code git+https://github.com/me/train@3f2a…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			ds, err := parseIDs("dataset", datasets)
			if err != nil {
				return err
			}
			baseID, err := optID("base", base)
			if err != nil {
				return err
			}
			uri, commit, ok := cutLast(code, "@")
			if !ok || uri == "" || commit == "" {
				return fmt.Errorf("--code %q: want URI@COMMIT", code)
			}
			hp, err := jsonArg("params", params, cmd.InOrStdin())
			if err != nil {
				return err
			}
			mt, err := jsonArg("metrics", metrics, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ck, err := registry.ParseID(checkpoint)
			if err != nil {
				b, berr := g.build(cmd.Context(), &hf, checkpoint)
				if berr != nil {
					return berr
				}
				ck = b.ID
				if name == "" {
					name = b.Manifest.Name
				}
			}
			kr, err := g.keyring(&tf.clientFlags)
			if err != nil {
				return err
			}
			key, err := kr.Signer(from)
			if err != nil {
				return err
			}
			trainer := wire.AddressFromPubKey(key.Public().(ed25519.PublicKey))
			st, err := registry.BuildRunStatement(registry.RunSpec{Checkpoint: ck, CheckpointName: name, Datasets: ds, Base: baseID,
				Hyperparameters: hp, CodeURI: uri, CodeCommit: commit, Metrics: mt, Trainer: trainer, Started: started, Finished: finished})
			if err != nil {
				return err
			}
			sig := ed25519.Sign(key, wire.PAE(registry.InTotoPayloadType, st))
			stCID, err := pc.PutBlob(cmd.Context(), st)
			if err != nil {
				return err
			}
			msg := registry.MsgRecordRun{Statement: st, Signature: sig, StatementCID: stCID}
			if att != "" {
				data, err := os.ReadFile(att)
				if err != nil {
					return fmt.Errorf("--attestation: %w", err)
				}
				if msg.AttestationCID, err = pc.PutBlob(cmd.Context(), data); err != nil {
					return err
				}
			}
			fmt.Fprintf(g.stderr, "run %s: checkpoint %s, statement %s\n", registry.RunID(st), ck, stCID)
			return g.sendMsg(cmd.Context(), &tf, from, "registry/record_run", msg)
		},
	}
	tf.register(record)
	hf.register(record)
	fl := record.Flags()
	fl.StringVar(&from, "from", "", "the trainer's key: signs the statement and the transaction (required)")
	fl.StringVar(&checkpoint, "checkpoint", "", "the trained checkpoint: a directory to hash, or its manifest identity (required)")
	fl.StringVar(&name, "name", "", "checkpoint name (default: the directory's)")
	fl.StringArrayVar(&datasets, "dataset", nil, "ID of a training dataset (repeatable)")
	fl.StringVar(&base, "base", "", "ID of the base model")
	fl.StringVar(&params, "params", "", "hyper-parameters: JSON, a JSON file, or - for stdin (required)")
	fl.StringVar(&code, "code", "", "training code as URI@COMMIT (required)")
	fl.StringVar(&metrics, "metrics", "", "metrics as JSON or a JSON file (recorded as a byproduct)")
	fl.StringVar(&att, "attestation", "", "file with an attestation of the training environment (stored in the content store)")
	fl.StringVar(&started, "started", "", "start time, RFC 3339")
	fl.StringVar(&finished, "finished", "", "end time, RFC 3339")
	for _, r := range []string{"from", "checkpoint", "params", "code"} {
		record.MarkFlagRequired(r)
	}
	cmd.AddCommand(record, newShowCmd(g, "run"))
	return cmd
}

func newLineageCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "lineage ID",
		Short: "Show everything a dataset or model derives from (text, json, dot or openlineage)",
		Long: `Show the lineage of a dataset, model or run: parent datasets, base models,
training datasets and runs, with licences, owners and any flag or withdrawal
anywhere upstream. --output dot writes a Graphviz graph; --output openlineage
writes OpenLineage run events (one per model: its datasets and base model in,
the checkpoint out).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			id, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			l, err := pc.Lineage(cmd.Context(), id)
			if err != nil {
				return err
			}
			switch g.output {
			case "dot":
				provenance.RenderDOT(g.stdout, l)
				return nil
			case "openlineage":
				chainID, err := pc.Chain.ChainID(cmd.Context())
				if err != nil {
					return err
				}
				return g.printJSON(provenance.OpenLineage(l, chainID))
			case "json":
				return g.printJSON(l)
			}
			provenance.RenderText(g.stdout, l)
			g.printf("licences: %s\n", strings.Join(provenance.Licences(l), ", "))
			return nil
		},
	}
	f.register(cmd)
	cmd.Annotations = map[string]string{"outputs": "text,json,dot,openlineage"}
	return cmd
}

func newVerifyCmd(g *globalFlags) *cobra.Command {
	var (
		f  clientFlags
		hf hashFlags
		pf proveFlags
		id string
	)
	cmd := &cobra.Command{
		Use:   "verify PATH",
		Short: "Check a directory against the registry: what it is, its lineage, licences and flags",
		Long: `Hash PATH and find its registration by identity: print kind, name, owner,
time, licence, lineage summary and flags. With --id, compare PATH against that
registration (hashed the way its manifest was) and list changed, missing and
extra files. With --prove, check every fact reported — each record of the
lineage, and its flags or their absence — with ICS23 proofs against headers
verified by CometBFT's light client.

Exit status 0 only when PATH matches a registration that is neither flagged
nor withdrawn (and, with --prove, every proof verified).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			o := provenance.VerifyOptions{}
			if o.Build, err = hf.config(g, args[0]); err != nil {
				return err
			}
			if o.ID, err = optID("id", id); err != nil {
				return err
			}
			if pf.prove {
				_, cc, home, err := g.dial(&f)
				if err != nil {
					return err
				}
				if o.Verifier, err = g.verifier(cmd, pc.Chain, nodeURL(cc.Node), home, &pf); err != nil {
					return err
				}
			}
			defer progress(g.stderr, &o.Build)()
			rep, err := pc.Verify(cmd.Context(), args[0], o)
			if err != nil {
				return withHint(err)
			}
			perr := g.print(rep, func() { printVerify(g, rep) })
			if perr != nil {
				return perr
			}
			if !rep.OK {
				return fmt.Errorf("%s", strings.Join(rep.Reasons, "; "))
			}
			return nil
		},
	}
	f.register(cmd)
	hf.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "compare with this registration and list the files that differ")
	return cmd
}

func printVerify(g *globalFlags, rep *provenance.VerifyReport) {
	g.printf("path       %s\nidentity   %s\n", rep.Path, rep.Identity)
	if d := rep.Diff; d != nil {
		for _, p := range d.Changed {
			g.printf("changed    %s\n", p)
		}
		for _, p := range d.Missing {
			g.printf("missing    %s\n", p)
		}
		for _, p := range d.Extra {
			g.printf("extra      %s\n", p)
		}
	}
	if rep.Record != nil {
		g.printf("registered %s\n", provenance.Describe(rep.Lineage.Nodes[0]))
		if rep.Lineage != nil && len(rep.Lineage.Nodes) > 1 {
			g.printf("lineage:\n")
			for _, n := range rep.Lineage.Nodes[1:] {
				g.printf("  %s\n", provenance.Describe(n))
			}
			g.printf("licences   %s\n", strings.Join(provenance.Licences(rep.Lineage), ", "))
		}
		g.printf("%s\n", provenance.StatusLine(rep.Record.Status))
	}
	if len(rep.Proofs) > 0 {
		ok := 0
		for _, p := range rep.Proofs {
			if p.Verified {
				ok++
			}
		}
		g.printf("proofs     %d of %d facts verified against header %d (state at height %d)\n", ok, len(rep.Proofs), rep.Proofs[0].HeaderHeight, rep.Proofs[0].Height)
	}
	if rep.OK {
		g.printf("OK: matches a registration that is neither flagged nor withdrawn\n")
	}
}

func newAuditCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Export and verify offline audit bundles"}
	var (
		f   clientFlags
		pf  proveFlags
		out string
	)
	export := &cobra.Command{
		Use:   "export ID -o FILE",
		Short: "Write one self-contained file that proves a record's whole lineage",
		Long: `Write an audit bundle: the records of ID's whole lineage with their ICS23
proofs, the chain of signed headers and validator sets that commits to them
(from the genesis validators when the home has the chain's genesis file), and
the manifests and run statements. 'vai audit verify' checks it with no network.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("-o FILE is required")
			}
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			id, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			_, cc, home, err := g.dial(&f)
			if err != nil {
				return err
			}
			// A fresh trust root from genesis: the bundle's header chain must
			// start where the auditor's trust does, not at a saved root.
			pf.noSave = true
			v, err := g.verifier(cmd, pc.Chain, nodeURL(cc.Node), home, &pf)
			if err != nil {
				return err
			}
			b, err := pc.Export(cmd.Context(), v, v.Genesis(), id)
			if err != nil {
				return err
			}
			data, err := b.Encode()
			if err != nil {
				return err
			}
			if err := writeFileAtomic(out, append(data, '\n')); err != nil {
				return err
			}
			rep, err := provenance.VerifyBundle(data, "")
			if err != nil {
				return fmt.Errorf("the bundle written does not verify: %w", err)
			}
			return g.print(map[string]any{"file": out, "trust_root": rep.TrustRoot, "records": len(rep.Lineage.Nodes), "height": b.Height}, func() {
				g.printf("wrote %s: %d records of the lineage of %s, proven at height %d\n", out, len(rep.Lineage.Nodes), id, b.Height)
				g.printf("trust root: header %d, hash %s%s\n", rep.TrustHeight, rep.TrustRoot, fromGenesis(rep))
				g.printf("verify with: vai audit verify %s --trust %s\n", out, rep.TrustRoot)
			})
		},
	}
	f.register(export)
	pf.register(export)
	export.Flags().StringVarP(&out, "out", "o", "", "bundle file to write (required)")

	var trust string
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check an audit bundle with no network and print the lineage with licences",
		Long: `Check an audit bundle offline: each header follows from the one before (the first
from the genesis validators, when the bundle has them), every record is proven
against the last header's app hash, the lineage is complete, the manifests are
the preimages of their identities and match their Merkle commitments, and the
run statements carry their trainer's signature. --trust pins the first header's
hash (as 'vai audit export' prints it, or from a source you trust): without it
the bundle is only shown to be consistent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			rep, err := provenance.VerifyBundle(data, trust)
			if err != nil {
				return err
			}
			return g.print(rep, func() {
				g.printf("bundle %s (sha256 %s)\n", args[0], provenance.Digest(data))
				g.printf("chain %s, state at height %d, %d checks passed\n", rep.ChainID, rep.Height, rep.Checks)
				if rep.Pinned {
					g.printf("trust: pinned to header %d, hash %s%s\n", rep.TrustHeight, rep.TrustRoot, fromGenesis(rep))
				} else {
					g.printf("trust: NOT PINNED — consistent from header %d, hash %s%s; pass --trust to pin it\n", rep.TrustHeight, rep.TrustRoot, fromGenesis(rep))
				}
				provenance.RenderText(g.stdout, rep.Lineage)
				g.printf("licences: %s\n", strings.Join(rep.Licences, ", "))
			})
		},
	}
	verify.Flags().StringVar(&trust, "trust", "", "hash of the first header of the bundle's chain, from a source you trust")
	cmd.AddCommand(export, verify)
	return cmd
}

func fromGenesis(rep *provenance.BundleReport) string {
	if rep.FromGenesis {
		return " (checked against the genesis validators)"
	}
	return ""
}

// fileHash is the SHA-256 content hash of a file, as the registry writes it.
func fileHash(path string) (registry.ContentHash, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return registry.ContentHash("sha256:" + hex.EncodeToString(h.Sum(nil))), nil
}

// hashArg is a content hash given as such, or the hash of a file.
func hashArg(s string) (registry.ContentHash, error) {
	if h, err := registry.ParseContentHash(s); err == nil {
		return h, nil
	}
	if _, err := os.Stat(s); err != nil {
		return "", fmt.Errorf("%q is neither a content hash (sha256:<hex>) nor a file", s)
	}
	return fileHash(s)
}

func newContentCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "content", Short: "Register works with an authorship claim, and check files against the registry"}
	var (
		tf                 txFlags
		from, claim, model string
		name               string
	)
	register := &cobra.Command{
		Use:   "register FILE",
		Short: "Register a work: human-made, AI-generated by a model, or AI-assisted",
		Example: `  vai content register essay.txt --claim human --from alice --wait
  vai content register picture.png --claim ai-generated --model sha256:… --from bob`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := fileHash(args[0])
			if err != nil {
				return err
			}
			mid, err := optID("model", model)
			if err != nil {
				return err
			}
			if name == "" {
				name = baseName(args[0])
			}
			m, err := wire.NewMsg("registry/register_work", registry.MsgRegisterWork{Hash: h, Name: name, Claim: claim, Model: mid})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "work %s\n", h)
			return g.send(cmd.Context(), &tf, from, m)
		},
	}
	tf.register(register)
	register.Flags().StringVar(&from, "from", "", "creator's key (required)")
	register.Flags().StringVar(&claim, "claim", "", "human, ai-generated or ai-assisted (required)")
	register.Flags().StringVar(&model, "model", "", "ID of the model that generated or assisted the work")
	register.Flags().StringVar(&name, "name", "", "name of the work (default: the file's)")
	register.MarkFlagRequired("from")
	register.MarkFlagRequired("claim")

	var cf clientFlags
	check := &cobra.Command{
		Use:   "check FILE|HASH",
		Short: "Look a file up: its registered claim and its deny-list status",
		Long:  "Exit status 0 when the file is registered and not on the active deny-list.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := hashArg(args[0])
			if err != nil {
				return err
			}
			c, _, _, err := g.dial(&cf)
			if err != nil {
				return err
			}
			var w registry.WorkResponse
			if _, err := c.Query(cmd.Context(), "/registry/work", map[string]any{"hash": h}, &w, 0); err != nil {
				return err
			}
			if err := g.print(w, func() { printWork(g, &w) }); err != nil {
				return err
			}
			switch {
			case w.Deny != nil && w.Deny.State == registry.DenyActive:
				return fmt.Errorf("%s is on the deny-list: %s", h, w.Deny.Reason)
			case w.Work == nil:
				return fmt.Errorf("%s is not registered", h)
			}
			return nil
		},
	}
	cf.register(check)
	cmd.AddCommand(register, check)
	return cmd
}

func printWork(g *globalFlags, w *registry.WorkResponse) {
	g.printf("hash     %s\n", w.Hash)
	if w.Work == nil {
		g.printf("work     not registered\n")
	} else {
		claim := w.Work.Claim
		if w.Work.Model != "" {
			claim += " (model " + string(w.Work.Model) + ")"
		}
		g.printf("work     %q, %s, by %s at height %d (%s)\n", w.Work.Name, claim, w.Work.Creator, w.Work.Registered.Height, w.Work.Registered.Time.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if w.Deny != nil {
		g.printf("deny     %s by %s: %s (deadline %d)\n", w.Deny.State, w.Deny.Holder, w.Deny.Reason, w.Deny.Deadline)
	} else {
		g.printf("deny     not on the deny-list\n")
	}
}

func baseName(p string) string {
	i := strings.LastIndexAny(p, "/\\")
	return p[i+1:]
}
