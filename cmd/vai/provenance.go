package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/wire"
)

// provenance connects to the node's RPC and REST API.
func (g *globalFlags) provenance(f *clientFlags) (*provenance.Client, error) {
	c, cc, _, err := g.dial(f)
	if err != nil {
		return nil, err
	}
	return provenance.New(c, cc.API), nil
}

// build hashes a directory with the hash flags, showing progress.
func (g *globalFlags) build(ctx context.Context, hf *hashFlags, path string) (*provenance.Built, error) {
	cfg, err := hf.config(g, path)
	if err != nil {
		return nil, err
	}
	defer progress(g.stderr, &cfg)()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := provenance.Build(ctx, path, cfg)
	if err != nil {
		return nil, withHint(err)
	}
	if b.CacheErr != nil {
		fmt.Fprintf(g.stderr, "vai: warning: %v\n", b.CacheErr)
	}
	return b, nil
}

func parseIDs(flag string, ss []string) ([]registry.ID, error) {
	var out []registry.ID
	for _, s := range ss {
		id, err := registry.ParseID(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		out = append(out, id)
	}
	return out, nil
}

func optID(flag, s string) (registry.ID, error) {
	if s == "" {
		return "", nil
	}
	id, err := registry.ParseID(s)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	return id, nil
}

func newDatasetCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "dataset", Short: "Register, show, list and withdraw datasets"}
	var (
		tf           txFlags
		hf           hashFlags
		from, name   string
		license      string
		contributors []string
		parents      []string
	)
	register := &cobra.Command{
		Use:   "register PATH",
		Short: "Hash a dataset directory and register it with its licence and contributors",
		Long: `Hash PATH into an OMS manifest, store the manifest in the node's content store,
and register the dataset under the manifest's identity, with an SPDX licence
expression, contributors and their integer weights (royalties are split pro
rata to them; default: the signer alone), and parent datasets.`,
		Example: `  vai dataset register ./breast-cancer --license CC-BY-4.0 --from dev \
      --contributor vai1…=3 --contributor vai1…=1 --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			var cs []registry.Contributor
			for _, s := range contributors {
				a, w, ok := cutLast(s, "=")
				if !ok {
					return fmt.Errorf("--contributor %q: want ADDRESS=WEIGHT", s)
				}
				addr, err := g.resolveAddress(&tf.clientFlags, a)
				if err != nil {
					return err
				}
				weight, err := strconv.ParseUint(w, 10, 64)
				if err != nil || weight == 0 {
					return fmt.Errorf("--contributor %q: the weight must be a positive integer", s)
				}
				cs = append(cs, registry.Contributor{Address: addr, Weight: weight})
			}
			ps, err := parseIDs("parent", parents)
			if err != nil {
				return err
			}
			b, err := g.build(cmd.Context(), &hf, args[0])
			if err != nil {
				return err
			}
			if name == "" {
				name = b.Manifest.Name
			}
			content, err := pc.Store(cmd.Context(), b)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "dataset %s: %d files, %s, manifest %s\n", b.ID, b.Files, humanBytes(b.Bytes), content.ManifestCID)
			return g.sendMsg(cmd.Context(), &tf, from, "registry/register_dataset", registry.MsgRegisterDataset{ID: b.ID, Name: name, License: license, Contributors: cs, Parents: ps, Content: content})
		},
	}
	tf.register(register)
	hf.register(register)
	register.Flags().StringVar(&from, "from", "", "key that registers (and owns) the dataset (required)")
	register.Flags().StringVar(&name, "name", "", "dataset name (default: the directory's name)")
	register.Flags().StringVar(&license, "license", "", "SPDX licence expression, e.g. CC-BY-4.0 or MIT OR Apache-2.0 (required)")
	register.Flags().StringArrayVar(&contributors, "contributor", nil, "contributor ADDRESS=WEIGHT (repeatable)")
	register.Flags().StringArrayVar(&parents, "parent", nil, "ID of a dataset this one derives from (repeatable)")
	register.MarkFlagRequired("from")
	register.MarkFlagRequired("license")

	var wf txFlags
	var wfrom, reason string
	withdraw := &cobra.Command{
		Use:   "withdraw ID",
		Short: "Tombstone a dataset you own (consent withdrawn)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			return g.sendMsg(cmd.Context(), &wf, wfrom, "registry/withdraw_dataset", registry.MsgWithdrawDataset{ID: id, Reason: reason})
		},
	}
	wf.register(withdraw)
	withdraw.Flags().StringVar(&wfrom, "from", "", "owner's key (required)")
	withdraw.Flags().StringVar(&reason, "reason", "", "why")
	withdraw.MarkFlagRequired("from")
	cmd.AddCommand(register, withdraw, newShowCmd(g, "dataset"), newListCmd(g, "dataset"))
	return cmd
}

func newShowCmd(g *globalFlags, kind string) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a registered " + kind + " and the status of its lineage",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			id, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			rec, err := pc.Record(cmd.Context(), id)
			if err != nil {
				return err
			}
			if rec == nil || (kind != "record" && rec.Kind != kind) {
				return fmt.Errorf("no %s is registered as %s", kind, id)
			}
			return g.print(rec, func() {
				g.printf("%s\n", provenance.Describe(registry.Node{ID: id, Kind: rec.Kind, Dataset: rec.Dataset, Model: rec.Model, Run: rec.Run}))
				printRecordDetails(g, rec)
				g.printf("%s\n", provenance.StatusLine(rec.Status))
			})
		},
	}
	f.register(cmd)
	return cmd
}

func printRecordDetails(g *globalFlags, rec *registry.RecordResponse) {
	switch {
	case rec.Dataset != nil:
		d := rec.Dataset
		g.printf("manifest      %s (%s, Merkle root %s over %d resources)\n", d.ManifestCID, d.HashType, d.MerkleRoot, d.Resources)
		for _, c := range d.Contributors {
			g.printf("contributor   %s weight %d\n", c.Address, c.Weight)
		}
		for _, p := range d.Parents {
			g.printf("parent        %s\n", p)
		}
	case rec.Model != nil:
		m := rec.Model
		g.printf("manifest      %s (%s, Merkle root %s over %d resources)\n", m.ManifestCID, m.HashType, m.MerkleRoot, m.Resources)
		g.printf("terms         %s per call, %d bps royalty to data contributors\n", m.Terms.Price, m.Terms.RoyaltyBps)
		if m.Base != "" {
			g.printf("base          %s\n", m.Base)
		}
		for _, d := range m.Datasets {
			g.printf("dataset       %s\n", d)
		}
		if m.Run != "" {
			g.printf("run           %s\n", m.Run)
		}
	case rec.Run != nil:
		r := rec.Run
		g.printf("checkpoint    %s\nstatement     %s\n", r.Checkpoint, r.StatementCID)
		for _, d := range r.Datasets {
			g.printf("dataset       %s\n", d)
		}
	}
	for _, u := range rec.UsedBy {
		g.printf("used by       %s\n", u)
	}
}

func newListCmd(g *globalFlags, kind string) *cobra.Command {
	var f clientFlags
	var owner, after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered " + kind + "s",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			req := map[string]any{"kind": kind, "limit": limit}
			if owner != "" {
				a, err := g.resolveAddress(&f, owner)
				if err != nil {
					return err
				}
				req["owner"] = a
			}
			if after != "" {
				req["start_after"] = after
			}
			var page registry.ListResponse
			if _, err := pc.Chain.Query(cmd.Context(), "/registry/list", req, &page, 0); err != nil {
				return err
			}
			return g.print(page, func() {
				for _, d := range page.Datasets {
					g.printf("%s  %-24s %-14s %s\n", d.ID, d.Name, d.License, d.Owner)
				}
				for _, m := range page.Models {
					g.printf("%s  %-24s %-14s %s\n", m.ID, m.Name, m.License, m.Owner)
				}
				if page.Next != "" {
					g.printf("more: --start-after %s\n", page.Next)
				}
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&owner, "owner", "", "only those of this address or key")
	cmd.Flags().StringVar(&after, "start-after", "", "page from after this ID")
	cmd.Flags().IntVar(&limit, "limit", 50, "page size (at most 200)")
	return cmd
}

// addModelRegistryCommands adds register, alias, show and list to `vai model`.
func addModelRegistryCommands(model *cobra.Command, g *globalFlags) {
	var (
		tf               txFlags
		hf               hashFlags
		from, name, lic  string
		format, arch     string
		datasets         []string
		base, run, price string
		royalty          uint32
	)
	register := &cobra.Command{
		Use:   "register PATH",
		Short: "Hash a model checkpoint and register it with its lineage and usage terms",
		Example: `  vai model register ./ckpt --from dev --name digits-mlp --dataset sha256:… \
      --run sha256:… --license Apache-2.0 --price 100uvai --royalty-bps 2000 --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			runID, err := optID("run", run)
			if err != nil {
				return err
			}
			terms := registry.Terms{RoyaltyBps: royalty}
			if price != "" {
				if terms.Price, err = wire.ParseCoin(price); err != nil {
					return fmt.Errorf("--price: %w", err)
				}
			}
			b, err := g.build(cmd.Context(), &hf, args[0])
			if err != nil {
				return err
			}
			content, err := pc.Store(cmd.Context(), b)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "model %s: %d files, %s, manifest %s\n", b.ID, b.Files, humanBytes(b.Bytes), content.ManifestCID)
			m, err := wire.NewMsg("registry/register_model", registry.MsgRegisterModel{ID: b.ID, Name: name, Format: format, Architecture: arch,
				License: lic, Terms: terms, Base: baseID, Datasets: ds, Run: runID, Content: content})
			if err != nil {
				return err
			}
			return g.send(cmd.Context(), &tf, from, m)
		},
	}
	tf.register(register)
	hf.register(register)
	fl := register.Flags()
	fl.StringVar(&from, "from", "", "key that registers (and owns) the model (required)")
	fl.StringVar(&name, "name", "", "model name; the first owner of a name keeps it (required)")
	fl.StringVar(&lic, "license", "", "SPDX licence expression (required)")
	fl.StringVar(&format, "format", "", "format hint, e.g. onnx, vaim, safetensors")
	fl.StringVar(&arch, "arch", "", "architecture hint, e.g. mlp-64-32-10")
	fl.StringArrayVar(&datasets, "dataset", nil, "ID of a training dataset (repeatable; default: the run's)")
	fl.StringVar(&base, "base", "", "ID of the base model")
	fl.StringVar(&run, "run", "", "ID of the training run that produced this checkpoint")
	fl.StringVar(&price, "price", "", "price per inference call, e.g. 100uvai")
	fl.Uint32Var(&royalty, "royalty-bps", 0, "share of revenue to dataset contributors, in basis points")
	for _, r := range []string{"from", "name", "license"} {
		register.MarkFlagRequired(r)
	}

	var af txFlags
	var afrom string
	alias := &cobra.Command{
		Use:   "alias NAME@ALIAS ID",
		Short: "Point an alias (prod, staging, …) of a model name at one of its models",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, a, ok := strings.Cut(args[0], "@")
			if !ok {
				return fmt.Errorf("%q: want NAME@ALIAS", args[0])
			}
			id, err := registry.ParseID(args[1])
			if err != nil {
				return err
			}
			return g.sendMsg(cmd.Context(), &af, afrom, "registry/set_alias", registry.MsgSetAlias{Name: n, Alias: a, Model: id})
		},
	}
	af.register(alias)
	alias.Flags().StringVar(&afrom, "from", "", "the name owner's key (required)")
	alias.MarkFlagRequired("from")

	var hf2 clientFlags
	history := &cobra.Command{
		Use:   "aliases NAME@ALIAS",
		Short: "Show where an alias points and every move it made",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&hf2)
			if err != nil {
				return err
			}
			n, a, ok := strings.Cut(args[0], "@")
			if !ok {
				return fmt.Errorf("%q: want NAME@ALIAS", args[0])
			}
			var r registry.AliasResponse
			if _, err := pc.Chain.Query(cmd.Context(), "/registry/alias", map[string]string{"name": n, "alias": a}, &r, 0); err != nil {
				return err
			}
			return g.print(r, func() {
				g.printf("%s -> %s\n", r.Alias, r.Model)
				for _, mv := range r.History {
					g.printf("  height %-8d %s  %s by %s\n", mv.Height, mv.Time.UTC().Format(time.RFC3339), mv.Model, mv.Mover)
				}
			})
		},
	}
	hf2.register(history)
	model.AddCommand(register, alias, history, newShowCmd(g, "model"), newListCmd(g, "model"))
}
