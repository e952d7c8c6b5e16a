package ledger_test

import (
	"crypto/ed25519"
	"encoding/binary"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/wire"
)

// signedSends returns n transfers from n/perKey funded keys.
func signedSends(b *testing.B, c *ledgertest.Chain, keys []ed25519.PrivateKey, n int) [][]byte {
	to := ledgertest.Addr(ledgertest.Key(999))
	txs := make([][]byte, n)
	for i := range txs {
		k := keys[i%len(keys)]
		txs[i] = c.Tx(k, c.Send(to, 1))
	}
	return txs
}

func benchChain(b *testing.B, accounts int) *ledgertest.Chain {
	c := ledgertest.New(b, ledgertest.Options{Accounts: accounts})
	c.Block()
	return c
}

// BenchmarkCheckTx is the mempool's cost per transfer, signature verified
// (first sight) and cached (recheck).
func BenchmarkCheckTx(b *testing.B) {
	c := benchChain(b, 64)
	txs := signedSends(b, c, c.Keys, 64*40)
	b.Run("first", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if i%len(txs) == 0 {
				c.Block() // reset the mempool state
			}
			c.L.CheckTx(txs[i%len(txs)])
		}
	})
	b.Run("recheck", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if i%len(txs) == 0 {
				c.Block()
			}
			c.L.CheckTx(txs[i%len(txs)])
		}
	})
}

// BenchmarkBlock is FinalizeBlock plus Commit of 1000 transfers.
func BenchmarkBlock(b *testing.B) {
	c := benchChain(b, 1000)
	keys := c.Keys
	for b.Loop() {
		b.StopTimer()
		txs := signedSends(b, c, keys, 1000)
		for _, tx := range txs {
			c.L.CheckTx(tx) // as in a node: verified once, in the mempool
		}
		b.StartTimer()
		res := c.Block(txs...)
		if !res.Txs[999].OK() {
			b.Fatal(res.Txs[999].Log)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/tx")
}

func BenchmarkVerify(b *testing.B) {
	c := benchChain(b, 1)
	env := c.Tx(c.Keys[0], c.Send(ledgertest.Addr(c.Keys[0]), 1))
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], 1)
	for b.Loop() {
		if _, err := wire.DecodeVerify(env, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnseenBlock is FinalizeBlock plus Commit of 1000 transfers the
// node never saw in its mempool (a validator that first meets them in the
// proposal, a node catching up by block sync): signatures verified alone
// as execution meets them, against batched on all cores before execution
// (predecode). Both run on the same blocks, alternately, and the ratio is
// alone/batched.
func BenchmarkUnseenBlock(b *testing.B) {
	batched, alone := benchChain(b, 1000), benchChain(b, 1000)
	ledger.SetPredecode(alone.L, false)
	var tBatched, tAlone time.Duration
	for b.Loop() {
		txs := signedSends(b, batched, batched.Keys, 1000)
		for i, c := range []*ledgertest.Chain{batched, alone} {
			start := time.Now()
			res := c.Block(txs...)
			if i == 0 {
				tBatched += time.Since(start)
			} else {
				tAlone += time.Since(start)
			}
			if !res.Txs[999].OK() {
				b.Fatal(res.Txs[999].Log)
			}
		}
	}
	n := float64(b.N * 1000)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(tAlone.Nanoseconds())/n, "alone-ns/tx")
	b.ReportMetric(float64(tBatched.Nanoseconds())/n, "batched-ns/tx")
	b.ReportMetric(float64(tAlone)/float64(tBatched), "speedup")
}

// BenchmarkRecheck is the mempool's recheck after a block: 20,000 pending
// transfers (ten from each of 2,000 accounts) checked again, in order, on
// a fresh mempool state, as CometBFT does after every block.
func BenchmarkRecheck(b *testing.B) {
	c := benchChain(b, 2000)
	txs := signedSends(b, c, c.Keys, 20_000)
	for _, tx := range txs {
		if r := c.L.CheckTx(tx); !r.OK() {
			b.Fatal(r.Log)
		}
	}
	for b.Loop() {
		b.StopTimer()
		c.Block() // an empty block: the mempool state starts again
		b.StartTimer()
		for _, tx := range txs {
			c.L.CheckTx(tx)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
}
