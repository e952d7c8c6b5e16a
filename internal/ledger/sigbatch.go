package ledger

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/vai-dev/vai/wire"
)

// maxSigBatch is the most signatures one batch verifies. Past 64 the cost
// per signature falls little (wire.BenchmarkVerifyBatch) while each
// waiting transaction waits longer.
const maxSigBatch = 64

// sigBatcher verifies the signatures of transactions that arrive at the
// same time together, with wire.VerifyBatch, which costs about half as
// much per signature as verifying each alone.
//
// It never waits for transactions to arrive: a caller that finds a free
// leader slot yields to the scheduler once (so that callers already
// runnable can queue) and verifies, taking with it whatever transactions
// are queued by then. Only when every slot is busy does a caller queue, and
// then the leader that finishes first hands its slot to the oldest waiter,
// who verifies the queue. With one caller at a time it is plain
// verification; under the mempool's concurrent CheckTx calls (RPC handlers
// and one goroutine per peer) the queue fills while the leaders work.
//
// A batch holding a bad signature fails as a whole and its signatures are
// then checked one by one, so a forged signature would cost the node up to
// 63 extra single checks. To keep that from becoming an amplifier, the
// batch size adapts: a batch with any failure halves the limit, a clean
// one raises it by one (so a steady trickle of forgeries shrinks batches
// to single verification, and honest traffic grows them back).
//
// Batch and single verification accept exactly the same signatures
// (ZIP-215, see wire.VerifyBatch), so which path a transaction took cannot
// change any node's state.
type sigBatcher struct {
	mu      sync.Mutex
	queue   []*sigReq
	leaders int // goroutines verifying a batch now
	slots   int // at most this many leaders
	limit   int // the most signatures the next batch takes, 1..maxSigBatch

	// observe, if set (tests), sees every batch before it is verified.
	observe func(n int)
}

type sigReq struct {
	tx   *wire.Tx
	err  error
	lead bool // woken to lead rather than with a result
	done chan struct{}
}

func newSigBatcher(slots int) *sigBatcher {
	return &sigBatcher{slots: max(slots, 1), limit: maxSigBatch}
}

// verify returns what tx.Verify returns, possibly after verifying tx in a
// batch with others.
func (b *sigBatcher) verify(tx *wire.Tx) error {
	r := &sigReq{tx: tx}
	b.mu.Lock()
	if b.leaders < b.slots {
		b.leaders++
		b.mu.Unlock()
		b.lead(r)
		return r.err
	}
	r.done = make(chan struct{})
	b.queue = append(b.queue, r)
	b.mu.Unlock()
	<-r.done
	if r.lead {
		b.lead(r)
	}
	return r.err
}

// lead verifies own together with up to limit-1 queued requests, then
// passes the slot on to the oldest waiter, if any.
func (b *sigBatcher) lead(own *sigReq) {
	// Let goroutines that are ready to run (other RPC handlers, peers'
	// receive routines) reach the queue first: with as many leaders as
	// cores, nothing else would run until this batch is done.
	runtime.Gosched()
	b.mu.Lock()
	n := min(len(b.queue), b.limit-1)
	batch := make([]*sigReq, 0, n+1)
	batch = append(batch, own)
	batch = append(batch, b.queue[:n]...)
	b.queue = b.queue[n:]
	if len(b.queue) == 0 {
		b.queue = nil // let the backing array go
	}
	b.mu.Unlock()

	// However verification ends, even in a panic, the waiters get an
	// answer and the slot is passed on: otherwise every later caller would
	// queue for ever behind a slot nobody holds.
	failed := true
	for _, r := range batch {
		r.err = errBatchAborted
	}
	defer b.handOff(batch, &failed)

	if b.observe != nil {
		b.observe(len(batch))
	}
	txs := make([]*wire.Tx, len(batch))
	for i, r := range batch {
		txs[i] = r.tx
	}
	failed = false
	for i, err := range wire.VerifyBatch(txs) {
		batch[i].err = err
		failed = failed || err != nil
	}
}

// errBatchAborted is the verdict of a batch whose verification panicked.
var errBatchAborted = fmt.Errorf("%w: verification aborted", wire.ErrSignature)

// handOff adapts the batch limit to how the batch went, wakes its waiters
// and passes the leader's slot to the oldest queued caller, if any.
func (b *sigBatcher) handOff(batch []*sigReq, failed *bool) {
	b.mu.Lock()
	switch {
	case *failed && len(batch) > 1:
		b.limit = max(b.limit/2, 1)
	case !*failed && b.limit < maxSigBatch:
		b.limit++
	}
	var next *sigReq
	if len(b.queue) > 0 {
		next = b.queue[0]
		b.queue = b.queue[1:]
		next.lead = true // the slot passes to next: leaders is unchanged
	} else {
		b.leaders--
	}
	b.mu.Unlock()
	for _, r := range batch[1:] {
		close(r.done)
	}
	if next != nil {
		close(next.done)
	}
}
