package node

import (
	"errors"
	"fmt"
	"log/slog"

	dbm "github.com/cometbft/cometbft-db"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/state/indexer/block"
	"github.com/cometbft/cometbft/state/txindex"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"
)

// catchUpIndex indexes the committed blocks that the transaction index
// lacks, before the node starts.
//
// CometBFT indexes a block from its event bus after committing it, and a
// stopping node closes the event bus before it stops consensus: a block
// committed in that window, or just before a crash, is in the block store
// and the state but never reaches the index, and CometBFT does not look back
// when it restarts. On that node an acknowledged transaction would then be
// "not found" by hash forever (TestFourValidators caught one).
//
// The index is written in height order, so the gap is at the top: this
// walks down from the state's last height to the highest indexed one and
// re-indexes from there (that height included, since its transactions are
// written after its block entry) from the FinalizeBlock responses the state
// store keeps. Indexing is idempotent. Blocks above the state's height are
// replayed, and indexed, by CometBFT's handshake. It returns the heights it
// indexed (0, 0 for none).
func catchUpIndex(cc *cmtcfg.Config, log *slog.Logger) (from, to int64, err error) {
	if cc.TxIndex.Indexer != "kv" {
		return 0, 0, nil // nothing to repair, or (psql) an index vai does not manage
	}
	var dbs []dbm.DB
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	open := func(ctx *cmtcfg.DBContext) (dbm.DB, error) {
		db, err := cmtcfg.DefaultDBProvider(ctx)
		if err == nil {
			dbs = append(dbs, db)
		}
		return db, err
	}
	bdb, err := open(&cmtcfg.DBContext{ID: "blockstore", Config: cc})
	if err != nil {
		return 0, 0, fmt.Errorf("open block store: %w", err)
	}
	sdb, err := open(&cmtcfg.DBContext{ID: "state", Config: cc})
	if err != nil {
		return 0, 0, fmt.Errorf("open state: %w", err)
	}
	bs := store.NewBlockStore(bdb)
	ss := sm.NewStore(sdb, sm.StoreOptions{DiscardABCIResponses: cc.Storage.DiscardABCIResponses})
	st, err := ss.Load()
	if err != nil {
		return 0, 0, fmt.Errorf("load state: %w", err)
	}
	top, base := min(st.LastBlockHeight, bs.Height()), bs.Base()
	if top == 0 || base == 0 {
		return 0, 0, nil // no block yet
	}
	txIdx, blockIdx, _, err := block.IndexerFromConfigWithDisabledIndexers(cc, open, st.ChainID)
	if err != nil {
		return 0, 0, fmt.Errorf("open tx index: %w", err)
	}
	from = top
	for ; from > base; from-- {
		ok, err := blockIdx.Has(from)
		if err != nil {
			return 0, 0, fmt.Errorf("tx index: %w", err)
		}
		if ok {
			break
		}
	}
	if from < top {
		log.Info("indexing committed blocks missing from the tx index", "from", from, "to", top)
	}
	for h := from; h <= top; h++ {
		if err := indexBlock(bs, ss, txIdx, blockIdx, h); err != nil {
			if errors.Is(err, errNoResponse) && h < top {
				// Responses discarded (storage.discard_abci_responses):
				// only the last one is kept.
				log.Warn("cannot re-index a block: its FinalizeBlock response was discarded", "height", h)
				continue
			}
			return from, h - 1, err
		}
		if (h-from)%10000 == 9999 {
			log.Info("indexing committed blocks", "height", h, "to", top)
		}
	}
	return from, top, nil
}

var errNoResponse = errors.New("no FinalizeBlock response stored")

// indexBlock writes block h's transactions and events to the index, as
// CometBFT's indexer service would have.
func indexBlock(bs *store.BlockStore, ss sm.Store, txIdx txindex.TxIndexer, blockIdx interface {
	Index(types.EventDataNewBlockEvents) error
}, h int64) error {
	b := bs.LoadBlock(h)
	if b == nil {
		return fmt.Errorf("block %d is not in the block store", h)
	}
	res, err := ss.LoadFinalizeBlockResponse(h)
	if err != nil {
		return fmt.Errorf("height %d: %w: %v", h, errNoResponse, err)
	}
	if len(res.TxResults) != len(b.Txs) {
		return fmt.Errorf("height %d: %d results for %d transactions", h, len(res.TxResults), len(b.Txs))
	}
	batch := txindex.NewBatch(int64(len(b.Txs)))
	for i, r := range res.TxResults {
		if err := batch.Add(&abcitypes.TxResult{Height: h, Index: uint32(i), Tx: b.Txs[i], Result: *r}); err != nil {
			return fmt.Errorf("height %d: %w", h, err)
		}
	}
	if err := blockIdx.Index(types.EventDataNewBlockEvents{Height: h, Events: res.Events, NumTxs: int64(len(b.Txs))}); err != nil {
		return fmt.Errorf("index block %d: %w", h, err)
	}
	if err := txIdx.AddBatch(batch); err != nil {
		return fmt.Errorf("index transactions of block %d: %w", h, err)
	}
	return nil
}
