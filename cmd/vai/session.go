package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/internal/provider"
	"github.com/vai-dev/vai/wire"
)

func newSessionCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "session", Short: "Prepaid sessions with one provider: many calls, settled in batches",
		Long: `A session escrows a deposit for calls to one provider's model. Calls go to the
provider directly (signed by your key) and each comes back with a signed receipt,
kept in HOME/sessions/ID. The provider settles calls in batches under a Merkle
root; until a batch's window closes, 'vai session audit --challenge' checks it
against your receipts and proves any record that was left out, invented or
altered, which slashes the provider and refunds you.`}
	cmd.AddCommand(newSessionOpenCmd(g), newSessionCallCmd(g), newSessionShowCmd(g), newSessionCloseCmd(g), newSessionAuditCmd(g))
	return cmd
}

func newSessionOpenCmd(g *globalFlags) *cobra.Command {
	var tf txFlags
	var from, prov, model, deposit string
	var blocks int64
	cmd := &cobra.Command{
		Use:   "open --from KEY --provider P --model ID --deposit AMOUNT",
		Short: "Open a session, escrowing a deposit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.resolveAddress(&tf.clientFlags, prov)
			if err != nil {
				return err
			}
			d, err := wire.ParseCoin(deposit)
			if err != nil {
				return fmt.Errorf("--deposit: %w", err)
			}
			m, err := wire.NewMsg("market/open_session", market.MsgOpenSession{Provider: p, Model: registry.ID(model), Deposit: d, Blocks: blocks})
			if err != nil {
				return err
			}
			tf.wait = true
			out := g.stdout
			g.stdout = g.stderr
			sent, err := g.sendResult(cmd.Context(), &tf, from, m)
			g.stdout = out
			if err != nil {
				return err
			}
			id, err := eventID(sent.Result, "session_opened", "session")
			if err != nil {
				return err
			}
			return g.print(map[string]any{"session": id}, func() { g.printf("session %d\n", id) })
		},
	}
	tf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the buyer's key (required)")
	fl.StringVar(&prov, "provider", "", "the provider (address or key name; required)")
	fl.StringVar(&model, "model", "", "the model's id (required)")
	fl.StringVar(&deposit, "deposit", "", "escrowed deposit, e.g. 5vai (required)")
	fl.Int64Var(&blocks, "blocks", 10_000, "blocks the session stays open")
	for _, r := range []string{"from", "provider", "model", "deposit"} {
		cmd.MarkFlagRequired(r)
	}
	return cmd
}

func eventID(r *client.TxResult, typ, attr string) (uint64, error) {
	if r != nil {
		for _, e := range r.Events {
			if e.Type == typ {
				return strconv.ParseUint(e.Attrs[attr], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("the transaction has no %s event", typ)
}

// sessionOf reads a session and its provider's endpoint.
func sessionOf(ctx context.Context, c *client.Client, idText string) (*market.Session, string, error) {
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("session id: %w", err)
	}
	var s market.Session
	if _, err := c.Query(ctx, "/market/session", map[string]any{"id": id}, &s, 0); err != nil {
		return nil, "", err
	}
	var p market.ProviderResponse
	if _, err := c.Query(ctx, "/market/provider", map[string]any{"address": s.Provider}, &p, 0); err != nil {
		return nil, "", err
	}
	return &s, p.Endpoint, nil
}

// receiptsFile is where a buyer keeps a session's receipts.
func receiptsFile(home string, session uint64) string {
	return filepath.Join(home, "sessions", strconv.FormatUint(session, 10), "receipts.jsonl")
}

func loadReceipts(path string) (map[uint64]provider.Receipt, error) {
	out := map[uint64]provider.Receipt{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r struct {
			Seq uint64 `json:"seq"`
			provider.Receipt
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[r.Seq] = r.Receipt
	}
	return out, sc.Err()
}

func newSessionCallCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	var from, input, endpoint string
	var repeat int
	cmd := &cobra.Command{
		Use:   "call SESSION --from KEY --input FILE [--repeat N]",
		Short: "Call the session's model: prints the outputs, keeps the signed receipts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, home, err := g.dial(&f)
			if err != nil {
				return err
			}
			s, ep, err := sessionOf(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if endpoint != "" {
				ep = endpoint
			}
			if ep == "" {
				return fmt.Errorf("provider %s registered no endpoint; give --endpoint", s.Provider)
			}
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			key, err := kr.Signer(from)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(input)
			if err != nil {
				return err
			}
			sc := &provider.SessionClient{Endpoint: ep, Key: key, Session: *s}
			info, err := sc.Info(cmd.Context())
			if err != nil {
				return err
			}
			inputs := make([][]byte, repeat)
			for i := range inputs {
				inputs[i] = data
			}
			rs, err := sc.Call(cmd.Context(), info.NextSeq, inputs)
			if err != nil {
				return err
			}
			path := receiptsFile(home, s.ID)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer fh.Close()
			enc := json.NewEncoder(fh)
			var outs []provider.Output
			for i, r := range rs {
				if err := enc.Encode(struct {
					Seq uint64 `json:"seq"`
					provider.Receipt
				}{info.NextSeq + uint64(i), r}); err != nil {
					return err
				}
				var o provider.Output
				json.Unmarshal(r.Output, &o)
				outs = append(outs, o)
			}
			if err := fh.Sync(); err != nil {
				return err
			}
			return g.print(outs, func() {
				for i, o := range outs {
					if o.Error != "" {
						g.printf("call %d  error %s\n", info.NextSeq+uint64(i), o.Error)
						continue
					}
					for _, smp := range o.Outputs {
						g.printf("call %d  predicted %d\n", info.NextSeq+uint64(i), smp.Argmax)
					}
				}
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the buyer's key (required)")
	cmd.Flags().StringVar(&input, "input", "", "the input file (required)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the provider's session server (default: its registered endpoint)")
	cmd.Flags().IntVar(&repeat, "repeat", 1, "send the input this many times (calls in one request)")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("input")
	return cmd
}

func newSessionShowCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show SESSION",
		Short: "Show a session and its batches",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			s, _, err := sessionOf(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			var bs []market.Batch
			if _, err := c.Query(cmd.Context(), "/market/batches", map[string]any{"session": s.ID}, &bs, 0); err != nil {
				return err
			}
			return g.print(map[string]any{"session": s, "batches": bs}, func() {
				g.printf("session   %d   %s   expires %d\n", s.ID, s.State, s.Expires)
				g.printf("buyer     %s\nprovider  %s\nmodel     %s\n", s.Buyer, s.Provider, s.Model)
				g.printf("price     %s + %s per call   deposit left %s   calls settled %d\n", s.ModelPrice, s.ComputePrice, s.Deposit, s.Calls)
				for _, b := range bs {
					g.printf("batch %d   calls %d-%d   %s   %s", b.ID, b.From, b.From+b.Count-1, b.Amount, b.State)
					if b.Fraud != "" {
						g.printf("   fraud: %s", b.Fraud)
					}
					g.printf("\n")
				}
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newSessionCloseCmd(g *globalFlags) *cobra.Command {
	return newMsgCmd(g, "close SESSION --from KEY", "Close a session (its provider any time, its buyer after expiry): the deposit left is refunded",
		"the signing key", cobra.ExactArgs(1), func(args []string, _ *clientFlags) (wire.Msg, error) {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return wire.Msg{}, fmt.Errorf("session id: %w", err)
			}
			return wire.NewMsg("market/close_session", market.MsgSessionAction{Session: id})
		})
}

func newSessionAuditCmd(g *globalFlags) *cobra.Command {
	var tf txFlags
	var from string
	var challenge bool
	cmd := &cobra.Command{
		Use:   "audit SESSION [--challenge --from KEY]",
		Short: "Check a session's pending batches against your receipts; challenge a fraud",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			home, _, err := g.clientConfig(&tf.clientFlags)
			if err != nil {
				return err
			}
			s, _, err := sessionOf(cmd.Context(), pc.Chain, args[0])
			if err != nil {
				return err
			}
			receipts, err := loadReceipts(receiptsFile(home, s.ID))
			if err != nil {
				return err
			}
			var bs []market.Batch
			if _, err := pc.Chain.Query(cmd.Context(), "/market/batches", map[string]any{"session": s.ID}, &bs, 0); err != nil {
				return err
			}
			frauds := 0
			for _, b := range bs {
				if b.State != market.BatchPending {
					continue
				}
				f, err := auditBatch(cmd.Context(), pc, &b, s, receipts)
				if err != nil {
					g.printf("batch %d: cannot audit: %v\n", b.ID, err)
					frauds++
					continue
				}
				if f == nil {
					g.printf("batch %d: %d calls, all match your receipts\n", b.ID, b.Count)
					continue
				}
				frauds++
				g.printf("batch %d: FRAUD: %s\n", b.ID, f.Reason)
				if challenge {
					m, err := wire.NewMsg("market/challenge_batch", f.Msg)
					if err != nil {
						return err
					}
					if err := g.send(cmd.Context(), &tf, from, m); err != nil {
						return err
					}
				}
			}
			if frauds > 0 && !challenge {
				return fmt.Errorf("%d batch(es) failed the audit (challenge with --challenge --from KEY before their window closes)", frauds)
			}
			return nil
		},
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the key that challenges")
	cmd.Flags().BoolVar(&challenge, "challenge", false, "challenge every fraud found")
	return cmd
}

func auditBatch(ctx context.Context, pc *provenance.Client, b *market.Batch, s *market.Session, receipts map[uint64]provider.Receipt) (*provider.Finding, error) {
	records, err := pc.GetBlob(ctx, b.RecordsCID, 1<<30)
	if err != nil {
		return nil, err
	}
	return provider.AuditBatch(b, s, records, receipts)
}
