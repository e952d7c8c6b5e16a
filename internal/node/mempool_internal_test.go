package node

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"
	protomem "github.com/cometbft/cometbft/proto/tendermint/mempool"
	"github.com/cometbft/cometbft/proto/tendermint/types"
)

// recordingReactor is a fake mempool reactor for the unit test of
// batchingMempool: it records what reaches it.
type recordingReactor struct {
	p2p.BaseReactor
	mu       sync.Mutex
	received []string
	filtered int
}

func (r *recordingReactor) Receive(e p2p.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m := e.Message.(type) {
	case *protomem.Txs:
		for _, tx := range m.Txs {
			r.received = append(r.received, string(tx))
		}
	default:
		r.received = append(r.received, fmt.Sprintf("%T", m))
	}
}

func (r *recordingReactor) FilterMsgBytes(byte, p2p.Peer, []byte) error {
	r.filtered++
	return nil
}

func (r *recordingReactor) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.received)
}

// Transactions that arrive while a batch is being verified are verified
// together next, then reach the reactor in arrival order; other messages
// pass straight through; Stop ends the worker and Receive no longer blocks.
func TestBatchingMempool(t *testing.T) {
	inner := &recordingReactor{}
	inner.BaseReactor = *p2p.NewBaseReactor("fake mempool", inner)
	first := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]string
	m := newBatchingMempool(inner, func(txs [][]byte) {
		mu.Lock()
		b := make([]string, len(txs))
		for i, tx := range txs {
			b[i] = string(tx)
		}
		batches = append(batches, b)
		n := len(batches)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release // hold the worker while more arrive
		}
	})
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	send := func(txs ...string) {
		msg := &protomem.Txs{}
		for _, tx := range txs {
			msg.Txs = append(msg.Txs, []byte(tx))
		}
		m.Receive(p2p.Envelope{ChannelID: 0x30, Message: msg})
	}

	send("a")
	<-first
	var want []string = []string{"a"}
	for i := range 100 {
		tx := fmt.Sprintf("t%03d", i)
		send(tx)
		want = append(want, tx)
	}
	send("u", "v") // a message with two transactions
	want = append(want, "u", "v")
	if got := inner.got(); len(got) != 0 {
		t.Fatalf("reactor received %v before the batch was verified", got)
	}
	m.Receive(p2p.Envelope{ChannelID: 0x30, Message: &types.Header{}})
	if got := inner.got(); len(got) != 1 || got[0] != "*types.Header" {
		t.Fatalf("a non-transaction message waited in the queue: reactor has %v", got)
	}
	close(release)

	deadline := time.Now().Add(10 * time.Second)
	for len(inner.got()) < len(want)+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := inner.got()[1:]; !slices.Equal(got, want) {
		t.Fatalf("reactor received\n%v\nwant\n%v", got, want)
	}
	mu.Lock()
	if len(batches) != 2 || len(batches[1]) != 102 {
		t.Fatalf("batches %v, want [a] then the 102 queued meanwhile", batches)
	}
	mu.Unlock()

	if err := m.FilterMsgBytes(0x30, nil, nil); err != nil || inner.filtered != 1 {
		t.Fatalf("FilterMsgBytes did not reach the reactor: %v %d", err, inner.filtered)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for range 2 * peerTxBatch {
			send("late")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Receive blocked after Stop")
	}
	if m.Reactor.IsRunning() {
		t.Fatal("the reactor still runs after Stop")
	}
}
