package main

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/client"
)

// proveFlags are the flags of proven reads.
type proveFlags struct {
	// noSave anchors trust afresh (flags, genesis, first use), ignoring and
	// not updating the saved trust root.
	noSave         bool
	prove          bool
	trustHeight    int64
	trustHash      string
	trustingPeriod time.Duration
	witnesses      []string
}

func (f *proveFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.prove, "prove", false, "check the value's ICS23 proof against a header verified by CometBFT's light client")
	f.registerTrust(cmd)
}

// registerTrust registers the light client's trust flags alone, for
// commands that always prove what they read.
func (f *proveFlags) registerTrust(cmd *cobra.Command) {
	cmd.Flags().Int64Var(&f.trustHeight, "trust-height", 0, "with --prove: trust the header at this height (with --trust-hash) instead of genesis or the saved trust root")
	cmd.Flags().StringVar(&f.trustHash, "trust-hash", "", "with --prove: hash of the header at --trust-height")
	cmd.Flags().DurationVar(&f.trustingPeriod, "trusting-period", 14*24*time.Hour, "with --prove: how old a trusted header may be")
	cmd.Flags().StringArrayVar(&f.witnesses, "witness", nil, "with --prove: another node's RPC address to cross-check headers with (repeatable)")
}

// verifier builds a light-client verifier. Trust comes, in order, from the
// flags, the saved trust root in HOME/light/, the genesis file in HOME (the
// first block's commit is checked against its validators), or first use.
func (g *globalFlags) verifier(cmd *cobra.Command, c *client.Client, cc nodeURL, home string, f *proveFlags) (*client.Verifier, error) {
	chainID, err := c.ChainID(cmd.Context())
	if err != nil {
		return nil, err
	}
	cfg := client.VerifierConfig{Node: string(cc), Witnesses: f.witnesses, ChainID: chainID, TrustingPeriod: f.trustingPeriod}
	if !f.noSave {
		cfg.TrustFile = filepath.Join(home, "light", chainID+".json")
	}
	if f.trustHeight > 0 {
		cfg.TrustHeight = f.trustHeight
		if cfg.TrustHash, err = hex.DecodeString(f.trustHash); err != nil || len(cfg.TrustHash) != 32 {
			return nil, fmt.Errorf("--trust-hash must be 64 hex digits")
		}
	}
	if gen, err := types.GenesisDocFromFile(filepath.Join(home, "config", "genesis.json")); err == nil && gen.ChainID == chainID {
		cfg.Genesis = gen
	}
	v, err := client.NewVerifier(cmd.Context(), cfg)
	if err != nil {
		return nil, err
	}
	if v.Root.Source == "first-use" {
		fmt.Fprintf(g.stderr, "warning: no genesis for %s in %s and no saved trust root: trusting the node's header %d on first use\n", chainID, home, v.Root.Height)
	}
	return v, nil
}

type nodeURL string

func newQueryCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "query", Aliases: []string{"q"}, Short: "Read the chain's state"}

	var bf clientFlags
	var pf proveFlags
	balance := &cobra.Command{
		Use:   "balance ADDRESS|KEY",
		Short: "Show a balance, optionally proven",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cc, home, err := g.dial(&bf)
			if err != nil {
				return err
			}
			addr, err := g.resolveAddress(&bf, args[0])
			if err != nil {
				return err
			}
			if !pf.prove {
				amt, h, err := c.Balance(cmd.Context(), addr)
				if err != nil {
					return err
				}
				return g.print(map[string]any{"address": addr, "amount": amt, "height": h}, func() {
					g.printf("%s  %s  (height %d)\n", addr, amt, h)
				})
			}
			v, err := g.verifier(cmd, c, nodeURL(cc.Node), home, &pf)
			if err != nil {
				return err
			}
			pb, err := c.BalanceProven(cmd.Context(), v, addr)
			if err != nil {
				return err
			}
			return g.print(pb, func() {
				g.printf("%s  %s  (height %d)\n", addr, pb.Amount, pb.Proof.Height)
				g.printf("proof verified: ICS23 proof checked against app hash %s of header %d, verified by the light client (trust root: %s)\n",
					pb.Proof.AppHash, pb.Proof.HeaderHeight, v.Root.Source)
			})
		},
	}
	bf.register(balance)
	pf.register(balance)

	var af clientFlags
	var pending bool
	account := &cobra.Command{
		Use:   "account ADDRESS|KEY",
		Short: "Show an account's balance and sequence state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := g.dial(&af)
			if err != nil {
				return err
			}
			addr, err := g.resolveAddress(&af, args[0])
			if err != nil {
				return err
			}
			amt, h, err := c.Balance(cmd.Context(), addr)
			if err != nil {
				return err
			}
			acc, err := c.Account(cmd.Context(), addr, pending)
			if err != nil {
				return err
			}
			out := map[string]any{"address": addr, "balance": amt, "next_sequence": acc.NextSequence, "used_ahead": acc.UsedAhead, "height": h}
			return g.print(out, func() {
				g.printf("address        %s\n", addr)
				g.printf("balance        %s (%s)\n", amt, amt.Display())
				g.printf("next sequence  %d\n", acc.NextSequence)
				if len(acc.UsedAhead) > 0 {
					g.printf("used ahead     %v\n", acc.UsedAhead)
				}
				g.printf("height         %d\n", h)
			})
		},
	}
	af.register(account)
	account.Flags().BoolVar(&pending, "pending", false, "include transactions in the node's mempool")

	var tf clientFlags
	tx := &cobra.Command{
		Use:   "tx HASH",
		Short: "Show a committed transaction's result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := g.dial(&tf)
			if err != nil {
				return err
			}
			r, err := c.Tx(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(r, func() {
				g.printf("hash    %s\nheight  %d\ncode    %d %s\n", r.Hash, r.Height, r.Code, r.Codespace)
				if r.Log != "" {
					g.printf("log     %s\n", r.Log)
				}
				for _, e := range r.Events {
					var kv []string
					for k, v := range e.Attrs {
						kv = append(kv, k+"="+v)
					}
					g.printf("event   %s %s\n", e.Type, strings.Join(slices.Sorted(slices.Values(kv)), " "))
				}
			})
		},
	}
	tf.register(tx)
	cmd.AddCommand(balance, account, tx)
	return cmd
}

func newStatusCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the chain's status: id, height, time, validators, sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cc, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("%w (is a node running at %s? start one with `vai up`)", err, cc.Node)
			}
			return g.print(st, func() {
				g.printf("chain id      %s\n", st.ChainID)
				g.printf("height        %d\n", st.LatestBlockHeight)
				g.printf("block time    %s\n", st.LatestBlockTime.UTC().Format(time.RFC3339Nano))
				g.printf("app hash      %s\n", st.LatestAppHash)
				g.printf("catching up   %v\n", st.CatchingUp)
				g.printf("node          %s (%s) at %s\n", st.Moniker, st.NodeID, cc.Node)
				g.printf("validators    %d\n", len(st.Validators))
				for _, v := range st.Validators {
					g.printf("  %s  power %d\n", v.Address, v.VotingPower)
				}
			})
		},
	}
	f.register(cmd)
	return cmd
}
