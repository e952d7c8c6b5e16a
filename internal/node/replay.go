package node

import (
	"bytes"
	"context"
	"fmt"
	"os"

	dbm "github.com/cometbft/cometbft-db"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"

	"github.com/vai-dev/vai/internal/abci"
	"github.com/vai-dev/vai/internal/app"
)

// ReplayResult reports a replay.
type ReplayResult struct {
	ChainID string `json:"chain_id"`
	// Blocks replayed, and the height whose app hash was checked last
	// (the state at H is checked against the header at H+1).
	Blocks        int64  `json:"blocks"`
	CheckedHeight int64  `json:"checked_height"`
	AppHash       string `json:"app_hash"`
}

// Replay re-executes a stopped node's blocks on a fresh, empty ledger and
// checks, at every height, that the app hash and the transaction results
// equal what the next block's header recorded: proof that the node's state
// is exactly what executing its chain from genesis gives. to = 0 replays
// everything in the block store.
func Replay(ctx context.Context, home string, to int64) (*ReplayResult, error) {
	cc, err := LoadCometConfig(home)
	if err != nil {
		return nil, err
	}
	gen, err := types.GenesisDocFromFile(cc.GenesisFile())
	if err != nil {
		return nil, err
	}
	bdb, err := cmtcfg.DefaultDBProvider(&cmtcfg.DBContext{ID: "blockstore", Config: cc})
	if err != nil {
		return nil, fmt.Errorf("open block store (is the node stopped?): %w", err)
	}
	defer bdb.Close()
	bs := store.NewBlockStore(bdb)
	if bs.Base() > gen.InitialHeight {
		return nil, fmt.Errorf("the block store starts at %d (pruned): cannot replay from genesis", bs.Base())
	}
	top := bs.Height()
	if to == 0 || to > top {
		to = top
	}
	dir, err := os.MkdirTemp("", "vai-replay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	adb, err := dbm.NewGoLevelDB("application", dir)
	if err != nil {
		return nil, err
	}
	defer adb.Close()
	a, err := app.New(app.Config{DB: adb, InvariantPeriod: 1})
	if err != nil {
		return nil, err
	}
	ac := abci.New(a.Ledger)
	appState := gen.AppState
	if _, err := ac.InitChain(ctx, &abcitypes.RequestInitChain{ChainId: gen.ChainID, Time: gen.GenesisTime, InitialHeight: gen.InitialHeight, AppStateBytes: appState}); err != nil {
		return nil, err
	}
	res := &ReplayResult{ChainID: gen.ChainID}
	for h := gen.InitialHeight; h <= to; h++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		b := bs.LoadBlock(h)
		if b == nil {
			return res, fmt.Errorf("block %d missing from the block store", h)
		}
		fb, err := ac.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Txs: b.Txs.ToSliceOfBytes(), Height: h, Time: b.Time, ProposerAddress: b.ProposerAddress, Hash: b.Hash()})
		if err != nil {
			return res, fmt.Errorf("replay block %d: %w", h, err)
		}
		if _, err := ac.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
			return res, err
		}
		res.Blocks++
		next := bs.LoadBlock(h + 1)
		if next == nil {
			res.AppHash = fmt.Sprintf("%X", fb.AppHash)
			continue // the last block: no header records its results yet
		}
		if !bytes.Equal(next.AppHash, fb.AppHash) {
			return res, fmt.Errorf("height %d: replayed app hash %X, header %d recorded %X", h, fb.AppHash, h+1, next.AppHash)
		}
		if got := types.NewResults(fb.TxResults).Hash(); !bytes.Equal(next.LastResultsHash, got) {
			return res, fmt.Errorf("height %d: replayed results hash %X, header %d recorded %X", h, got, h+1, next.LastResultsHash)
		}
		res.CheckedHeight, res.AppHash = h, fmt.Sprintf("%X", fb.AppHash)
	}
	return res, nil
}
