// Package app assembles vai's state machine: which ledger modules it runs,
// in which order, and how their keepers are wired to each other. Adding a
// module means adding it here; the ledger core does not change.
package app

import (
	"log/slog"

	dbm "github.com/cometbft/cometbft-db"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/logs"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/ledger/zk"
)

// Config is what the assembled ledger needs from its host.
type Config struct {
	DB              dbm.DB
	InvariantPeriod int64
	KeepVersions    int64
	Logger          *slog.Logger
}

// App is the assembled ledger with handles on its modules.
type App struct {
	*ledger.Ledger
	Bank     *bank.Module
	Registry *registry.Module
	Logs     *logs.Module
	ZK       *zk.Module
	Market   *market.Module
}

// New assembles the ledger over cfg.DB.
func New(cfg Config) (*App, error) {
	// Module accounts that plain transfers may not pay into.
	b := bank.New(registry.Name, market.Name)
	reg := registry.New(b.Keeper)
	lg := logs.New()
	// A verifying key linked to a model is checked against the weight
	// commitment the registry holds; the market's zk jobs are verified
	// with such keys.
	z := zk.New(reg.Keeper)
	mk := market.New(b.Keeper, map[string]market.ResultVerifier{market.ModeZK: z.MarketVerifier()})
	l, err := ledger.New(ledger.Config{
		DB:              cfg.DB,
		Modules:         []ledger.Module{b, reg, lg, z, mk},
		Fees:            b.Keeper,
		InvariantPeriod: cfg.InvariantPeriod,
		KeepVersions:    cfg.KeepVersions,
		Logger:          cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &App{Ledger: l, Bank: b, Registry: reg, Logs: lg, ZK: z, Market: mk}, nil
}
