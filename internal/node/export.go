package node

import (
	"encoding/json"
	"fmt"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/types"

	"github.com/vai-dev/vai/internal/app"
)

// Export writes a stopped node's latest state as a genesis document: the
// same chain id and validators, the state of every module as its genesis
// section. A new chain started from it (with a new chain id, or as a
// planned restart) begins where this one stopped.
func Export(home, chainID string) (*types.GenesisDoc, int64, error) {
	cc, err := LoadCometConfig(home)
	if err != nil {
		return nil, 0, err
	}
	old, err := types.GenesisDocFromFile(cc.GenesisFile())
	if err != nil {
		return nil, 0, err
	}
	db, err := cmtcfg.DefaultDBProvider(&cmtcfg.DBContext{ID: "application", Config: cc})
	if err != nil {
		return nil, 0, fmt.Errorf("open application state (is the node stopped?): %w", err)
	}
	defer db.Close()
	a, err := app.New(app.Config{DB: db})
	if err != nil {
		return nil, 0, err
	}
	sections, height, err := a.ExportGenesis()
	if err != nil {
		return nil, 0, err
	}
	state, err := json.MarshalIndent(sections, "", "  ")
	if err != nil {
		return nil, 0, err
	}
	g := *old
	if chainID != "" {
		g.ChainID = chainID
	}
	g.GenesisTime = time.Now().UTC().Truncate(time.Millisecond)
	g.InitialHeight = 1
	g.AppState = state
	g.AppHash = nil
	if err := g.ValidateAndComplete(); err != nil {
		return nil, 0, err
	}
	return &g, height, nil
}
