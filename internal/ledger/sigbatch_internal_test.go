package ledger

import (
	"crypto/ed25519"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vai-dev/vai/wire"
)

// sigTxs returns n signed transactions; those whose index is in bad carry a
// signature with one bit flipped.
func sigTxs(t testing.TB, n int, bad map[int]bool) []*wire.Tx {
	t.Helper()
	txs := make([]*wire.Tx, n)
	for i := range txs {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1] = byte(i), byte(i>>8)
		key := ed25519.NewKeyFromSeed(seed)
		msg, err := wire.NewMsg("bank/send", map[string]string{"to": "x", "amount": "1uvai"})
		if err != nil {
			t.Fatal(err)
		}
		env, err := wire.Sign(&wire.Body{ChainID: "c", Sequence: uint64(i), Fee: wire.UVAI(1), Msgs: []wire.Msg{msg}}, key)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := wire.Decode(env, 0)
		if err != nil {
			t.Fatal(err)
		}
		if bad[i] {
			tx.Sig[3] ^= 1
		}
		txs[i] = tx
	}
	return txs
}

// Callers that arrive while every slot is busy are verified together, and
// each gets its own transaction's verdict, a forged signature included.
func TestSigBatcherBatchesWaiters(t *testing.T) {
	const n = 40
	bad := map[int]bool{7: true, 23: true}
	txs := sigTxs(t, n+1, bad)
	b := newSigBatcher(1)

	// Hold the only slot: the first leader blocks in observe until the
	// other callers have queued.
	release := make(chan struct{})
	var batches []int
	var mu sync.Mutex
	b.observe = func(k int) {
		mu.Lock()
		first := len(batches) == 0
		batches = append(batches, k)
		mu.Unlock()
		if first {
			<-release
		}
	}
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	wg.Go(func() { errs[n] = b.verify(txs[n]) })
	for { // the holder is in observe
		mu.Lock()
		k := len(batches)
		mu.Unlock()
		if k == 1 {
			break
		}
		runtime.Gosched()
	}
	for i := range n {
		wg.Go(func() { errs[i] = b.verify(txs[i]) })
	}
	for { // everyone has queued
		b.mu.Lock()
		k := len(b.queue)
		b.mu.Unlock()
		if k == n {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	if len(batches) != 2 || batches[0] != 1 || batches[1] != n {
		t.Fatalf("batches %v, want [1 %d]: the waiters were not verified together", batches, n)
	}
	for i, err := range errs {
		if bad[i] != errors.Is(err, wire.ErrSignature) || (!bad[i] && err != nil) {
			t.Errorf("tx %d (forged %v): %v", i, bad[i], err)
		}
	}
	if b.leaders != 0 || len(b.queue) != 0 {
		t.Fatalf("left %d leaders, %d queued", b.leaders, len(b.queue))
	}
}

// Many goroutines at once, under the race detector: every verdict equals
// single verification's, no batch exceeds maxSigBatch or the slots, and no
// caller is left waiting.
func TestSigBatcherConcurrent(t *testing.T) {
	const n = 600
	bad := map[int]bool{}
	for i := 0; i < n; i += 37 {
		bad[i] = true
	}
	txs := sigTxs(t, n, bad)
	b := newSigBatcher(2)
	var active, most, batched atomic.Int64
	b.observe = func(k int) {
		if k > maxSigBatch {
			t.Errorf("batch of %d", k)
		}
		if k > 1 {
			batched.Add(int64(k))
		}
		a := active.Add(1)
		for m := most.Load(); a > m && !most.CompareAndSwap(m, a); m = most.Load() {
		}
		active.Add(-1)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = b.verify(txs[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if want := txs[i].Verify(); (err == nil) != (want == nil) {
			t.Errorf("tx %d: batched %v, alone %v", i, err, want)
		}
		if bad[i] == (err == nil) {
			t.Errorf("tx %d (forged %v): %v", i, bad[i], err)
		}
	}
	if most.Load() > 2 {
		t.Errorf("%d batches at once with 2 slots", most.Load())
	}
	if b.leaders != 0 || len(b.queue) != 0 {
		t.Fatalf("left %d leaders, %d queued", b.leaders, len(b.queue))
	}
	t.Logf("%d of %d signatures verified in batches", batched.Load(), n)
}

// BenchmarkSigBatcher verifies distinct signatures from 64 goroutines per
// core, as the mempool's RPC handlers do under load: alone (tx.Verify)
// and through the batcher. ns/op is wall time per signature.
func BenchmarkSigBatcher(b *testing.B) {
	txs := sigTxs(b, 1024, nil)
	for _, mode := range []string{"alone", "batched"} {
		b.Run(mode, func(b *testing.B) {
			sb := newSigBatcher(runtime.GOMAXPROCS(0))
			var batches, sigs atomic.Int64
			sb.observe = func(k int) { batches.Add(1); sigs.Add(int64(k)) }
			var next atomic.Int64
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tx := txs[next.Add(1)%int64(len(txs))]
					var err error
					if mode == "alone" {
						err = tx.Verify()
					} else {
						err = sb.verify(tx)
					}
					if err != nil {
						b.Error(err)
					}
				}
			})
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(sigs.Load())/float64(n), "sigs/batch")
			}
		})
	}
}
