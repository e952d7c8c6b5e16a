package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

func newDenyCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deny",
		Short: "Deny-list content hashes, dispute and appeal entries, flag datasets that contain them",
		Long: `The deny-list lets rights holders name content that must not be used. An entry
is pending for the dispute window; anyone may dispute it with a bond; the
holder may appeal a dispute with a bond, and an arbiter decides. Undisputed
entries become active, and then anyone can flag a registered dataset or model
by proving (with a Merkle proof against its registered manifest) that one of
its files has the deny-listed hash: the record and everything downstream of it
show the flag.`,
	}
	tx := func(use, short string, args cobra.PositionalArgs, build func(args []string) (wire.Msg, error)) *cobra.Command {
		var tf txFlags
		var from string
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  args,
			RunE: func(cmd *cobra.Command, args []string) error {
				m, err := build(args)
				if err != nil {
					return err
				}
				return g.send(cmd.Context(), &tf, from, m)
			},
		}
		tf.register(c)
		c.Flags().StringVar(&from, "from", "", "signing key (required)")
		c.MarkFlagRequired("from")
		return c
	}
	var reason, dreason string
	add := tx("add FILE|HASH --reason TEXT", "Deny-list a file's content hash (with a bond)", cobra.ExactArgs(1), func(args []string) (wire.Msg, error) {
		h, err := hashArg(args[0])
		if err != nil {
			return wire.Msg{}, err
		}
		return wire.NewMsg("registry/deny", registry.MsgDeny{Hash: h, Reason: reason})
	})
	add.Flags().StringVar(&reason, "reason", "", "why the content must not be used (required)")
	add.MarkFlagRequired("reason")
	dispute := tx("dispute HASH", "Dispute a pending deny-list entry (with a bond)", cobra.ExactArgs(1), func(args []string) (wire.Msg, error) {
		h, err := hashArg(args[0])
		if err != nil {
			return wire.Msg{}, err
		}
		return wire.NewMsg("registry/dispute", registry.MsgDispute{Hash: h, Reason: dreason})
	})
	dispute.Flags().StringVar(&dreason, "reason", "", "why the entry is wrong")
	appeal := tx("appeal HASH", "Appeal a dispute of your entry (with a bond); an arbiter decides", cobra.ExactArgs(1), func(args []string) (wire.Msg, error) {
		h, err := hashArg(args[0])
		if err != nil {
			return wire.Msg{}, err
		}
		return wire.NewMsg("registry/appeal", registry.MsgAppeal{Hash: h})
	})
	var uphold, reject bool
	resolve := tx("resolve HASH (--uphold | --reject)", "Decide an appealed entry (arbiters only)", cobra.ExactArgs(1), func(args []string) (wire.Msg, error) {
		if uphold == reject {
			return wire.Msg{}, fmt.Errorf("give one of --uphold and --reject")
		}
		h, err := hashArg(args[0])
		if err != nil {
			return wire.Msg{}, err
		}
		return wire.NewMsg("registry/resolve", registry.MsgResolve{Hash: h, Uphold: uphold})
	})
	resolve.Flags().BoolVar(&uphold, "uphold", false, "the entry stands: it becomes active")
	resolve.Flags().BoolVar(&reject, "reject", false, "the dispute wins: the entry has no force")

	// flag needs the record's manifest to build the proof.
	var ff txFlags
	var ffrom string
	flag := &cobra.Command{
		Use:   "flag ID FILE-NAME",
		Short: "Flag a dataset or model: prove that one of its files has a deny-listed hash",
		Long: `Flag the dataset or model ID by proving that its file FILE-NAME (a path as its
manifest lists it) has a hash on the active deny-list. The proof is built from
the manifest in the content store; the files themselves are not needed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&ff.clientFlags)
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
			if rec == nil || (rec.Kind != "dataset" && rec.Kind != "model") {
				return fmt.Errorf("no dataset or model is registered as %s", id)
			}
			content := rec.Model
			var c registry.Content
			if content != nil {
				c = content.Content
			} else {
				c = rec.Dataset.Content
			}
			m, _, err := pc.Manifest(cmd.Context(), id, c)
			if err != nil {
				return err
			}
			p, err := m.Prove(args[1])
			if err != nil {
				return err
			}
			h := registry.ContentHash(p.Resource.Algorithm + ":" + hex.EncodeToString(p.Resource.Digest))
			if _, err := registry.ParseContentHash(string(h)); err != nil {
				return fmt.Errorf("%s is hashed %s; only whole-file sha256 or blake3 digests can match the deny-list", args[1], p.Resource.Algorithm)
			}
			proof := registry.Proof{Name: p.Resource.Name, Algorithm: p.Resource.Algorithm, Digest: hex.EncodeToString(p.Resource.Digest), Index: p.Index, TreeSize: p.TreeSize}
			for _, x := range p.Hashes {
				proof.Hashes = append(proof.Hashes, hex.EncodeToString(x))
			}
			return g.sendMsg(cmd.Context(), &ff, ffrom, "registry/flag", registry.MsgFlag{Record: id, Hash: h, Proof: proof})
		},
	}
	ff.register(flag)
	flag.Flags().StringVar(&ffrom, "from", "", "signing key (required)")
	flag.MarkFlagRequired("from")

	var sf clientFlags
	show := &cobra.Command{
		Use:   "show FILE|HASH",
		Short: "Show a deny-list entry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := hashArg(args[0])
			if err != nil {
				return err
			}
			c, _, _, err := g.dial(&sf)
			if err != nil {
				return err
			}
			var d registry.Deny
			if _, err := c.Query(cmd.Context(), "/registry/deny", map[string]any{"hash": h}, &d, 0); err != nil {
				return err
			}
			return g.print(d, func() {
				g.printf("hash      %s\nstate     %s\nholder    %s\nreason    %s\nadded     height %d\n", d.Hash, d.State, d.Holder, d.Reason, d.Added.Height)
				if d.Deadline != 0 {
					g.printf("deadline  height %d\n", d.Deadline)
				}
				if !d.Disputer.IsZero() {
					g.printf("disputer  %s (%s)\n", d.Disputer, d.DisputeNote)
				}
				if b := d.Bonds(); b > 0 {
					g.printf("bonds     %s held\n", wire.UVAI(b))
				}
			})
		},
	}
	sf.register(show)
	cmd.AddCommand(add, dispute, appeal, resolve, flag, show)
	return cmd
}
