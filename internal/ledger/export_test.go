package ledger

// SetPredecode turns the batch verification of block transactions the node
// has not seen on or off (on by default).
func SetPredecode(l *Ledger, on bool) { l.noPredecode = !on }

// Cached reports whether raw is in l's decoded-transaction cache.
func Cached(l *Ledger, raw []byte) bool {
	return l.txs.get(raw) != nil
}

// Predecode runs the block-transaction batch verification alone.
func Predecode(l *Ledger, txs [][]byte) { l.predecode(txs) }
