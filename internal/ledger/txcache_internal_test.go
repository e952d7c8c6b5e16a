package ledger

import "testing"

// The decoded-tx cache finds entries by a 64-bit hash; a hit must still be
// the same bytes, and forgetting one transaction must not drop another
// that shares its key.
func TestTxCacheConfirmsBytes(t *testing.T) {
	txs := sigTxs(t, 6, nil)
	c := newTxCache(4)
	a, b := &decodedTx{tx: txs[0]}, &decodedTx{tx: txs[1]}
	c.put(a)
	if c.get(txs[0].Bytes) != a {
		t.Fatal("a cached transaction is not found")
	}
	if c.get(txs[1].Bytes) != nil {
		t.Fatal("an uncached transaction is found")
	}

	// A key collision, made by hand: b's key leads to a's entry.
	c.m[c.key(txs[1].Bytes)] = a
	if got := c.get(txs[1].Bytes); got != nil {
		t.Fatalf("a colliding key returned another transaction's entry: %p", got)
	}
	c.forget([][]byte{txs[1].Bytes})
	if c.m[c.key(txs[1].Bytes)] != a {
		t.Fatal("forgetting a transaction dropped another one's entry")
	}
	delete(c.m, c.key(txs[1].Bytes))

	// The ring evicts the oldest when full.
	c.put(b)
	for _, tx := range txs[2:5] {
		c.put(&decodedTx{tx: tx})
	}
	if c.get(txs[0].Bytes) != nil || c.get(txs[1].Bytes) != b || c.get(txs[4].Bytes) == nil {
		t.Error("a full cache did not evict exactly its oldest entry")
	}
}
