package node

import (
	"errors"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
)

// errDBClosed is what iterators of a closed afterCloseDB return.
var errDBClosed = errors.New("database closed: the node is stopping")

// afterCloseDB is a database handed to CometBFT that, once closed, answers
// point reads as if the key were absent instead of failing.
//
// Why: when a CometBFT v0.38 node stops it closes its block store while the
// consensus reactor's queryMaj23Routine for a peer may be asleep (up to
// three 2 s naps) between its "still running?" check and a LoadCommit. The
// block store panics on any read error, so the wake-up read of the closed
// database ("leveldb: closed") kills the process with exit status 2 instead
// of a clean shutdown. TestFourValidators hit it when a restarted validator
// was still catching up; the same trace is reported against v0.37
// (NibiruChain/nibiru#1918). A read that finds nothing makes that routine
// skip its message; it then sees the reactor stopped and returns. Writes
// and iterators still fail after close, and Close waits for reads in
// flight.
type afterCloseDB struct {
	dbm.DB
	mu     sync.RWMutex
	closed bool
}

func (d *afterCloseDB) Get(key []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil
	}
	return d.DB.Get(key)
}

func (d *afterCloseDB) Has(key []byte) (bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false, nil
	}
	return d.DB.Has(key)
}

func (d *afterCloseDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errDBClosed
	}
	return d.DB.Iterator(start, end)
}

func (d *afterCloseDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errDBClosed
	}
	return d.DB.ReverseIterator(start, end)
}

// Close closes the database once; later calls do nothing.
func (d *afterCloseDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.DB.Close()
}
