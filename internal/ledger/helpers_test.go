package ledger_test

import (
	"testing"

	dbm "github.com/cometbft/cometbft-db"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
)

func freshLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	b := bank.New()
	l, err := ledger.New(ledger.Config{DB: dbm.NewMemDB(), Modules: []ledger.Module{b}, Fees: b.Keeper, InvariantPeriod: 1})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
