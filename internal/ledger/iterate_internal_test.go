package ledger

import (
	"fmt"
	"slices"
	"testing"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cosmos/iavl"
)

// TestIterateCommittedGoLevelDB guards the iterator adapter: cometbft-db's
// goleveldb iterator reuses its buffers, and IAVL's fast-node iterator over
// a committed version then skipped the first key and repeated the last.
func TestIterateCommittedGoLevelDB(t *testing.T) {
	t.Parallel()
	db, err := dbm.NewGoLevelDB("state", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tree := iavl.NewMutableTree(cometDB{db}, 1000, false, iavl.NewNopLogger())
	if _, err := tree.Load(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 50 {
		k := fmt.Sprintf("k%03d", i)
		want = append(want, k)
		tree.Set([]byte(k), []byte{byte(i)})
	}
	for range 3 {
		if _, _, err := tree.SaveVersion(); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range []KV{treeKV{tree}, NewCache(treeKV{tree})} {
		var got []string
		it := kv.Iterator(nil, nil)
		for ; it.Valid(); it.Next() {
			got = append(got, string(it.Key()))
			if it.Value()[0] != byte(len(got)-1) {
				t.Fatalf("value of %s = %d", it.Key(), it.Value()[0])
			}
		}
		it.Close()
		if !slices.Equal(got, want) {
			t.Fatalf("iteration gave %d keys %v…, want %d", len(got), got[:min(3, len(got))], len(want))
		}
	}
}
