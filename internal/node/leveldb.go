package node

import (
	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// busyDBs are the databases that take a write for every transaction: the
// blocks, the transaction index and the ledger's IAVL nodes.
var busyDBs = map[string]bool{"blockstore": true, "tx_index": true, "application": true}

// levelDBOptions are goleveldb's options for the busy databases: larger
// memtables and tables than its defaults (4 MiB and 2 MiB), so that a busy
// node flushes and compacts less often.
var levelDBOptions = opt.Options{
	WriteBuffer:         32 << 20,
	CompactionTableSize: 8 << 20,
	CompactionTotalSize: 40 << 20,
}

// openDBWith opens a node database as CometBFT's DefaultDBProvider does,
// with levelDBOptions for the busy goleveldb ones.
func openDBWith(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	if dbm.BackendType(ctx.Config.DBBackend) == dbm.GoLevelDBBackend && busyDBs[ctx.ID] {
		o := levelDBOptions
		return dbm.NewGoLevelDBWithOpts(ctx.ID, ctx.Config.DBDir(), &o)
	}
	return cmtcfg.DefaultDBProvider(ctx)
}
