package ledger_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
)

// Queries run while blocks commit, as on a node (RPC queries, CheckTx and
// consensus are different goroutines). Under the race detector this
// caught IAVL's node database being written by SaveVersion while a query
// read it.
func TestQueriesDuringCommits(t *testing.T) {
	c := ledgertest.New(t, ledgertest.Options{Accounts: 2, Funds: 1_000_000_000})
	c.Block()
	to := ledgertest.Addr(c.Keys[1])
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := c.L.Query("/bank/balance", []byte(`{"address":"`+to.String()+`"}`), 0, false); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.L.Query("/bank/balances", []byte(`{}`), 0, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 30 {
		c.Block(c.Tx(c.Keys[0], c.Send(to, 1)))
	}
	stop.Store(true)
	wg.Wait()
	var r bank.BalanceResponse
	c.Query("/bank/balance", map[string]any{"address": to}, &r)
	if r.Amount.Amount != 1_000_000_030 {
		t.Fatalf("balance %s", r.Amount)
	}
}
