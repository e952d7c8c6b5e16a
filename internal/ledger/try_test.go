package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/ledger"
)

func TestTryKeepsOrDiscards(t *testing.T) {
	ctx := ledger.NewContext(ledger.NewMemKV(), "test", 1, time.Unix(0, 0), ledger.ModeDeliver)
	kv := ctx.Store("m")
	if err := ctx.Try(func(c *ledger.Context) error {
		c.Store("m").Set([]byte("a"), []byte("1"))
		c.Emit("kept")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := ctx.Try(func(c *ledger.Context) error {
		c.Store("m").Set([]byte("b"), []byte("2"))
		c.Emit("dropped")
		return boom
	}); err != boom {
		t.Fatalf("Try returned %v", err)
	}
	err := ctx.Try(func(c *ledger.Context) error {
		c.Store("m").Set([]byte("c"), []byte("3"))
		var s []int
		_ = s[1] // a bug
		return nil
	})
	if !errors.Is(err, ledger.ErrInternal) {
		t.Fatalf("a panic came back as %v", err)
	}
	if string(kv.Get([]byte("a"))) != "1" || kv.Get([]byte("b")) != nil || kv.Get([]byte("c")) != nil {
		t.Fatal("writes of failed branches were kept, or of a good one lost")
	}
	if ev := ctx.Events(); len(ev) != 1 || ev[0].Type != "kept" {
		t.Fatalf("events %v", ev)
	}
	// Storage failures still halt.
	defer func() {
		if _, ok := recover().(*ledger.StorageError); !ok {
			t.Fatal("a StorageError was swallowed")
		}
	}()
	ctx.Try(func(*ledger.Context) error { panic(&ledger.StorageError{Err: errors.New("disk")}) })
}
