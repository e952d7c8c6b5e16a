package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/keyring"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/wire"
)

// nodeFlags are the flags of commands that run a node.
type nodeFlags struct {
	logLevel string
	basePort int
}

func (f *nodeFlags) register(cmd *cobra.Command, withPorts bool) {
	cmd.Flags().StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn or error (default from app.toml: warn)")
	if withPorts {
		cmd.Flags().IntVar(&f.basePort, "base-port", 0, "listen on P2P=PORT, RPC=PORT+1, Prometheus=PORT+4, REST=PORT+5 instead of the standard ports (new homes only)")
	}
}

func (f *nodeFlags) ports() node.Ports {
	if f.basePort == 0 {
		return node.DefaultPorts
	}
	return node.TestnetPorts(f.basePort, 0)
}

func devKey(home string) (wire.Address, error) {
	kr, err := keyring.Open(keyring.Config{Home: home, Backend: keyring.BackendTest})
	if err != nil {
		return wire.Address{}, err
	}
	if info, err := kr.Show("dev"); err == nil {
		return info.Address, nil
	}
	info, err := kr.Add("dev")
	return info.Address, err
}

func newUpCmd(g *globalFlags) *cobra.Command {
	var f nodeFlags
	var reset bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a single-node devnet (created on first use)",
		Long: `Run vai on this machine: a single-validator chain (chain id vai-devnet) with
the REST API and metrics, all on loopback. On an empty home it creates the
devnet and a key named "dev" in the test keyring, funded at genesis. Running
it again resumes the same chain; --reset starts a new one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			if reset {
				if err := resetDevnet(home); err != nil {
					return err
				}
			}
			created := false
			if !node.Initialized(home) {
				if _, err := node.Devnet(home, f.ports(), devKey); err != nil {
					return fmt.Errorf("create devnet: %w", err)
				}
				created = true
			}
			return runNode(cmd.Context(), g, home, f, created)
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&reset, "reset", false, "delete this devnet's chain and keys and start a new one")
	return cmd
}

// resetDevnet deletes a devnet's chain state and keys. It refuses homes of
// other chains.
func resetDevnet(home string) error {
	if !node.Initialized(home) {
		return nil
	}
	g, err := types.GenesisDocFromFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		return err
	}
	if g.ChainID != node.DevnetChainID {
		return fmt.Errorf("--reset deletes only devnets; %s holds chain %q", home, g.ChainID)
	}
	for _, d := range []string{"config", "data", "keyring-test", "light"} {
		if err := os.RemoveAll(filepath.Join(home, d)); err != nil {
			return err
		}
	}
	return nil
}

func runNode(ctx context.Context, g *globalFlags, home string, f nodeFlags, created bool) error {
	n, err := node.New(node.Options{Home: home, LogLevel: f.logLevel, LogOutput: g.stderr})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := n.Start(); err != nil {
		return err
	}
	e := n.Endpoints()
	gen, _ := types.GenesisDocFromFile(n.Comet.GenesisFile())
	chain := ""
	if gen != nil {
		chain = gen.ChainID
	}
	verb := "resumed"
	if created {
		verb = "created"
	}
	g.printf("vai node running: chain %s (%s), home %s\n", chain, verb, home)
	g.printf("  RPC         %s\n", e.RPC)
	if e.API != "" {
		g.printf("  REST API    %s\n", e.API)
	}
	if e.Prometheus != "" {
		g.printf("  Prometheus  %s\n", e.Prometheus)
	}
	if kr, err := keyring.Open(keyring.Config{Home: home, Backend: keyring.BackendTest}); err == nil {
		if info, err := kr.Show("dev"); err == nil {
			g.printf("  dev key     %s (name \"dev\", test keyring)\n", info.Address)
		}
	}
	g.printf("Press Ctrl-C to stop.\n")
	<-ctx.Done()
	g.printf("stopping…\n")
	return n.Stop()
}

func newStartCmd(g *globalFlags) *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the node of a prepared home (vai init, vai testnet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			return runNode(cmd.Context(), g, home, f, false)
		},
	}
	f.register(cmd, false)
	return cmd
}

func parseFunds(funds []string) ([]bank.GenesisBalance, error) {
	var out []bank.GenesisBalance
	for _, s := range funds {
		addr, amt, ok := cutLast(s, "=")
		if !ok {
			return nil, fmt.Errorf("--fund %q: want ADDRESS=AMOUNT", s)
		}
		a, err := wire.ParseAddress(addr)
		if err != nil {
			return nil, fmt.Errorf("--fund %q: %w", s, err)
		}
		c, err := wire.ParseCoin(amt)
		if err != nil {
			return nil, fmt.Errorf("--fund %q: %w", s, err)
		}
		out = append(out, bank.GenesisBalance{Address: a, Amount: c})
	}
	return out, nil
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func newInitCmd(g *globalFlags) *cobra.Command {
	var chainID, moniker, host string
	var funds []string
	var basePort int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home with this node as the only validator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			bal, err := parseFunds(funds)
			if err != nil {
				return err
			}
			ports := node.DefaultPorts
			if basePort != 0 {
				ports = node.TestnetPorts(basePort, 0)
			}
			if _, err := node.Init(node.InitOptions{Home: home, ChainID: chainID, Moniker: moniker, Host: host, Ports: ports, Balances: bal}); err != nil {
				return err
			}
			g.printf("initialised %s for chain %s; start it with: vai start --home %s\n", home, chainID, home)
			return nil
		},
	}
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain id (required)")
	cmd.Flags().StringVar(&moniker, "moniker", "vai-node", "node name")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "address the node's servers bind to")
	cmd.Flags().StringArrayVar(&funds, "fund", nil, "genesis balance ADDRESS=AMOUNT (repeatable)")
	cmd.Flags().IntVar(&basePort, "base-port", 0, "P2P=PORT, RPC=PORT+1, Prometheus=PORT+4, REST=PORT+5 (default: standard ports)")
	cmd.MarkFlagRequired("chain-id")
	return cmd
}

func newTestnetCmd(g *globalFlags) *cobra.Command {
	var n, basePort int
	var out, chainID string
	var funds []string
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Create N validator homes wired together on loopback",
		Long: `Create N validator homes (OUT/node0 … OUT/node<N-1>) sharing one genesis, each
peering with all others on loopback with distinct ports and fast gossip
settings. Node i listens on P2P=BASE+10i, RPC=BASE+10i+1, Prometheus=+4,
REST=+5. A key named "dev", funded at genesis, is in each home's test
keyring. Start each with: vai start --home OUT/node<i>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			bal, err := parseFunds(funds)
			if err != nil {
				return err
			}
			// One dev key, copied into every home.
			dev, err := devKey(node.TestnetHome(out, 0))
			if err != nil {
				return err
			}
			kr0, _ := keyring.Open(keyring.Config{Home: node.TestnetHome(out, 0), Backend: keyring.BackendTest})
			seed, err := kr0.Export("dev")
			if err != nil {
				return err
			}
			bal = append(bal, bank.GenesisBalance{Address: dev, Amount: wire.UVAI(node.DevnetFunds)})
			if err := node.Testnet(node.TestnetOptions{Out: out, Validators: n, ChainID: chainID, BasePort: basePort, Balances: bal}); err != nil {
				return err
			}
			for i := 1; i < n; i++ {
				kr, err := keyring.Open(keyring.Config{Home: node.TestnetHome(out, i), Backend: keyring.BackendTest})
				if err != nil {
					return err
				}
				if _, err := kr.Import("dev", seed); err != nil {
					return err
				}
			}
			type nodeInfo struct {
				Home string `json:"home"`
				RPC  string `json:"rpc"`
				API  string `json:"api"`
			}
			var nodes []nodeInfo
			bp := basePort
			if bp == 0 {
				bp = node.DefaultPorts.P2P
			}
			for i := range n {
				p := node.TestnetPorts(bp, i)
				nodes = append(nodes, nodeInfo{Home: node.TestnetHome(out, i), RPC: fmt.Sprintf("http://127.0.0.1:%d", p.RPC), API: fmt.Sprintf("http://127.0.0.1:%d", p.API)})
			}
			return g.print(map[string]any{"chain_id": chainID, "dev": dev, "nodes": nodes}, func() {
				g.printf("created %d validator homes for chain %s (dev key %s)\n", n, chainID, dev)
				for _, ni := range nodes {
					g.printf("  vai start --home %s   # RPC %s, REST %s\n", ni.Home, ni.RPC, ni.API)
				}
			})
		},
	}
	cmd.Flags().IntVar(&n, "validators", 4, "number of validators")
	cmd.Flags().StringVar(&out, "out", "", "directory for the homes (required)")
	cmd.Flags().StringVar(&chainID, "chain-id", "vai-testnet", "chain id")
	cmd.Flags().IntVar(&basePort, "base-port", 0, "first port (default 26656)")
	cmd.Flags().StringArrayVar(&funds, "fund", nil, "genesis balance ADDRESS=AMOUNT (repeatable)")
	return cmd
}
