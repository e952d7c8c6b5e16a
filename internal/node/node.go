// Package node assembles and runs a vai node in one process: CometBFT
// consensus with the vai ledger as its in-process ABCI application, the
// REST API, and Prometheus metrics. It also creates homes: single-node
// devnets and multi-validator testnets on one machine.
package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/rpc/client/local"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/cas/kubo"
	caslocal "github.com/vai-dev/vai/cas/local"
	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/abci"
	"github.com/vai-dev/vai/internal/app"
	"github.com/vai-dev/vai/internal/httpapi"
	"github.com/vai-dev/vai/tlog"
	"github.com/vai-dev/vai/wire"
)

// Options configure New.
type Options struct {
	Home string
	// LogLevel overrides app.toml's level when set.
	LogLevel string
	// LogOutput receives logs (default stderr).
	LogOutput io.Writer
	// NoMetrics turns Prometheus off whatever config.toml says (CometBFT
	// registers its metrics globally, so two nodes in one process clash).
	NoMetrics bool
}

// Node is a running (or ready to run) vai node.
type Node struct {
	Home   string
	Comet  *cmtcfg.Config
	Config AppConfig
	App    *app.App
	Client *client.Client
	API    *httpapi.Server
	// CAS is the content store served at /blobs (when the API is on).
	CAS cas.Store
	Log *slog.Logger
	// Logs and Publisher run the verifiable logs (nil if disabled).
	Logs      *tlog.Manager
	Publisher *tlog.Publisher

	stopPublisher context.CancelFunc

	node         *nm.Node
	rpcListeners []net.Listener
	dbMu         sync.Mutex
	dbs          []dbm.DB
}

// New loads a home and assembles its node without starting it.
func New(o Options) (*Node, error) {
	cc, err := LoadCometConfig(o.Home)
	if err != nil {
		return nil, err
	}
	ac, err := LoadAppConfig(o.Home)
	if err != nil {
		return nil, err
	}
	if o.NoMetrics {
		cc.Instrumentation.Prometheus = false
	}
	if o.LogLevel != "" {
		ac.Log.Level = o.LogLevel
	}
	level, err := ParseLevel(ac.Log.Level)
	if err != nil {
		return nil, err
	}
	out := o.LogOutput
	if out == nil {
		out = os.Stderr
	}
	var h slog.Handler = slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})
	if ac.Log.Format == "json" {
		h = slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(h)
	n := &Node{Home: o.Home, Comet: cc, Config: ac, Log: log}

	if _, _, err := catchUpIndex(cc, log.With("module", "txindex")); err != nil {
		// The chain can run without it; lookups of the missing blocks'
		// transactions will fail, so say so loudly.
		log.Error("the tx index lacks committed blocks and could not be repaired", "err", err)
	}

	appDB, err := n.openDB(&cmtcfg.DBContext{ID: "application", Config: cc})
	if err != nil {
		return nil, fmt.Errorf("open application state: %w", err)
	}
	a, err := app.New(app.Config{DB: appDB, InvariantPeriod: ac.State.InvariantPeriod, KeepVersions: ac.State.KeepVersions, Logger: log.With("module", "ledger")})
	if err != nil {
		n.closeDBs()
		return nil, err
	}
	n.App = a
	nodeKey, err := p2p.LoadNodeKey(cc.NodeKeyFile())
	if err != nil {
		n.closeDBs()
		return nil, fmt.Errorf("node key: %w", err)
	}
	pv := privval.LoadFilePV(cc.PrivValidatorKeyFile(), cc.PrivValidatorStateFile())
	cn, err := nm.NewNode(cc, pv, nodeKey,
		abci.ClientCreator(abci.New(a.Ledger)),
		nm.DefaultGenesisDocProviderFunc(cc),
		n.openCometDB,
		metricsProvider(cc.Instrumentation),
		cometLogger{log.With("module", "cometbft")},
		func(cn *nm.Node) {
			// Peers' transactions reach the mempool through
			// batchingMempool (mempool.go).
			sw := cn.Switch()
			if r := sw.Reactor("MEMPOOL"); r != nil {
				sw.RemoveReactor("MEMPOOL", r)
				sw.AddReactor("MEMPOOL", newBatchingMempool(r, a.Ledger.PreverifyBatch))
			}
		},
	)
	if err != nil {
		n.closeDBs()
		return nil, fmt.Errorf("assemble node: %w", err)
	}
	n.node = cn
	n.Client = client.New(local.New(cn))
	if ac.API.Enable {
		n.API = httpapi.New(httpapi.Config{Address: ac.API.Address, MaxBodyBytes: ac.API.MaxBodyBytes, Logger: log.With("module", "api")}, n.Client)
		store, err := openCAS(o.Home, ac.CAS)
		if err != nil {
			n.closeDBs()
			return nil, err
		}
		n.CAS = store
		n.API.MountBlobs(cas.NewHandler(store, cas.HandlerConfig{MaxUpload: ac.CAS.MaxUpload, Logger: log.With("module", "cas")}))
	}
	if ac.Logs.Enable {
		if err := n.openLogs(); err != nil {
			n.closeDBs()
			return nil, err
		}
	}
	return n, nil
}

// openCAS opens the content store the node serves.
func openCAS(home string, c CASConfig) (cas.Store, error) {
	switch c.Backend {
	case "", "local":
		return caslocal.New(filepath.Join(home, "data", "cas"))
	case "kubo":
		return kubo.New(kubo.Config{URL: c.KuboAPI})
	default:
		return nil, fmt.Errorf("app.toml: cas.backend %q (want local or kubo)", c.Backend)
	}
}

// openLogs opens the home's verifiable logs and mounts them on the API.
func (n *Node) openLogs() error {
	g, err := nm.DefaultGenesisDocProviderFunc(n.Comet)()
	if err != nil {
		return err
	}
	lc := n.Config.Logs
	m, err := tlog.NewManager(tlog.Config{
		Dir: filepath.Join(n.Home, "logs"), ChainID: g.ChainID, Logger: n.Log.With("module", "tlog"),
		Options: tlog.Options{BatchMaxSize: lc.BatchMaxSize, BatchMaxAge: time.Duration(lc.BatchMaxAgeMS) * time.Millisecond,
			CheckpointInterval: time.Duration(lc.CheckpointIntervalMS) * time.Millisecond},
	})
	if err != nil {
		return fmt.Errorf("verifiable logs: %w", err)
	}
	n.Logs = m
	n.Publisher = tlog.NewPublisher(tlog.PublisherConfig{Manager: m, Client: n.Client,
		Interval: time.Duration(lc.WitnessIntervalMS) * time.Millisecond, Logger: n.Log.With("module", "tlog")})
	if n.API != nil {
		h := tlog.Handler(tlog.HandlerConfig{Manager: m, Witness: n.Publisher, AllowRemoteWrites: lc.AllowRemoteWrites,
			PublisherAddress: func(l *tlog.Log) string {
				return wire.AddressFromPubKey(l.PublisherKey().Public().(ed25519.PublicKey)).String()
			}})
		n.API.Handle("/logs", h)
		n.API.Handle("/logs/", h)
	}
	return nil
}

// openDB opens (and remembers, to close) one of the node's databases. The
// CometBFT node does not close its tx-index database on stop, which breaks
// restarting a node in the same process.
func (n *Node) openDB(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := openDBWith(ctx)
	if err != nil {
		return nil, err
	}
	return n.track(db), nil
}

// openCometDB opens one of CometBFT's databases, wrapped so that reads
// racing the node's shutdown do not panic (see afterCloseDB).
func (n *Node) openCometDB(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := openDBWith(ctx)
	if err != nil {
		return nil, err
	}
	return n.track(&afterCloseDB{DB: db}), nil
}

// track remembers db, to close it when the node stops.
func (n *Node) track(db dbm.DB) dbm.DB {
	n.dbMu.Lock()
	n.dbs = append(n.dbs, db)
	n.dbMu.Unlock()
	return db
}

func (n *Node) closeDBs() {
	n.dbMu.Lock()
	defer n.dbMu.Unlock()
	for _, db := range n.dbs {
		db.Close()
	}
	n.dbs = nil
}

// Start starts consensus, the RPC server and the REST API.
func (n *Node) Start() error {
	// vai serves the RPC itself (rpc.go): CometBFT starts its own server
	// only when it has an address, and reads it only as it starts.
	rpcAddr := n.Comet.RPC.ListenAddress
	n.Comet.RPC.ListenAddress = ""
	err := n.node.Start()
	n.Comet.RPC.ListenAddress = rpcAddr
	if err != nil {
		n.closeDBs()
		return fmt.Errorf("start node: %w", err)
	}
	if rpcAddr != "" {
		if err := n.startRPC(rpcAddr); err != nil {
			n.stopRPC()
			n.node.Stop()
			n.node.Wait()
			n.closeDBs()
			return fmt.Errorf("start RPC server: %w", err)
		}
	}
	if n.API != nil {
		if err := n.API.Start(); err != nil {
			n.stopRPC()
			n.node.Stop()
			n.node.Wait()
			n.closeDBs()
			return err
		}
	}
	if n.Publisher != nil {
		ctx, cancel := context.WithCancel(context.Background())
		n.stopPublisher = cancel
		go n.Publisher.Run(ctx)
	}
	return nil
}

// Stop stops everything and closes the databases.
func (n *Node) Stop() error {
	var errs []error
	if n.API != nil {
		errs = append(errs, n.API.Close())
	}
	if n.stopPublisher != nil {
		n.stopPublisher()
	}
	if n.Logs != nil {
		// Acknowledged entries are durable already; give the last
		// checkpoint a moment to cover them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, n.Logs.Close(ctx))
		cancel()
	}
	n.stopRPC()
	if n.node.IsRunning() {
		errs = append(errs, n.node.Stop())
		n.node.Wait()
		n.waitAddrBook()
	}
	n.closeDBs()
	return errors.Join(errs...)
}

// waitAddrBook waits (briefly) for the address book CometBFT saves in the
// background as it stops: Stop returns before that write ends, and a caller
// that removes or copies the home right after would race it.
func (n *Node) waitAddrBook() {
	dir := filepath.Dir(n.Comet.P2P.AddrBookFile())
	quiet := 0
	for range 100 {
		tmp, _ := filepath.Glob(filepath.Join(dir, "write-file-atomic-*"))
		if len(tmp) == 0 {
			if quiet++; quiet == 3 {
				return
			}
		} else {
			quiet = 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run starts the node and stops it when ctx ends.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return n.Stop()
}

// Endpoints describes where the node listens.
type Endpoints struct {
	RPC, API, P2P, Prometheus string
}

// Endpoints returns the node's listening addresses.
func (n *Node) Endpoints() Endpoints {
	e := Endpoints{RPC: httpURL(n.Comet.RPC.ListenAddress), P2P: n.Comet.P2P.ListenAddress}
	if n.API != nil {
		e.API = "http://" + n.Config.API.Address
	}
	if n.Comet.Instrumentation.Prometheus {
		e.Prometheus = "http://" + n.Comet.Instrumentation.PrometheusListenAddr + "/metrics"
	}
	return e
}

func httpURL(tcp string) string {
	if len(tcp) > 6 && tcp[:6] == "tcp://" {
		return "http://" + tcp[6:]
	}
	return tcp
}
