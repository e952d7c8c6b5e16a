package node

import (
	"sync"
	"sync/atomic"

	"github.com/cometbft/cometbft/p2p"
	protomem "github.com/cometbft/cometbft/proto/tendermint/mempool"
)

// peerTxBatch is the most transactions batchingMempool verifies together.
const peerTxBatch = 256

// batchingMempool is CometBFT's mempool reactor with the signatures of the
// transactions peers gossip verified in batches before the reactor checks
// them.
//
// CometBFT hands each peer's messages to the reactor on that peer's receive
// routine, one transaction per message, and the reactor runs CheckTx there
// and then. With two or three peers at most that many signatures are being
// checked at once, so the ledger's batcher (ledger.sigBatcher) finds
// nothing to batch them with and verifies each alone: 7 % of a validator's
// CPU at four validators (`bench/tps -cpuprofile`).
//
// Here Receive only queues the message. One goroutine takes everything
// queued (up to peerTxBatch transactions, from every peer), has the ledger
// verify the signatures of those it has not seen with wire.VerifyBatch on
// all cores (ledger.PreverifyBatch), then passes the messages to CometBFT's
// reactor in the order they arrived, whose CheckTx then finds each
// signature verified. The batch only fills a cache of pure functions of
// the transaction bytes, so what the mempool accepts is unchanged; a
// transaction that fails to verify is left for CheckTx to reject as before.
//
// A peer's receive routine no longer waits for CheckTx unless the queue is
// full, so its votes and block parts, which share the connection, are not
// held up behind transactions either.
type batchingMempool struct {
	p2p.Reactor
	preverify func(txs [][]byte)

	queue    chan p2p.Envelope
	quit     chan struct{}
	done     chan struct{}
	started  atomic.Bool
	stopOnce sync.Once
}

func newBatchingMempool(r p2p.Reactor, preverify func([][]byte)) *batchingMempool {
	return &batchingMempool{
		Reactor:   r,
		preverify: preverify,
		queue:     make(chan p2p.Envelope, peerTxBatch),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
}

// FilterMsgBytes keeps the reactor's filter, which embedding the
// p2p.Reactor interface would hide.
func (m *batchingMempool) FilterMsgBytes(chID byte, src p2p.Peer, msgBytes []byte) error {
	if f, ok := m.Reactor.(p2p.MsgBytesFilter); ok {
		return f.FilterMsgBytes(chID, src, msgBytes)
	}
	return nil
}

func (m *batchingMempool) Start() error {
	if err := m.Reactor.Start(); err != nil {
		return err
	}
	m.started.Store(true)
	go m.run()
	return nil
}

func (m *batchingMempool) Stop() error {
	err := m.Reactor.Stop()
	m.stopOnce.Do(func() {
		close(m.quit)
		if m.started.Load() {
			<-m.done
		}
	})
	return err
}

// Receive queues transaction messages for run; anything else goes straight
// to the reactor (which rejects it).
func (m *batchingMempool) Receive(e p2p.Envelope) {
	if _, ok := e.Message.(*protomem.Txs); !ok {
		m.Reactor.Receive(e)
		return
	}
	select {
	case m.queue <- e:
	case <-m.quit:
	}
}

func (m *batchingMempool) run() {
	defer close(m.done)
	var batch []p2p.Envelope
	var txs [][]byte
	for {
		select {
		case e := <-m.queue:
			batch = append(batch, e)
			txs = append(txs, e.Message.(*protomem.Txs).Txs...)
		case <-m.quit:
			return
		}
	more:
		for len(txs) < peerTxBatch {
			select {
			case e := <-m.queue:
				batch = append(batch, e)
				txs = append(txs, e.Message.(*protomem.Txs).Txs...)
			default:
				break more
			}
		}
		m.preverify(txs)
		for _, e := range batch {
			m.Reactor.Receive(e)
		}
		clear(batch)
		clear(txs)
		batch, txs = batch[:0], txs[:0]
	}
}
