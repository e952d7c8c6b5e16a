package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"
	tclient "github.com/transparency-dev/tessera/client"

	"github.com/vai-dev/vai/cas/local"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/logs"
	"github.com/vai-dev/vai/tlog"
	"github.com/vai-dev/vai/wire"
)

// logFlags are the flags of commands that talk to a log server (the
// node's REST API: --api, or the home's client.toml).
type logFlags struct {
	clientFlags
}

// apiURL resolves the REST API's base URL.
func (g *globalFlags) apiURL(f *logFlags) (string, error) {
	_, cc, err := g.clientConfig(&f.clientFlags)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(cc.API, "/"), nil
}

// logAPI calls the log server's JSON API.
func logAPI(ctx context.Context, method, u string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w (is a node running? start one with `vai up`)", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return errors.New(e.Error.Message)
		}
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func newLogCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "Verifiable logs: create, append, prove, verify, monitor",
		Long: `Verifiable logs are append-only Merkle logs (C2SP tlog-tiles) of inference
records, training events and agent actions. The node serves them; the chain
witnesses their checkpoints, so no log can show two histories.`}
	cmd.AddCommand(newLogCreateCmd(g), newLogAppendCmd(g), newLogProveCmd(g, false), newLogProveCmd(g, true),
		newLogVerifyCmd(g), newLogStatusCmd(g), newLogMonitorCmd(g), newLogPublishCmd(g))
	return cmd
}

func newLogCreateCmd(g *globalFlags) *cobra.Command {
	var f txFlags
	var purpose, fund, from string
	cmd := &cobra.Command{
		Use:   "create NAME --purpose P --from KEY",
		Short: "Create a log on the node and register it on the chain",
		Long: `Create log NAME on the node (it makes the log's operator key), then register it
on the chain from KEY, and fund the log's publisher account (derived from the
operator key) with --fund, which pays for witnessing its checkpoints.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !tlog.ValidPurpose(purpose) {
				return fmt.Errorf("--purpose must be inference, training, agent or custom, not %q", purpose)
			}
			base, err := g.apiURL(&logFlags{clientFlags: f.clientFlags})
			if err != nil {
				return err
			}
			body, _ := json.Marshal(tlog.CreateRequest{Name: args[0], Purpose: purpose})
			var st tlog.Status
			if err := logAPI(cmd.Context(), "POST", base+"/logs", body, &st); err != nil {
				return err
			}
			reg, err := wire.NewMsg("logs/register", logs.MsgRegister{Name: st.Name, Origin: st.Origin, OperatorKey: st.OperatorKey, Purpose: st.Purpose})
			if err != nil {
				return err
			}
			msgs := []wire.Msg{reg}
			if fund != "" && fund != "0" {
				amt, err := wire.ParseCoin(fund)
				if err != nil {
					return fmt.Errorf("--fund: %w", err)
				}
				to, err := wire.ParseAddress(st.Publisher)
				if err != nil {
					return err
				}
				send, err := wire.NewMsg("bank/send", bank.MsgSend{To: to, Amount: amt})
				if err != nil {
					return err
				}
				msgs = append(msgs, send)
			}
			g.printf("log       %s\norigin    %s\npurpose   %s\nkey       %s\npublisher %s\n", st.Name, st.Origin, st.Purpose, st.OperatorKey, st.Publisher)
			f.wait = true
			return g.send(cmd.Context(), &f, from, msgs...)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&purpose, "purpose", "", "inference, training, agent or custom")
	cmd.Flags().StringVar(&from, "from", "", "key that registers (and owns) the log")
	cmd.Flags().StringVar(&fund, "fund", "1vai", "amount sent to the log's publisher account for witnessing fees (0: none)")
	cmd.MarkFlagRequired("purpose")
	cmd.MarkFlagRequired("from")
	return cmd
}

func newLogAppendCmd(g *globalFlags) *cobra.Command {
	var f logFlags
	var file, jsonArg, openings string
	cmd := &cobra.Command{
		Use:   "append NAME (--file F | --json J)",
		Short: "Append an entry to a log",
		Long: `Append an entry to log NAME and print its index once it is durably stored.
Entries of inference, training and agent logs are JSON records of their schema
(docs/design/tlog.md); custom logs take any bytes. A file larger than an entry
(65535 bytes) goes to the content store and the entry records its CID.

An agent log takes a draft {"agent", "time", "prompt", "tool_call", "result"}:
each field is committed with a fresh salt, and the openings are written to
--openings (default HOME/openings/NAME/INDEX.json) for 'vai log disclose'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if (file == "") == (jsonArg == "") {
				return errors.New("give exactly one of --file and --json")
			}
			base, err := g.apiURL(&f)
			if err != nil {
				return err
			}
			var st tlog.Status
			if err := logAPI(cmd.Context(), "GET", base+"/logs/"+url.PathEscape(name), nil, &st); err != nil {
				return err
			}
			var data []byte
			var open map[string]tlog.Opening
			if file != "" {
				if data, err = os.ReadFile(file); err != nil {
					return err
				}
				if len(data) > tlog.MaxEntrySize {
					if data, err = g.storeBlob(cmd.Context(), data); err != nil {
						return err
					}
				}
			} else {
				data = []byte(jsonArg)
			}
			if st.Purpose != tlog.PurposeCustom && json.Valid(data) {
				var compact bytes.Buffer
				json.Compact(&compact, data)
				data = compact.Bytes()
			}
			if st.Purpose == tlog.PurposeAgent && json.Valid(data) && !strings.Contains(string(data), `"schema"`) {
				var d tlog.AgentDraft
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&d); err != nil {
					return fmt.Errorf("an agent action draft: %w", err)
				}
				if data, open, err = d.Seal(); err != nil {
					return err
				}
			}
			if err := tlog.CheckSchema(st.Purpose, data); err != nil {
				return err
			}
			var r tlog.AppendResponse
			if err := logAPI(cmd.Context(), "POST", base+"/logs/"+url.PathEscape(name)+"/entries", data, &r); err != nil {
				return err
			}
			if open != nil {
				path := openings
				if path == "" {
					home, err := g.resolveHome()
					if err != nil {
						return err
					}
					path = filepath.Join(home, "openings", name, strconv.FormatUint(r.Index, 10)+".json")
				}
				b, _ := json.MarshalIndent(open, "", "  ")
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					return err
				}
				if err := os.WriteFile(path, b, 0o600); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "openings (keep them secret) written to %s\n", path)
			}
			return g.print(map[string]any{"log": name, "index": r.Index, "size": len(data)}, func() {
				g.printf("appended entry %d to log %s (%d bytes)\n", r.Index, name, len(data))
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "the entry's bytes (a larger file goes to the content store)")
	cmd.Flags().StringVar(&jsonArg, "json", "", "the entry as JSON")
	cmd.Flags().StringVar(&openings, "openings", "", "where to write an agent action's openings")
	return cmd
}

// storeBlob puts a payload too large for an entry in the home's content
// store and returns the entry that references it.
func (g *globalFlags) storeBlob(ctx context.Context, data []byte) ([]byte, error) {
	home, err := g.resolveHome()
	if err != nil {
		return nil, err
	}
	st, err := local.New(filepath.Join(home, "cas"))
	if err != nil {
		return nil, err
	}
	c, err := st.Put(ctx, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(g.stderr, "%d bytes are more than an entry holds (%d): stored as %s in %s, the entry records the CID\n", len(data), tlog.MaxEntrySize, c, filepath.Join(home, "cas"))
	return json.Marshal(tlog.BlobRef{Schema: tlog.SchemaBlob, CID: c.String(), Size: int64(len(data)), MediaType: http.DetectContentType(data)})
}

// fetcher reads a log over tlog-tiles with tessera's client.
func fetcher(base, name string) (*tclient.HTTPFetcher, error) {
	u, err := url.Parse(base + "/logs/" + url.PathEscape(name) + "/")
	if err != nil {
		return nil, err
	}
	return tclient.NewHTTPFetcher(u, http.DefaultClient)
}

func newLogProveCmd(g *globalFlags, disclose bool) *cobra.Command {
	var f logFlags
	var pf proveFlags
	var index uint64
	var out, field, openings string
	cmd := &cobra.Command{
		Use:   "prove NAME --index N -o FILE",
		Short: "Write a proof that an entry is in a log (C2SP tlog-proof, verifiable offline)",
		Long: `Write FILE, a C2SP tlog-proof: the inclusion proof of entry N in a checkpoint the
chain witnessed, with the entry and the chain's evidence (ICS23 proofs of the
log's record and witnessed checkpoint, light blocks from the first block) in
its extra data, so that 'vai log verify FILE --offline' needs no network.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var d *tlog.Disclosure
			if disclose {
				if openings == "" {
					home, err := g.resolveHome()
					if err != nil {
						return err
					}
					openings = filepath.Join(home, "openings", name, strconv.FormatUint(index, 10)+".json")
				}
				b, err := os.ReadFile(openings)
				if err != nil {
					return fmt.Errorf("the openings of entry %d: %w", index, err)
				}
				var open map[string]tlog.Opening
				if err := json.Unmarshal(b, &open); err != nil {
					return fmt.Errorf("%s: %w", openings, err)
				}
				o, ok := open[field]
				if !ok {
					return fmt.Errorf("%s has no opening for field %q (fields: prompt, tool_call, result)", openings, field)
				}
				d = &tlog.Disclosure{Field: field, Opening: o}
			}
			c, cc, home, err := g.dial(&f.clientFlags)
			if err != nil {
				return err
			}
			base, err := g.apiURL(&f)
			if err != nil {
				return err
			}
			v, err := g.verifier(cmd, c, nodeURL(cc.Node), home, &pf)
			if err != nil {
				return err
			}
			src, err := fetcher(base, name)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			p := &tlog.Prover{Chain: c, Verifier: v, Log: src, Publish: func(ctx context.Context) error {
				return logAPI(ctx, "POST", base+"/logs/"+url.PathEscape(name)+"/publish", nil, nil)
			}}
			proof, res, err := p.Prove(ctx, name, index, d)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, proof.Marshal(), 0o644); err != nil {
				return err
			}
			what := "proof"
			if d != nil {
				what = "disclosure of " + field
			}
			g.printf("wrote %s %s: entry %d of log %s, in the checkpoint of %d entries the chain witnessed at height %d\n", what, out, index, name, res.Size, res.Height)
			return nil
		},
	}
	if disclose {
		cmd.Use = "disclose NAME --index N --field F -o FILE"
		cmd.Short = "Reveal one committed field of an agent action, with its proof"
		cmd.Long = `Write FILE, a proof of entry N (as 'vai log prove') that also discloses one
committed field (prompt, tool_call or result) with its salt: 'vai log verify'
checks it against the entry's commitment, and the other fields stay hidden.`
		cmd.Flags().StringVar(&field, "field", "", "prompt, tool_call or result")
		cmd.Flags().StringVar(&openings, "openings", "", "the entry's openings (default HOME/openings/NAME/INDEX.json)")
		cmd.MarkFlagRequired("field")
	}
	f.register(cmd)
	pf.registerTrust(cmd)
	cmd.Flags().Uint64Var(&index, "index", 0, "the entry's index")
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write")
	cmd.MarkFlagRequired("index")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newLogVerifyCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	var pf proveFlags
	var offline bool
	var genesis string
	cmd := &cobra.Command{
		Use:   "verify FILE [--offline]",
		Short: "Verify a proof file: inclusion, operator signature, and the chain's witnessing",
		Long: `Verify a proof written by 'vai log prove' or 'vai log disclose'. Online, the
chain's headers are checked with the light client against a node. With
--offline nothing is fetched: trust comes from the chain's genesis (--genesis,
default the home's config/genesis.json), whose validators must have signed
the light blocks the proof carries.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			p, err := tlog.ParseProofFile(b)
			if err != nil {
				return err
			}
			var o tlog.VerifyOptions
			if offline {
				if genesis == "" {
					home, err := g.resolveHome()
					if err != nil {
						return err
					}
					genesis = filepath.Join(home, "config", "genesis.json")
				}
				gd, err := types.GenesisDocFromFile(genesis)
				if err != nil {
					return fmt.Errorf("offline verification needs the chain's genesis: %w", err)
				}
				o.Genesis = gd
			} else {
				c, cc, home, err := g.dial(&f)
				if err != nil {
					return err
				}
				v, err := g.verifier(cmd, c, nodeURL(cc.Node), home, &pf)
				if err != nil {
					return err
				}
				o.Header = v.Header
			}
			res, err := tlog.Verify(cmd.Context(), p, o)
			if err != nil {
				return err
			}
			return g.print(res, func() {
				g.printf("verified: entry %d of log %s (%s, purpose %s)\n", res.Index, res.Name, res.Origin, res.Purpose)
				g.printf("checkpoint: %d entries, root %x, signed by the operator\n", res.Size, res.Root)
				g.printf("witnessed by chain %s at height %d (app hash %s, header time %s; trust: %s)\n", res.ChainID, res.Height, res.AppHash, res.HeaderTime.UTC().Format(time.RFC3339), res.TrustSource)
				if d := res.Disclosed; d != nil {
					g.printf("disclosed %s: %s\n", d.Field, d.Value)
				}
				g.printf("entry: %s\n", printable(res.Entry))
			})
		},
	}
	f.register(cmd)
	pf.registerTrust(cmd)
	cmd.Flags().BoolVar(&offline, "offline", false, "verify with no network, from the proof file and the genesis alone")
	cmd.Flags().StringVar(&genesis, "genesis", "", "with --offline: the chain's genesis file")
	return cmd
}

func printable(b []byte) string {
	if json.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("%d bytes", len(b))
}

func newLogStatusCmd(g *globalFlags) *cobra.Command {
	var f logFlags
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a log's size, checkpoint and what the chain witnessed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := g.apiURL(&f)
			if err != nil {
				return err
			}
			var st tlog.Status
			if err := logAPI(cmd.Context(), "GET", base+"/logs/"+url.PathEscape(args[0]), nil, &st); err != nil {
				return err
			}
			c, _, _, err := g.dial(&f.clientFlags)
			if err != nil {
				return err
			}
			var bal wire.Coin
			if a, err := wire.ParseAddress(st.Publisher); err == nil {
				bal, _, _ = c.Balance(cmd.Context(), a)
			}
			return g.print(map[string]any{"log": st, "publisher_balance": bal}, func() {
				g.printf("log        %s (%s)\norigin     %s\nsize       %d\n", st.Name, st.Purpose, st.Origin, st.Size)
				if w := st.Witnessed; w != nil {
					g.printf("witnessed  %d entries at height %d, root %x\n", w.Size, w.Height, w.Root)
				} else {
					g.printf("witnessed  none yet\n")
				}
				g.printf("publisher  %s (%s)\n", st.Publisher, bal)
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newLogPublishCmd(g *globalFlags) *cobra.Command {
	var f logFlags
	cmd := &cobra.Command{
		Use:   "publish NAME",
		Short: "Have the chain witness a checkpoint covering every entry so far",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := g.apiURL(&f)
			if err != nil {
				return err
			}
			var w tlog.Witnessed
			if err := logAPI(cmd.Context(), "POST", base+"/logs/"+url.PathEscape(args[0])+"/publish", nil, &w); err != nil {
				return err
			}
			return g.print(w, func() { g.printf("witnessed %d entries at height %d, root %x\n", w.Size, w.Height, w.Root) })
		},
	}
	f.register(cmd)
	return cmd
}

func newLogMonitorCmd(g *globalFlags) *cobra.Command {
	var f logFlags
	var pf proveFlags
	var once bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "monitor NAME",
		Short: "Follow a log and check it against what the chain witnessed",
		Long: `Follow log NAME: fetch every new checkpoint, check the operator's signature,
rebuild the tree from the entries served and compare it with the checkpoint,
every tile, and the checkpoint the chain witnessed. What the chain says of the
log (its operator key, its witnessed checkpoint) is read with ICS23 proofs
checked against headers verified by CometBFT's light client, so the node is
not trusted either. Exits non-zero on any inconsistency (a rewritten entry, a
tampered tile, a fork, a rollback) or answer that does not match its proof;
other errors (a node or log server out of reach) are warnings, unless --once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			base, err := g.apiURL(&f)
			if err != nil {
				return err
			}
			c, cc, home, err := g.dial(&f.clientFlags)
			if err != nil {
				return err
			}
			v, err := g.verifier(cmd, c, nodeURL(cc.Node), home, &pf)
			if err != nil {
				return err
			}
			src, err := fetcher(base, name)
			if err != nil {
				return err
			}
			m := tlog.NewMonitor(src)
			check := func(ctx context.Context) (*tlog.Report, tlog.ChainView, error) {
				view, err := tlog.ReadChainView(ctx, c, func(ctx context.Context, h int64) (*types.LightBlock, error) { return c.WaitHeader(ctx, v, h) }, name)
				if err != nil {
					return nil, view, err
				}
				r, err := m.Check(ctx, view)
				return r, view, err
			}
			for {
				r, view, err := check(cmd.Context())
				switch {
				case errors.Is(err, tlog.ErrInconsistent), errors.Is(err, tlog.ErrVerify), errors.Is(err, tlog.ErrNotFound):
					return err
				case err != nil && once:
					return err
				case err != nil:
					fmt.Fprintf(g.stderr, "warning: %v\n", err)
				case r.NewEntries > 0 || once:
					g.printf("log %s: %d entries consistent (%d new, %d tiles checked); chain witnessed %d at height %d (state proven at height %d)\n",
						name, r.Size, r.NewEntries, r.TilesChecked, r.WitnessedSize, r.Height, view.ProvenAt)
				}
				if once {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f.register(cmd)
	pf.registerTrust(cmd)
	cmd.Flags().BoolVar(&once, "once", false, "check once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between checks")
	return cmd
}
