package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	dbm "github.com/cometbft/cometbft-db"

	"github.com/vai-dev/vai/internal/abci"
	"github.com/vai-dev/vai/internal/app"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// DevnetChainID is the chain id `vai up` creates.
const DevnetChainID = "vai-devnet"

// Ports a node listens on, all on loopback unless Host says otherwise.
type Ports struct {
	P2P, RPC, API, Prometheus int
}

// DefaultPorts are the standard ports (DESIGN D2).
var DefaultPorts = Ports{P2P: 26656, RPC: 26657, API: 1317, Prometheus: 26660}

// InitOptions describe a new home.
type InitOptions struct {
	Home    string
	ChainID string
	Moniker string
	// Host is the address every server binds to (default 127.0.0.1).
	Host  string
	Ports Ports
	// Balances funded at genesis.
	Balances []bank.GenesisBalance
	// Sections replace modules' default genesis sections.
	Sections map[string]json.RawMessage
	// KeyringBackend is the default for client commands using this home.
	KeyringBackend string
	// Genesis, if set, is used instead of making one (testnets share one).
	Genesis *types.GenesisDoc
	// Tune for many nodes on one machine (loopback peers).
	Loopback bool
	// Solo is a node that will never have peers (a devnet): no peer
	// exchange, so no address book written in the background.
	Solo bool
	// InvariantPeriod for app.toml (0 keeps the default).
	InvariantPeriod int64
}

// ErrHomeExists is returned when initialising a home that has a config.
var ErrHomeExists = errors.New("home already initialised")

// Initialized reports whether home holds a node configuration.
func Initialized(home string) bool {
	_, err := os.Stat(filepath.Join(home, "config", "genesis.json"))
	return err == nil
}

// Init creates a home: CometBFT and vai configuration, node and validator
// keys, and (unless one is given) a genesis with this node as the only
// validator.
func Init(o InitOptions) (*types.GenesisDoc, error) {
	if Initialized(o.Home) {
		return nil, fmt.Errorf("%w: %s", ErrHomeExists, o.Home)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Ports == (Ports{}) {
		o.Ports = DefaultPorts
	}
	if o.Moniker == "" {
		o.Moniker = "vai-node"
	}
	if o.KeyringBackend == "" {
		o.KeyringBackend = "file"
	}
	c := cometConfig(o)
	if err := os.MkdirAll(filepath.Join(o.Home, "config"), 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Home, "data"), 0o700); err != nil {
		return nil, err
	}
	cmtcfg.WriteConfigFile(filepath.Join(o.Home, "config", "config.toml"), c)
	app := DefaultAppConfig()
	app.API.Address = fmt.Sprintf("%s:%d", o.Host, o.Ports.API)
	if o.InvariantPeriod != 0 {
		app.State.InvariantPeriod = o.InvariantPeriod
	}
	if err := writeTOML(filepath.Join(o.Home, "config", appConfigFile), app); err != nil {
		return nil, err
	}
	cc := ClientConfig{ChainID: o.ChainID, Node: fmt.Sprintf("http://%s:%d", o.Host, o.Ports.RPC),
		API: fmt.Sprintf("http://%s:%d", o.Host, o.Ports.API), KeyringBackend: o.KeyringBackend}
	if err := writeTOML(filepath.Join(o.Home, "config", clientConfigFile), cc); err != nil {
		return nil, err
	}
	if _, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile()); err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	pv := privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	pv.Save()
	g := o.Genesis
	if g == nil {
		pub, err := pv.GetPubKey()
		if err != nil {
			return nil, err
		}
		var err2 error
		g, err2 = NewGenesis(o.ChainID, []types.GenesisValidator{{Address: pub.Address(), PubKey: pub, Power: 10, Name: o.Moniker}}, o.Balances, o.Sections)
		if err2 != nil {
			return nil, err2
		}
	}
	if err := g.SaveAs(c.GenesisFile()); err != nil {
		return nil, fmt.Errorf("write genesis: %w", err)
	}
	return g, nil
}

// MaxBlockBytes is the block size limit of new chains.
const MaxBlockBytes = 4 << 20

// NewGenesis builds a genesis document with the given validators and
// balances and every other module at its default.
func NewGenesis(chainID string, vals []types.GenesisValidator, balances []bank.GenesisBalance, sections map[string]json.RawMessage) (*types.GenesisDoc, error) {
	// Every module's default section, from an assembled (empty) ledger, so
	// a module added to the app gets its genesis without changes here.
	a, err := app.New(app.Config{DB: dbm.NewMemDB()})
	if err != nil {
		return nil, err
	}
	all := a.DefaultGenesis()
	if balances == nil {
		balances = []bank.GenesisBalance{}
	}
	all["bank"] = ledger.MustEncodeJSON(bank.Genesis{Balances: balances})
	for k, v := range sections {
		all[k] = v
	}
	appState, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	params := types.DefaultConsensusParams()
	params.Version.App = abci.AppVersion
	// Blocks of at most 4 MiB (about 6,500 transfers). CometBFT's 21 MiB
	// default lets a burst become one block too large to gossip and check
	// within a round's timeouts, so rounds fail until the mempool drains.
	params.Block.MaxBytes = MaxBlockBytes
	g := &types.GenesisDoc{
		ChainID:         chainID,
		GenesisTime:     time.Now().UTC().Truncate(time.Millisecond),
		InitialHeight:   1,
		ConsensusParams: params,
		Validators:      vals,
		AppState:        appState,
	}
	if err := g.ValidateAndComplete(); err != nil {
		return nil, err
	}
	return g, nil
}

// cometConfig is the CometBFT configuration of a new home.
func cometConfig(o InitOptions) *cmtcfg.Config {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(o.Home)
	c.Moniker = o.Moniker
	c.ProxyApp = "" // the application runs in-process
	c.RPC.ListenAddress = fmt.Sprintf("tcp://%s:%d", o.Host, o.Ports.RPC)
	c.P2P.ListenAddress = fmt.Sprintf("tcp://%s:%d", o.Host, o.Ports.P2P)
	c.Instrumentation.Prometheus = true
	c.Instrumentation.PrometheusListenAddr = fmt.Sprintf("%s:%d", o.Host, o.Ports.Prometheus)
	c.Instrumentation.Namespace = "cometbft"
	// Blocks come quickly when there are transactions and once a second
	// when idle: proofs of state at H need the header at H+1.
	c.Consensus.TimeoutCommit = 150 * time.Millisecond
	c.Consensus.CreateEmptyBlocks = true
	c.Consensus.CreateEmptyBlocksInterval = time.Second
	// The default mempool (5000 txs) drops transactions CheckTx accepted
	// once full; a larger one rides out bursts.
	c.Mempool.Size = 50_000
	c.Mempool.CacheSize = 100_000
	c.TxIndex.Indexer = "kv"
	// Gossip every 10 ms instead of 100 ms: multi-node blocks are ~3x
	// faster (measured, DESIGN §6).
	c.P2P.FlushThrottleTimeout = 10 * time.Millisecond
	c.Consensus.PeerGossipSleepDuration = 10 * time.Millisecond
	if o.Solo {
		c.P2P.PexReactor = false
	}
	if o.Loopback {
		c.P2P.AddrBookStrict = false
		c.P2P.AllowDuplicateIP = true
		// In a full mesh every node sends every transaction to every peer,
		// so with four nodes each receives most transactions three times.
		// Gossiping to two peers (CometBFT picks them; another replaces one
		// that disconnects) reaches most nodes, and a transaction a node
		// never saw still reaches it in the block. It cut node CPU per
		// transaction by about a sixth at four validators (bench/tps).
		c.Mempool.ExperimentalMaxGossipConnectionsToPersistentPeers = 2
		// The propose timeout stays at CometBFT's 3 s. Under a burst the
		// first full block takes over a second to build, gossip and check
		// while the nodes are busy admitting transactions, and with 1 s
		// those rounds failed: four validators ran 1,599-2,496 tx/s at 1 s
		// and 2,366-2,482 at 3 s (bench/tps). A stopped proposer now stalls
		// its turn 3 s.
		// CometBFT limits each peer link to 5 MB/s each way. A full 4 MiB
		// block plus the mempool gossip of ~580-byte transfers exceeds that,
		// so at four validators the links, not the CPUs, set the pace
		// (bench/tps: 1,333 tx/s at 5 MB/s, ~2,400 at 100 MiB/s). Loopback
		// has no bandwidth to share.
		c.P2P.SendRate = 100 << 20
		c.P2P.RecvRate = 100 << 20
	}
	return c
}

// DevnetFunds is the dev key's balance in a new devnet: one million vai.
const DevnetFunds = 1_000_000_000_000

// Devnet creates a single-validator devnet home: chain id vai-devnet, a
// test-keyring key named "dev" funded at genesis. It returns the dev address.
func Devnet(home string, ports Ports, addDevKey func(home string) (wire.Address, error)) (wire.Address, error) {
	dev, err := addDevKey(home)
	if err != nil {
		return wire.Address{}, err
	}
	// On a devnet the deny-list's windows are short and the dev key
	// arbitrates, so every path of the process can be tried in minutes.
	var reg registry.Genesis
	if err := ledger.DecodeJSON((&registry.Module{}).DefaultGenesis(), &reg); err != nil {
		return wire.Address{}, err
	}
	reg.Params.DisputeWindow, reg.Params.AppealWindow = 10, 10
	reg.Params.Arbiters = []wire.Address{dev}
	// The market's windows are short too (blocks are fast on a devnet),
	// except the assigned provider's: it has to run the model, and for a
	// zk job prove it, before it commits. A PLONK proof of the digits MLP
	// took over 10 s on a busy 2-core machine (one block a second), so 10
	// blocks timed the provider out (zkjobplonk.txtar).
	var mk market.Genesis
	if err := ledger.DecodeJSON((&market.Module{}).DefaultGenesis(), &mk); err != nil {
		return wire.Address{}, err
	}
	mk.Params.AssignTimeout, mk.Params.RevealTimeout, mk.Params.ChallengeWindow = 60, 5, 20
	mk.Params.VestingBlocks, mk.Params.UnbondingBlocks, mk.Params.JailBlocks = 3, 20, 20
	_, err = Init(InitOptions{
		Home: home, ChainID: DevnetChainID, Moniker: "devnet", Ports: ports,
		Balances:        []bank.GenesisBalance{{Address: dev, Amount: wire.UVAI(DevnetFunds)}},
		Sections:        map[string]json.RawMessage{registry.Name: ledger.MustEncodeJSON(reg), market.Name: ledger.MustEncodeJSON(mk)},
		KeyringBackend:  "test",
		InvariantPeriod: 1,
	})
	return dev, err
}

// TestnetOptions describe a multi-validator network on one machine.
type TestnetOptions struct {
	Out        string
	Validators int
	ChainID    string
	// BasePort: node i uses P2P BasePort+10i, RPC +1, Prometheus +4, REST +5.
	BasePort int
	// Balances funded at genesis.
	Balances []bank.GenesisBalance
}

// TestnetHome is the home directory of node i.
func TestnetHome(out string, i int) string { return filepath.Join(out, fmt.Sprintf("node%d", i)) }

// TestnetPorts returns node i's ports.
func TestnetPorts(base, i int) Ports {
	b := base + 10*i
	return Ports{P2P: b, RPC: b + 1, Prometheus: b + 4, API: b + 5}
}

// Testnet creates N validator homes sharing one genesis, each peering with
// all the others on loopback.
func Testnet(o TestnetOptions) error {
	if o.Validators < 1 {
		return errors.New("a testnet needs at least one validator")
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultPorts.P2P
	}
	if o.ChainID == "" {
		o.ChainID = "vai-testnet"
	}
	var vals []types.GenesisValidator
	ids := make([]string, o.Validators)
	for i := range o.Validators {
		home := TestnetHome(o.Out, i)
		if Initialized(home) {
			return fmt.Errorf("%w: %s", ErrHomeExists, home)
		}
		for _, d := range []string{"config", "data"} {
			if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
				return err
			}
		}
		c := cometConfig(InitOptions{Home: home})
		nk, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
		if err != nil {
			return err
		}
		ids[i] = string(nk.ID())
		pv := privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
		pv.Save()
		pub, err := pv.GetPubKey()
		if err != nil {
			return err
		}
		vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: fmt.Sprintf("node%d", i)})
	}
	g, err := NewGenesis(o.ChainID, vals, o.Balances, nil)
	if err != nil {
		return err
	}
	for i := range o.Validators {
		home := TestnetHome(o.Out, i)
		ports := TestnetPorts(o.BasePort, i)
		// Init skips existing keys (LoadOrGen) and writes the rest.
		os.Remove(filepath.Join(home, "config", "genesis.json"))
		opts := InitOptions{Home: home, ChainID: o.ChainID, Moniker: fmt.Sprintf("node%d", i), Ports: ports, Genesis: g, Loopback: true, KeyringBackend: "test"}
		if err := initKeepingKeys(opts); err != nil {
			return err
		}
		var peers []string
		for j := range o.Validators {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j], TestnetPorts(o.BasePort, j).P2P))
			}
		}
		c, err := LoadCometConfig(home)
		if err != nil {
			return err
		}
		c.P2P.PersistentPeers = strings.Join(peers, ",")
		cmtcfg.WriteConfigFile(filepath.Join(home, "config", "config.toml"), c)
	}
	return nil
}

// initKeepingKeys is Init for a home whose validator key exists already.
func initKeepingKeys(o InitOptions) error {
	c := cometConfig(o)
	keyFile, stateFile := c.PrivValidatorKeyFile(), c.PrivValidatorStateFile()
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	state, err := os.ReadFile(stateFile)
	if err != nil {
		return err
	}
	if _, err := Init(o); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return err
	}
	return os.WriteFile(stateFile, state, 0o600)
}
