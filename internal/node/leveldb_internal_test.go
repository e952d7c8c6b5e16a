package node

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	cmtcfg "github.com/cometbft/cometbft/config"
)

// The busy databases keep 12 MiB of writes in their memtable, where a
// database with goleveldb's defaults (4 MiB) has flushed a table file.
func TestBusyDatabasesFlushLess(t *testing.T) {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(t.TempDir())
	open := func(id string) string {
		db, err := openDBWith(&cmtcfg.DBContext{ID: id, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		value := bytes.Repeat([]byte{'x'}, 1000)
		for i := range 12 << 10 { // 12 MiB
			if err := db.Set(fmt.Appendf(nil, "key%08d", i), value); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Join(cfg.DBDir(), id+".db")
	}
	tables := func(dir string) int {
		m, _ := filepath.Glob(filepath.Join(dir, "*.ldb"))
		return len(m)
	}
	var busy []string
	for _, id := range []string{"blockstore", "tx_index", "application"} {
		busy = append(busy, open(id))
	}
	// The control: CometBFT's state database keeps goleveldb's defaults.
	// Its memtable fills at about 4 and again at 8 MiB. goleveldb schedules
	// the first flush without waiting, and drops the request when its
	// compaction goroutine is not ready (CI saw that); but the second
	// rotation waits for the first flush, so after 12 MiB a table file
	// exists for certain.
	state := open("state")
	if tables(state) == 0 {
		entries, _ := os.ReadDir(state)
		t.Fatalf("state.db wrote no table file for 12 MiB with goleveldb's defaults: %v", entries)
	}
	for _, dir := range busy {
		if n := tables(dir); n != 0 {
			t.Errorf("%s flushed %d table files for 12 MiB; its memtable is %d MiB", filepath.Base(dir), n, levelDBOptions.WriteBuffer>>20)
		}
	}
}
