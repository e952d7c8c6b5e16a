package market

import (
	"strings"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// A job whose deadline processing fails (here: a corrupt record, an
// optimistic result whose executor holds no revealed assignment, which
// would index out of range) is closed and refunded, with an event; the
// block goes on.
func TestBrokenJobIsAbandonedNotHalting(t *testing.T) {
	b := bank.New(Name)
	m := New(b.Keeper, nil)
	kv := ledger.NewMemKV()
	ctx := ledger.NewContext(kv, "test", 10, time.Unix(0, 0), ledger.ModeDeliver)
	put(ctx, kParams, DefaultParams())
	buyer := wire.AddressFromPubKey(make([]byte, 32))
	if err := b.Keeper.Mint(ctx, moduleAddr, 5_000); err != nil {
		t.Fatal(err)
	}
	j := &Job{ID: 1, Model: registry.ID("sha256:" + strings.Repeat("ab", 32)), Buyer: buyer, Budget: wire.UVAI(5_000), State: StateChallenge, WindowEnd: 8, Deadline: 100,
		Mode: Mode{Kind: ModeOptimistic, K: 1}, Assignments: []Assignment{},
		Result: &Result{Output: make([]byte, 32), Provider: wire.ModuleAddress("nobody")}}
	m.reschedule(ctx, j)
	putJob(ctx, j)
	ctx = ledger.NewContext(kv, "test", j.Due, time.Unix(0, 0), ledger.ModeDeliver) // the block it is due in
	budget := uint32(10)
	if err := m.processDeadlines(ctx, &budget); err != nil {
		t.Fatalf("the block failed: %v", err)
	}
	got, _ := GetJob(ctx, 1)
	if got.State != StateClosed || got.Closing.Reason != CloseInconclusive || got.Closing.Refund.Amount != 5_000 {
		t.Fatalf("job: %+v", got)
	}
	if bal := b.Keeper.Balance(ctx, buyer); bal != 5_000 {
		t.Fatalf("buyer refunded %d, want 5000", bal)
	}
	var saw bool
	for _, e := range ctx.Events() {
		saw = saw || e.Type == "job_error"
	}
	if !saw {
		t.Fatal("no job_error event")
	}
}
