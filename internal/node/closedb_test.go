package node

import (
	"errors"
	"testing"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/store"
)

// CometBFT's block store panics when a read fails; a consensus-reactor
// goroutine can read it after the node closed it (see afterCloseDB). Over
// afterCloseDB that read finds nothing instead.
func TestClosedBlockStoreReadDoesNotPanic(t *testing.T) {
	open := func() dbm.DB {
		db, err := dbm.NewGoLevelDB("blockstore", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	t.Run("plain goleveldb panics (the reason for the wrapper)", func(t *testing.T) {
		bs := store.NewBlockStore(open())
		if err := bs.Close(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if recover() == nil {
				t.Fatal("LoadSeenCommit on a closed goleveldb did not panic: is afterCloseDB still needed?")
			}
		}()
		bs.LoadSeenCommit(1)
	})
	t.Run("afterCloseDB", func(t *testing.T) {
		db := &afterCloseDB{DB: open()}
		if err := db.Set([]byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		bs := store.NewBlockStore(db)
		if err := bs.Close(); err != nil {
			t.Fatal(err)
		}
		if c := bs.LoadSeenCommit(1); c != nil {
			t.Fatalf("seen commit %v from a closed store", c)
		}
		if v, err := db.Get([]byte("k")); v != nil || err != nil {
			t.Fatalf("Get after close: %q, %v", v, err)
		}
		if ok, err := db.Has([]byte("k")); ok || err != nil {
			t.Fatalf("Has after close: %v, %v", ok, err)
		}
		if _, err := db.Iterator(nil, nil); !errors.Is(err, errDBClosed) {
			t.Fatalf("Iterator after close: %v", err)
		}
		if err := db.Set([]byte("k2"), []byte("v")); err == nil {
			t.Fatal("a write after close succeeded")
		}
		if err := db.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}
