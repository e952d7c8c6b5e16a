package node

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
)

// The busy databases keep 8 MiB of writes in their memtable, where a
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
		for i := range 8 << 10 { // 8 MiB
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
	// The control, written after them: CometBFT's state database keeps
	// goleveldb's defaults and flushes (in the background) once its 4 MiB
	// memtable is full.
	state := open("state")
	for deadline := time.Now().Add(10 * time.Second); tables(state) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(state)
			t.Fatalf("state.db wrote no table file for 8 MiB with goleveldb's defaults: %v", entries)
		}
	}
	for _, dir := range busy {
		if n := tables(dir); n != 0 {
			t.Errorf("%s flushed %d table files for 8 MiB; its memtable is %d MiB", filepath.Base(dir), n, levelDBOptions.WriteBuffer>>20)
		}
	}
}
