package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"lukechampine.com/blake3"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/ledger/zk"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/internal/provider"
	"github.com/vai-dev/vai/wire"
)

// --- provider ---

func newProviderCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "provider", Short: "Run an inference provider: register, stake, serve jobs"}
	cmd.AddCommand(newProviderRegisterCmd(g, false), newProviderRegisterCmd(g, true), newProviderUnbondCmd(g),
		newProviderSimpleCmd(g, "withdraw", "Withdraw unbonded stake whose unbonding period is over", "market/withdraw", market.MsgWithdraw{}),
		newProviderSimpleCmd(g, "unjail", "Return to the pool once the jail time is over", "market/unjail", market.MsgUnjail{}),
		newProviderEndorseCmd(g), newProviderShowCmd(g), newProviderListCmd(g), newProviderServeCmd(g))
	return cmd
}

// providerDir is where a provider key's serving state lives.
func providerDir(home string, addr wire.Address) string {
	return filepath.Join(home, "provider", addr.String())
}

// ageIdentity returns the provider's X25519 identity for granted weights,
// creating it (mode 0600) on first use.
func ageIdentity(dir string) (*age.X25519Identity, error) {
	path := filepath.Join(dir, "age.key")
	if b, err := os.ReadFile(path); err == nil {
		return age.ParseX25519Identity(strings.TrimSpace(string(b)))
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return id, os.WriteFile(path, []byte(id.String()+"\n"), 0o600)
}

func parseServes(g *globalFlags, ss []string) ([]market.ServeEntry, error) {
	var out []market.ServeEntry
	for _, s := range ss {
		id, price, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--serve %q: want MODEL=PRICE, e.g. sha256:…=500uvai", s)
		}
		mid, err := registry.ParseID(id)
		if err != nil {
			return nil, fmt.Errorf("--serve: %w", err)
		}
		p, err := wire.ParseCoin(price)
		if err != nil {
			return nil, fmt.Errorf("--serve %s: %w", id, err)
		}
		out = append(out, market.ServeEntry{Model: mid, Price: p})
	}
	return out, nil
}

func parseKV(flag string, ss []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range ss {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want KEY=VALUE", flag, s)
		}
		out[k] = v
	}
	return out, nil
}

func newProviderRegisterCmd(g *globalFlags, update bool) *cobra.Command {
	var (
		tf                      txFlags
		from, stake, endpoint   string
		modes, serves, hardware []string
		capacity                uint32
	)
	use, short := "register", "Register as a provider: bond stake, list the models you serve and their prices"
	if update {
		use, short = "update", "Change your provider profile, add stake, replace the models you serve"
	}
	cmd := &cobra.Command{
		Use:   use + " --from KEY",
		Short: short,
		Example: `  vai provider register --from prov1 --stake 200vai --endpoint http://127.0.0.1:7001 \
      --modes redundant,optimistic --capacity 8 --serve sha256:…=5000uvai`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, _, err := g.clientConfig(&tf.clientFlags)
			if err != nil {
				return err
			}
			addr, err := g.resolveAddress(&tf.clientFlags, from)
			if err != nil {
				return err
			}
			sv, err := parseServes(g, serves)
			if err != nil {
				return err
			}
			hw, err := parseKV("hardware", hardware)
			if err != nil {
				return err
			}
			id, err := ageIdentity(providerDir(home, addr))
			if err != nil {
				return err
			}
			if !update {
				st, err := wire.ParseCoin(stake)
				if err != nil {
					return fmt.Errorf("--stake: %w", err)
				}
				m, err := wire.NewMsg("market/provider_register", market.MsgProviderRegister{Stake: st, Endpoint: endpoint, Hardware: hw,
					Modes: modes, Capacity: capacity, EncryptionKey: id.Recipient().String(), Serves: sv})
				if err != nil {
					return err
				}
				return g.send(cmd.Context(), &tf, from, m)
			}
			// An update starts from the current profile: flags not given keep it.
			c, _, _, err := g.dial(&tf.clientFlags)
			if err != nil {
				return err
			}
			var cur market.ProviderResponse
			if _, err := c.Query(cmd.Context(), "/market/provider", map[string]any{"address": addr}, &cur, 0); err != nil {
				return err
			}
			msg := market.MsgProviderUpdate{Endpoint: cur.Endpoint, Hardware: cur.Hardware, Modes: cur.Modes, Capacity: cur.Capacity,
				EncryptionKey: id.Recipient().String(), Serves: cur.Serves}
			fl := cmd.Flags()
			if fl.Changed("stake") {
				if msg.AddStake, err = wire.ParseCoin(stake); err != nil {
					return fmt.Errorf("--stake: %w", err)
				}
			}
			if fl.Changed("endpoint") {
				msg.Endpoint = endpoint
			}
			if fl.Changed("hardware") {
				msg.Hardware = hw
			}
			if fl.Changed("modes") {
				msg.Modes = modes
			}
			if fl.Changed("capacity") {
				msg.Capacity = capacity
			}
			if fl.Changed("serve") {
				msg.Serves = sv
			}
			return g.sendMsg(cmd.Context(), &tf, from, "market/provider_update", msg)
		},
	}
	tf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the provider's key (required)")
	if update {
		fl.StringVar(&stake, "stake", "", "stake to add, e.g. 50vai")
	} else {
		fl.StringVar(&stake, "stake", "", "stake to bond, e.g. 200vai (at least the market's min_stake; required)")
		cmd.MarkFlagRequired("stake")
	}
	fl.StringVar(&endpoint, "endpoint", "", "URL where buyers reach your session server (vai provider serve --listen)")
	fl.StringSliceVar(&modes, "modes", []string{market.ModeRedundant, market.ModeOptimistic}, "verification modes you accept: redundant, optimistic, zk, tee")
	fl.Uint32Var(&capacity, "capacity", 4, "jobs you take at once")
	fl.StringArrayVar(&serves, "serve", nil, "MODEL=PRICE: a model you serve and your compute price per call (repeatable)")
	fl.StringArrayVar(&hardware, "hardware", nil, "KEY=VALUE hardware attribute, e.g. cpu=epyc-9554 (repeatable)")
	cmd.MarkFlagRequired("from")
	return cmd
}

// newMsgCmd is a command that signs one message, built from its
// arguments, with the key --from names.
func newMsgCmd(g *globalFlags, use, short, fromHelp string, args cobra.PositionalArgs, build func(args []string, f *clientFlags) (wire.Msg, error)) *cobra.Command {
	var tf txFlags
	var from string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := build(args, &tf.clientFlags)
			if err != nil {
				return err
			}
			return g.send(cmd.Context(), &tf, from, m)
		},
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", fromHelp+" (required)")
	cmd.MarkFlagRequired("from")
	return cmd
}

func newProviderUnbondCmd(g *globalFlags) *cobra.Command {
	return newMsgCmd(g, "unbond AMOUNT --from KEY", "Start unbonding stake (withdraw it after the unbonding period; it stays slashable until then)",
		"the provider's key", cobra.ExactArgs(1), func(args []string, _ *clientFlags) (wire.Msg, error) {
			amt, err := wire.ParseCoin(args[0])
			if err != nil {
				return wire.Msg{}, err
			}
			return wire.NewMsg("market/unbond", market.MsgUnbond{Amount: amt})
		})
}

func newProviderSimpleCmd(g *globalFlags, use, short, typ string, v any) *cobra.Command {
	return newMsgCmd(g, use+" --from KEY", short, "the provider's key", cobra.NoArgs, func([]string, *clientFlags) (wire.Msg, error) {
		return wire.NewMsg(typ, v)
	})
}

func newProviderEndorseCmd(g *globalFlags) *cobra.Command {
	return newMsgCmd(g, "endorse PROVIDER --from AUDITOR", "As an auditor, vouch for a provider's hardware attributes (cleared when they change)",
		"the auditor's key", cobra.ExactArgs(1), func(args []string, f *clientFlags) (wire.Msg, error) {
			p, err := g.resolveAddress(f, args[0])
			if err != nil {
				return wire.Msg{}, err
			}
			return wire.NewMsg("market/endorse", market.MsgEndorse{Provider: p})
		})
}

func printProvider(g *globalFlags, p *market.ProviderResponse) {
	g.printf("provider     %s\n", p.Address)
	g.printf("stake        %s", p.Stake)
	for _, u := range p.Unbonding {
		g.printf("  (+%s unbonding until %d)", u.Amount, u.Release)
	}
	g.printf("\n")
	g.printf("reputation   %d.%02d%%   delivered %d   failed %d   slashed %d\n", p.Reputation/100, p.Reputation%100, p.Delivered, p.Failed, p.Slashed)
	g.printf("capacity     %d (%d in use)   modes %s\n", p.Capacity, p.Active, strings.Join(p.Modes, ","))
	if p.JailedUntil > 0 {
		g.printf("jailed until %d\n", p.JailedUntil)
	}
	if p.Endpoint != "" {
		g.printf("endpoint     %s\n", p.Endpoint)
	}
	keys := make([]string, 0, len(p.Hardware))
	for k := range p.Hardware {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g.printf("hardware     %s=%s\n", k, p.Hardware[k])
	}
	for _, e := range p.Endorsements {
		g.printf("endorsed by  %s\n", e)
	}
	for _, s := range p.Serves {
		g.printf("serves       %s at %s\n", s.Model, s.Price)
	}
}

func newProviderShowCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show PROVIDER",
		Short: "Show a provider: stake, reputation, capacity, models and prices",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			addr, err := g.resolveAddress(&f, args[0])
			if err != nil {
				return err
			}
			var p market.ProviderResponse
			if _, err := c.Query(cmd.Context(), "/market/provider", map[string]any{"address": addr}, &p, 0); err != nil {
				return err
			}
			return g.print(p, func() { printProvider(g, &p) })
		},
	}
	f.register(cmd)
	return cmd
}

func newProviderListCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List providers with their stake and reputation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			var ps []market.Provider
			if _, err := c.Query(cmd.Context(), "/market/providers", map[string]any{}, &ps, 0); err != nil {
				return err
			}
			return g.print(ps, func() {
				for _, p := range ps {
					jail := ""
					if p.JailedUntil > 0 {
						jail = fmt.Sprintf("  jailed until %d", p.JailedUntil)
					}
					g.printf("%s  stake %s  reputation %d.%02d%%  delivered %d  slashed %d%s\n", p.Address, p.Stake, p.Reputation/100, p.Reputation%100, p.Delivered, p.Slashed, jail)
				}
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newProviderServeCmd(g *globalFlags) *cobra.Command {
	var (
		f                 clientFlags
		from, logName     string
		fault, listen     string
		state             string
		poll, batchEvery  time.Duration
		openai, zkFlags   []string
		workers           int
		batchSize         int
		once, logRequests bool
	)
	cmd := &cobra.Command{
		Use:   "serve --from KEY",
		Short: "Serve the jobs assigned to a provider key, and its sessions",
		Long: `Follow the chain for jobs assigned to KEY: fetch each model artifact and input
from the content store (checked against their registered digests), run the model
on the deterministic runtime (or, for models offered in the openai format, on the
OpenAI-compatible server given with --openai), store the output in the content
store, append an inference record to --log, and commit the result (redundant
jobs commit first and reveal once every executor has committed).

With --listen, it also serves sessions: buyers' signed calls over HTTP, answered
with signed receipts and settled in batches under a Merkle root.

Its state (HOME/provider/ADDRESS, or --state) keeps every commitment's opening
and every transaction in flight: stop it at any time; restarted, it reveals
what it committed to and sends nothing twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			key, err := kr.Signer(from)
			if err != nil {
				return err
			}
			home, _, err := g.clientConfig(&f)
			if err != nil {
				return err
			}
			addr := wire.AddressFromPubKey(key.Public().(ed25519.PublicKey))
			if state == "" {
				state = providerDir(home, addr)
			}
			id, err := ageIdentity(state)
			if err != nil {
				return err
			}
			oa, err := parseKV("openai", openai)
			if err != nil {
				return err
			}
			zkp, err := parseZKFlags(zkFlags)
			if err != nil {
				return err
			}
			level := slog.LevelInfo
			if logRequests {
				level = slog.LevelDebug
			}
			lg := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			d, err := provider.New(provider.Config{Chain: pc.Chain, Blobs: pc, Key: key, Dir: state, Poll: poll, LogName: logName, Fault: fault,
				Runner: &provider.Runner{OpenAI: oa, Workers: workers}, Log: lg, ZK: zkp,
				Decrypt: func(ct []byte) ([]byte, error) {
					r, err := age.Decrypt(bytes.NewReader(ct), id)
					if err != nil {
						return nil, err
					}
					return io.ReadAll(r)
				}})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if once {
				n, err := d.Step(ctx)
				g.printf("sent %d messages\n", n)
				return err
			}
			fmt.Fprintf(g.stderr, "provider %s serving (state %s)\n", addr, state)
			errc := make(chan error, 1)
			if listen != "" {
				srv, err := provider.NewSessionServer(provider.SessionConfig{Daemon: d, BatchSize: batchSize, BatchEvery: batchEvery})
				if err != nil {
					return err
				}
				go func() { errc <- srv.ListenAndServe(ctx, listen) }()
				fmt.Fprintf(g.stderr, "sessions on http://%s\n", listen)
			}
			go func() { errc <- d.Run(ctx) }()
			select {
			case err := <-errc:
				stop()
				return err
			case <-ctx.Done():
				return nil
			}
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the provider's key (required)")
	fl.StringVar(&state, "state", "", "state directory (default HOME/provider/ADDRESS)")
	fl.StringVar(&logName, "log", "", "inference log on the node to append a record of every inference to")
	fl.DurationVar(&poll, "poll", 200*time.Millisecond, "how often to look for work")
	fl.StringArrayVar(&openai, "openai", nil, "MODEL=URL: an OpenAI-compatible server that runs an openai-format model (repeatable)")
	fl.StringArrayVar(&zkFlags, "zk", nil, "MODEL=SETUP_DIR:SALT_FILE: prove zk jobs of MODEL with this ceremony and commitment salt (repeatable)")
	fl.IntVar(&workers, "workers", 0, "goroutines per model execution (0: all cores)")
	fl.StringVar(&listen, "listen", "", "serve sessions on this address, e.g. 127.0.0.1:7001 (loopback unless you say otherwise)")
	fl.IntVar(&batchSize, "batch-size", 1000, "settle a session's calls once this many are waiting")
	fl.DurationVar(&batchEvery, "batch-every", 5*time.Second, "settle waiting session calls at least this often")
	fl.BoolVar(&once, "once", false, "do one round of work and exit")
	fl.BoolVar(&logRequests, "verbose", false, "log every transaction")
	fl.StringVar(&fault, "fault", "", "misbehave on purpose, to see the market catch it: wrong-output")
	fl.MarkHidden("fault")
	cmd.MarkFlagRequired("from")
	return cmd
}

// --- market ---

func newMarketCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "market", Short: "Offer models on the inference market"}
	cmd.AddCommand(newMarketOfferCmd(g), newMarketGrantCmd(g), newMarketShowCmd(g), newMarketParamsCmd(g))
	return cmd
}

func newMarketOfferCmd(g *globalFlags) *cobra.Command {
	var (
		tf                       txFlags
		from, price, artifact    string
		format                   string
		private, inactive, check bool
	)
	cmd := &cobra.Command{
		Use:   "offer MODEL --from OWNER --artifact FILE [--price AMOUNT]",
		Short: "Put a registered model on the market (its owner only)",
		Long: `Offer MODEL (a registered model id) for inference at a price per call to you,
the owner (part of it goes to the contributors of the model's datasets, per the
royalty in its registered terms). --artifact is the runnable file: a .vaim for
the deterministic runtime (format vaim, any verification mode), or a description
of an OpenAI-compatible deployment (format openai: optimistic or tee only). Its
SHA-256 is recorded; providers check what they run against it. Buyers see the
model id and that digest, never the weights: with --private the artifact is not
published, and you grant it to providers one by one (vai market grant).`,
		Example: `  vai market offer sha256:… --from dev --artifact digits_mlp.vaim --price 100uvai`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			model, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(artifact)
			if err != nil {
				return err
			}
			rec, err := pc.Record(cmd.Context(), model)
			if err != nil {
				return err
			}
			if rec == nil || rec.Model == nil {
				return fmt.Errorf("no model %s is registered", model)
			}
			if check && format == "vaim" {
				if err := artifactInModel(cmd.Context(), pc, rec.Model, data); err != nil {
					return err
				}
			}
			p := rec.Model.Terms.Price
			if price != "" {
				if p, err = wire.ParseCoin(price); err != nil {
					return fmt.Errorf("--price: %w", err)
				}
			}
			digest := sha256.Sum256(data)
			o := market.MsgOffer{Model: model, Price: p, ArtifactDigest: hex.EncodeToString(digest[:]), Format: format, Active: !inactive}
			if !private {
				if o.PublicCID, err = pc.PutBlob(cmd.Context(), data); err != nil {
					return err
				}
			}
			m, err := wire.NewMsg("market/offer", o)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "offer %s: %s per call, artifact sha256:%s\n", model, p, o.ArtifactDigest)
			return g.send(cmd.Context(), &tf, from, m)
		},
	}
	tf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the model owner's key (required)")
	fl.StringVar(&artifact, "artifact", "", "the runnable artifact (required)")
	fl.StringVar(&price, "price", "", "price per call to the owner (default: the model's registered price)")
	fl.StringVar(&format, "format", "vaim", "vaim (deterministic runtime) or openai (external server)")
	fl.BoolVar(&private, "private", false, "do not publish the artifact: grant it to providers with vai market grant")
	fl.BoolVar(&inactive, "inactive", false, "withdraw the model from the market (no new jobs)")
	fl.BoolVar(&check, "check", true, "check the artifact is a file of the registered model's manifest")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("artifact")
	return cmd
}

// artifactInModel checks that the artifact's SHA-256 is among the
// registered model's manifest resources: the market runs the model that
// was registered.
func artifactInModel(ctx context.Context, pc *provenance.Client, m *registry.Model, data []byte) error {
	man, _, err := pc.Manifest(ctx, m.ID, m.Content)
	if err != nil {
		return fmt.Errorf("read the model's manifest: %w (skip with --check=false)", err)
	}
	d := sha256.Sum256(data)
	b3 := blake3.Sum256(data)
	want := hex.EncodeToString(d[:])
	for _, r := range man.Resources {
		if (r.Algorithm == "sha256" && bytes.Equal(r.Digest, d[:])) || (r.Algorithm == "blake3" && bytes.Equal(r.Digest, b3[:])) {
			return nil
		}
	}
	return fmt.Errorf("the artifact (sha256 %s) is not a file of registered model %s; register the directory that holds it (or --check=false)", want, m.ID)
}

func newMarketGrantCmd(g *globalFlags) *cobra.Command {
	var tf txFlags
	var from, artifact, to string
	cmd := &cobra.Command{
		Use:   "grant MODEL --to PROVIDER --artifact FILE --from OWNER",
		Short: "Give one provider a private model's artifact, encrypted to its key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			model, err := registry.ParseID(args[0])
			if err != nil {
				return err
			}
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			addr, err := g.resolveAddress(&tf.clientFlags, to)
			if err != nil {
				return err
			}
			var p market.ProviderResponse
			if _, err := pc.Chain.Query(cmd.Context(), "/market/provider", map[string]any{"address": addr}, &p, 0); err != nil {
				return err
			}
			if p.EncryptionKey == "" {
				return fmt.Errorf("provider %s has no encryption key", addr)
			}
			rcpt, err := age.ParseX25519Recipient(p.EncryptionKey)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(artifact)
			if err != nil {
				return err
			}
			var ct bytes.Buffer
			w, err := age.Encrypt(&ct, rcpt)
			if err != nil {
				return err
			}
			w.Write(data)
			if err := w.Close(); err != nil {
				return err
			}
			cid, err := pc.PutBlob(cmd.Context(), ct.Bytes())
			if err != nil {
				return err
			}
			return g.sendMsg(cmd.Context(), &tf, from, "market/grant", market.MsgGrant{Model: model, Provider: addr, CID: cid})
		},
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the model owner's key (required)")
	cmd.Flags().StringVar(&to, "to", "", "the provider (address or key name; required)")
	cmd.Flags().StringVar(&artifact, "artifact", "", "the artifact (required)")
	for _, r := range []string{"from", "to", "artifact"} {
		cmd.MarkFlagRequired(r)
	}
	return cmd
}

func newMarketShowCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show MODEL",
		Short: "Show a model's offer: price, artifact digest, format, and who serves it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			var o market.Offer
			if _, err := c.Query(cmd.Context(), "/market/offer", map[string]any{"model": args[0]}, &o, 0); err != nil {
				return err
			}
			return g.print(o, func() {
				g.printf("model     %s\nowner     %s\nprice     %s per call\nartifact  sha256:%s (%s)\nactive    %v\n", o.Model, o.Owner, o.Price, o.ArtifactDigest, o.Format, o.Active)
				if o.PublicCID != "" {
					g.printf("public    %s\n", o.PublicCID)
				}
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newMarketParamsCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "params",
		Short: "Show the market's parameters (stakes, windows, fees, slashing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			var p market.Params
			if _, err := c.Query(cmd.Context(), "/market/params", map[string]any{}, &p, 0); err != nil {
				return err
			}
			return g.printJSON(p)
		},
	}
	f.register(cmd)
	return cmd
}

// --- jobs ---

func newJobCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Submit inference jobs and follow, challenge or settle them"}
	cmd.AddCommand(newJobSubmitCmd(g), newJobShowCmd(g), newJobListCmd(g),
		newJobActionCmd(g, "challenge", "Challenge an optimistic result within its window (bonds the market's challenge_bond)", "market/challenge"),
		newJobActionCmd(g, "settle", "Apply whatever is due for a job (anyone may)", "market/settle"),
		newJobActionCmd(g, "cancel", "Cancel a job no provider has taken yet (its buyer only): full refund", "market/cancel"),
		newJobActionCmd(g, "decline", "As an assigned provider, hand a job back without penalty", "market/decline"))
	return cmd
}

func newJobSubmitCmd(g *globalFlags) *cobra.Command {
	var (
		tf                         txFlags
		from, model, input, budget string
		verify                     string
		deadline                   int64
		waitTimeout                time.Duration
		providers                  []string
		encrypt                    bool
		quantized                  bool
	)
	cmd := &cobra.Command{
		Use:   "submit --from KEY --model ID --input FILE --budget AMOUNT --verify MODE --deadline N",
		Short: "Post an inference job, escrowing its budget; with --wait, print the result",
		Long: `Upload the input (CSV or JSON samples for vaim models; a chat-completions request
for openai models) to the content store and post a job: the budget is escrowed,
providers are drawn by the chain, the result is verified by the mode — redundant:K
(K providers must agree), optimistic (challengeable for a window), zk or tee — and
the budget pays the model owner, its data contributors and the providers; the
rest is refunded. --deadline is in blocks. With --wait it returns when the job
closes and prints the result (for classifiers, the predicted class of every
sample).`,
		Example: `  vai job submit --from dev --model sha256:… --input digit.csv --budget 1vai --verify redundant:2 --deadline 30 --wait`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mid, err := registry.ParseID(model)
			if err != nil {
				return fmt.Errorf("--model: %w", err)
			}
			mode, err := market.ParseMode(verify)
			if err != nil {
				return fmt.Errorf("--verify: %w", err)
			}
			b, err := wire.ParseCoin(budget)
			if err != nil {
				return fmt.Errorf("--budget: %w", err)
			}
			data, err := os.ReadFile(input)
			if err != nil {
				return err
			}
			pc, err := g.provenance(&tf.clientFlags)
			if err != nil {
				return err
			}
			var allow []wire.Address
			for _, p := range providers {
				a, err := g.resolveAddress(&tf.clientFlags, p)
				if err != nil {
					return fmt.Errorf("--providers: %w", err)
				}
				allow = append(allow, a)
			}
			if mode.Kind == market.ModeZK {
				if data, err = zkJobInput(cmd.Context(), pc, mid, data, quantized); err != nil {
					return fmt.Errorf("zk input: %w", err)
				}
				fmt.Fprintf(g.stderr, "zk input (quantised, canonical): %s\n", data)
			}
			d := sha256.Sum256(data)
			blob := data
			if encrypt {
				if allow, blob, err = encryptInput(cmd.Context(), pc.Chain, mid, allow, data); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "input encrypted to %d provider(s)\n", len(allow))
			}
			cid, err := pc.PutBlob(cmd.Context(), blob)
			if err != nil {
				return err
			}
			m, err := wire.NewMsg("market/submit", market.MsgSubmitJob{Model: mid, InputCID: cid, InputDigest: d[:], Budget: b, Deadline: deadline, Mode: mode,
				Providers: allow, Encrypted: encrypt})
			if err != nil {
				return err
			}
			wait := tf.wait
			tf.wait = true
			out := g.stdout
			if wait {
				g.stdout = g.stderr // the transaction's receipt; the result goes to stdout
			}
			sent, err := g.sendResult(cmd.Context(), &tf, from, m)
			g.stdout = out
			if err != nil {
				return err
			}
			id, err := jobID(sent.Result)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "job %d submitted\n", id)
			if !wait {
				return g.print(map[string]any{"job": id}, func() { g.printf("job %d\n", id) })
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), waitTimeout)
			defer cancel()
			j, err := waitJob(ctx, pc.Chain, id)
			if err != nil {
				return err
			}
			return printJobResult(ctx, g, pc, j)
		},
	}
	tf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the buyer's key (required)")
	fl.StringVar(&model, "model", "", "the model's id (required)")
	fl.StringVar(&input, "input", "", "the input file (required)")
	fl.StringVar(&budget, "budget", "", "escrowed budget, e.g. 1vai (required)")
	fl.StringVar(&verify, "verify", "redundant:2", "verification: redundant:K, optimistic, zk or tee")
	fl.Int64Var(&deadline, "deadline", 50, "blocks until the job must be done (refunded otherwise)")
	fl.DurationVar(&waitTimeout, "wait-timeout", 5*time.Minute, "with --wait, give up after this long")
	fl.StringSliceVar(&providers, "providers", nil, "only these providers (addresses or key names) may take the job")
	fl.BoolVar(&encrypt, "encrypt", false, "encrypt the input to the providers' keys (default: every provider serving the model)")
	fl.BoolVar(&quantized, "quantized", false, "zk jobs: the input is int8 already (otherwise quantised with the model's public artifact)")
	for _, r := range []string{"from", "model", "input", "budget"} {
		cmd.MarkFlagRequired(r)
	}
	return cmd
}

// encryptInput encrypts an input to the listed providers' age keys, or
// if none are listed to every provider serving the model that has one.
func encryptInput(ctx context.Context, c *client.Client, model registry.ID, allow []wire.Address, data []byte) ([]wire.Address, []byte, error) {
	if len(allow) == 0 {
		var ps []market.Provider
		if _, err := c.Query(ctx, "/market/providers", map[string]any{}, &ps, 0); err != nil {
			return nil, nil, err
		}
		for _, p := range ps {
			var pr market.ProviderResponse
			if _, err := c.Query(ctx, "/market/provider", map[string]any{"address": p.Address}, &pr, 0); err != nil {
				return nil, nil, err
			}
			if pr.EncryptionKey != "" && slices.ContainsFunc(pr.Serves, func(s market.ServeEntry) bool { return s.Model == model }) {
				allow = append(allow, p.Address)
			}
		}
		if len(allow) == 0 {
			return nil, nil, fmt.Errorf("no provider of %s has an encryption key", model)
		}
	}
	var rcpts []age.Recipient
	for _, a := range allow {
		var pr market.ProviderResponse
		if _, err := c.Query(ctx, "/market/provider", map[string]any{"address": a}, &pr, 0); err != nil {
			return nil, nil, err
		}
		r, err := age.ParseX25519Recipient(pr.EncryptionKey)
		if err != nil {
			return nil, nil, fmt.Errorf("provider %s: encryption key: %w", a, err)
		}
		rcpts = append(rcpts, r)
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, rcpts...)
	if err != nil {
		return nil, nil, err
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return allow, ct.Bytes(), nil
}

// jobID reads the job id from a submission's events.
func jobID(r *client.TxResult) (uint64, error) {
	if r != nil {
		for _, e := range r.Events {
			if e.Type == "job_submitted" {
				return strconv.ParseUint(e.Attrs["job"], 10, 64)
			}
		}
	}
	return 0, errors.New("the submission's result has no job_submitted event")
}

// jobByID reads the job an argument names.
func jobByID(ctx context.Context, c *client.Client, arg string) (*market.Job, error) {
	id, err := strconv.ParseUint(arg, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("job id: %w", err)
	}
	var j market.Job
	if _, err := c.Query(ctx, "/market/job", map[string]any{"id": id}, &j, 0); err != nil {
		return nil, err
	}
	return &j, nil
}

// waitJob polls until a job closes.
func waitJob(ctx context.Context, c *client.Client, id uint64) (*market.Job, error) {
	for {
		var j market.Job
		if _, err := c.Query(ctx, "/market/job", map[string]any{"id": id}, &j, 0); err != nil {
			return nil, err
		}
		if j.State == market.StateClosed {
			return &j, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %d is still %s: %w", id, j.State, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printJobResult(ctx context.Context, g *globalFlags, pc *provenance.Client, j *market.Job) error {
	type result struct {
		Job    *market.Job      `json:"job"`
		Output *provider.Output `json:"output,omitempty"`
		Raw    json.RawMessage  `json:"raw_output,omitempty"`
	}
	r := result{Job: j}
	var raw []byte
	if j.Result != nil && j.Result.OutputCID != "" && (j.Closing.Reason == market.CloseSettled || j.Closing.Reason == market.CloseUpheld || j.Closing.Reason == market.CloseOverturned) {
		b, err := pc.GetBlob(ctx, j.Result.OutputCID, 64<<20)
		if err != nil {
			return err
		}
		if !bytes.Equal(provider.Digest(b), j.Result.Output) {
			return fmt.Errorf("the output at %s does not match the digest the chain accepted", j.Result.OutputCID)
		}
		raw = b
		var o provider.Output
		if json.Unmarshal(b, &o) == nil && o.Model != "" {
			r.Output = &o
		} else if json.Valid(b) {
			r.Raw = b
		}
	}
	err := g.print(r, func() {
		printJob(g, j)
		switch {
		case r.Output != nil && r.Output.Error != "":
			g.printf("error      %s\n", r.Output.Error)
		case r.Output != nil:
			for i, s := range r.Output.Outputs {
				g.printf("predicted  %d   (sample %d, scores %v)\n", s.Argmax, i+1, s.Output)
			}
		case raw != nil:
			g.printf("output     %s\n", bytes.TrimSpace(raw))
		}
	})
	if err == nil && j.Closing != nil && j.Closing.Reason != market.CloseSettled && j.Closing.Reason != market.CloseUpheld && j.Closing.Reason != market.CloseOverturned {
		return fmt.Errorf("job %d closed %s: refunded %s", j.ID, j.Closing.Reason, j.Closing.Refund)
	}
	return err
}

func printJob(g *globalFlags, j *market.Job) {
	g.printf("job        %d   %s   %s\n", j.ID, j.Mode, j.State)
	g.printf("model      %s\n", j.Model)
	g.printf("buyer      %s   budget %s   deadline %d\n", j.Buyer, j.Budget, j.Deadline)
	for _, a := range j.Assignments {
		g.printf("%-10s %s   %s   price %s\n", a.Role, a.Provider, a.State, a.Price)
	}
	if j.Challenge != nil {
		g.printf("challenge  by %s at %d\n", j.Challenge.Challenger, j.Challenge.Height)
	}
	if j.Result != nil {
		g.printf("result     sha256:%s   %s\n", hex.EncodeToString(j.Result.Output), j.Result.OutputCID)
		if j.Mode.Kind == market.ModeZK && len(j.Result.Evidence) > 0 {
			var e zk.JobEvidence
			if json.Unmarshal(j.Result.Evidence, &e) == nil {
				g.printf("proof      %d bytes, verified on chain with key %s\n", len(e.Proof), e.VK)
			}
		}
	}
	if c := j.Closing; c != nil {
		g.printf("closed     %s at %d   cost %s   refund %s\n", c.Reason, c.Height, c.Cost, c.Refund)
	}
	for _, p := range j.Split {
		g.printf("paid       %-8s %s   %s\n", p.Kind, p.To, p.Amount)
	}
}

func newJobShowCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job: assignments, result, how it closed (and the output once accepted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pc, err := g.provenance(&f)
			if err != nil {
				return err
			}
			j, err := jobByID(cmd.Context(), pc.Chain, args[0])
			if err != nil {
				return err
			}
			if j.State != market.StateClosed {
				return g.print(j, func() { printJob(g, j) })
			}
			return printJobResult(cmd.Context(), g, pc, j)
		},
	}
	f.register(cmd)
	return cmd
}

func newJobListCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	var buyer, prov string
	var open bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--buyer ADDR] [--provider ADDR] [--open]",
		Short: "List jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, _, err := g.dial(&f)
			if err != nil {
				return err
			}
			req := map[string]any{"open": open, "limit": limit}
			if buyer != "" {
				if req["buyer"], err = g.resolveAddress(&f, buyer); err != nil {
					return err
				}
			}
			if prov != "" {
				if req["provider"], err = g.resolveAddress(&f, prov); err != nil {
					return err
				}
			}
			var jobs []market.Job
			if _, err := c.Query(cmd.Context(), "/market/jobs", req, &jobs, 0); err != nil {
				return err
			}
			return g.print(jobs, func() {
				for _, j := range jobs {
					how := j.State
					if j.Closing != nil {
						how = "closed " + j.Closing.Reason
					}
					g.printf("%d\t%s\t%s\t%s\tbudget %s\n", j.ID, j.Mode, how, j.Model, j.Budget)
				}
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&buyer, "buyer", "", "only this buyer's jobs")
	cmd.Flags().StringVar(&prov, "provider", "", "only jobs this provider took part in")
	cmd.Flags().BoolVar(&open, "open", false, "only jobs not closed")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (≤ 500)")
	return cmd
}

func newJobActionCmd(g *globalFlags, use, short, typ string) *cobra.Command {
	return newMsgCmd(g, use+" ID --from KEY", short, "the signing key", cobra.ExactArgs(1), func(args []string, _ *clientFlags) (wire.Msg, error) {
		id, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return wire.Msg{}, fmt.Errorf("job id: %w", err)
		}
		return wire.NewMsg(typ, market.MsgJobAction{Job: id})
	})
}
