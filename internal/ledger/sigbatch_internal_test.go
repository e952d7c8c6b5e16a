package ledger

import (
	"crypto/ed25519"
	"errors"
	"fmt"
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

// queueBehind makes the batcher's only slot busy with holder, queues txs
// behind it, then lets the holder go; it returns the sizes of the batches
// verified and each of txs' verdicts.
func queueBehind(t *testing.T, b *sigBatcher, holder *wire.Tx, txs []*wire.Tx) ([]int, []error) {
	t.Helper()
	if b.slots != 1 {
		t.Fatal("queueBehind needs a batcher with one slot")
	}
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
	defer func() { b.observe = nil }()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.verify(holder); err != nil {
			t.Error(err)
		}
	})
	for { // the holder is in observe
		mu.Lock()
		k := len(batches)
		mu.Unlock()
		if k == 1 {
			break
		}
		runtime.Gosched()
	}
	errs := make([]error, len(txs))
	for i := range txs {
		wg.Go(func() { errs[i] = b.verify(txs[i]) })
	}
	for { // everyone has queued
		b.mu.Lock()
		k := len(b.queue)
		b.mu.Unlock()
		if k == len(txs) {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if b.leaders != 0 || len(b.queue) != 0 {
		t.Fatalf("left %d leaders, %d queued", b.leaders, len(b.queue))
	}
	return batches[1:], errs
}

// Callers that arrive while every slot is busy are verified together, and
// each gets its own transaction's verdict, a forged signature included.
func TestSigBatcherBatchesWaiters(t *testing.T) {
	const n = 40
	bad := map[int]bool{7: true, 23: true}
	txs := sigTxs(t, n+1, bad)
	b := newSigBatcher(1)
	batches, errs := queueBehind(t, b, txs[n], txs[:n])
	if len(batches) != 1 || batches[0] != n {
		t.Fatalf("batches %v, want [%d]: the waiters were not verified together", batches, n)
	}
	for i, err := range errs {
		if bad[i] != errors.Is(err, wire.ErrSignature) || (!bad[i] && err != nil) {
			t.Errorf("tx %d (forged %v): %v", i, bad[i], err)
		}
	}
}

// A forged signature fails its batch and sends every signature in it to
// single verification; the batcher halves its batches after each failure
// so that forgeries cannot make the node do many times their own work, and
// grows them back one by one on clean batches.
func TestSigBatcherForgeriesShrinkBatches(t *testing.T) {
	txs := sigTxs(t, 2*maxSigBatch, map[int]bool{0: true})
	forged, clean := txs[0], txs[1:]
	b := newSigBatcher(1)
	queue := append([]*wire.Tx{forged}, clean[:maxSigBatch-1]...)
	for _, limit := range []int{maxSigBatch, 16, 2} {
		b.limit = limit
		batches, errs := queueBehind(t, b, clean[maxSigBatch], queue)
		// The holder's clean batch of one raised the limit by one; the
		// forged signature is first in the queue, so in the first batch.
		first := min(limit+1, maxSigBatch)
		if batches[0] != first {
			t.Fatalf("limit %d: batches %v, want the first to hold %d", limit, batches, first)
		}
		if want := first/2 + len(batches) - 1; b.limit != want {
			t.Fatalf("limit %d: batches %v left the limit at %d, want %d (halved, then +1 per clean batch)", limit, batches, b.limit, want)
		}
		if !errors.Is(errs[0], wire.ErrSignature) {
			t.Fatalf("forged signature: %v", errs[0])
		}
		for i, err := range errs[1:] {
			if err != nil {
				t.Fatalf("clean tx %d: %v", i, err)
			}
		}
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
// and through the batcher, with no forgeries and with one in 64 and one in
// 8 forged. ns/op is wall time per signature.
func BenchmarkSigBatcher(b *testing.B) {
	for _, every := range []int{0, 64, 8} {
		bad := map[int]bool{}
		for i := 0; every > 0 && i < 1024; i += every {
			bad[i+every/2] = true
		}
		txs := sigTxs(b, 1024, bad)
		for _, mode := range []string{"alone", "batched"} {
			name := mode
			if every > 0 {
				name = fmt.Sprintf("%s/forged-1-in-%d", mode, every)
			}
			b.Run(name, func(b *testing.B) {
				sb := newSigBatcher(runtime.GOMAXPROCS(0))
				var batches, sigs atomic.Int64
				sb.observe = func(k int) { batches.Add(1); sigs.Add(int64(k)) }
				var next atomic.Int64
				b.SetParallelism(64)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1) % int64(len(txs))
						var err error
						if mode == "alone" {
							err = txs[i].Verify()
						} else {
							err = sb.verify(txs[i])
						}
						if (err != nil) != bad[int(i)] {
							b.Error(i, err)
						}
					}
				})
				if n := batches.Load(); n > 0 {
					b.ReportMetric(float64(sigs.Load())/float64(n), "sigs/batch")
				}
			})
		}
	}
}

// A batch whose verification panics still answers its waiters (with a
// signature error) and passes the slot on, so later callers are not stuck.
func TestSigBatcherPanicReleasesWaiters(t *testing.T) {
	txs := sigTxs(t, 12, nil)
	b := newSigBatcher(1)
	release := make(chan struct{})
	var calls atomic.Int64
	b.observe = func(k int) {
		switch calls.Add(1) {
		case 1:
			<-release // hold the slot while the others queue
		case 2:
			panic("verifier blew up")
		}
	}
	var wg sync.WaitGroup
	var panics atomic.Int64
	errs := make([]error, len(txs))
	verify := func(i int) {
		defer func() {
			if recover() != nil {
				panics.Add(1)
			}
		}()
		errs[i] = b.verify(txs[i])
	}
	wg.Go(func() { verify(0) })
	for calls.Load() == 0 {
		runtime.Gosched()
	}
	for i := 1; i < 11; i++ {
		wg.Go(func() { verify(i) })
	}
	for {
		b.mu.Lock()
		k := len(b.queue)
		b.mu.Unlock()
		if k == 10 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if panics.Load() != 1 {
		t.Fatalf("%d panics reached callers, want 1 (the leader's)", panics.Load())
	}
	aborted := 0
	for i, err := range errs[1:11] {
		switch {
		case errors.Is(err, errBatchAborted):
			aborted++
		case err != nil:
			t.Errorf("tx %d: %v", i+1, err)
		}
	}
	if aborted != 9 { // the leader of the failed batch panicked instead of answering
		t.Fatalf("%d waiters told the batch aborted, want 9", aborted)
	}
	if err := b.verify(txs[11]); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
	if b.leaders != 0 || len(b.queue) != 0 {
		t.Fatalf("left %d leaders, %d queued", b.leaders, len(b.queue))
	}
}
