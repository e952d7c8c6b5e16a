package ledger

import (
	"bytes"
	"errors"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"
)

// The state is one IAVL tree (DESIGN D3): app hash = IAVL root, IAVL version
// = block height. IAVL wants its own small DB interface; cometDB adapts
// cometbft-db (the store CometBFT itself uses) to it, so one database engine
// and one set of backends serve the whole node.
type cometDB struct{ dbm.DB }

var _ idb.DB = cometDB{}

func (d cometDB) Iterator(start, end []byte) (idb.Iterator, error) {
	it, err := d.DB.Iterator(start, end)
	return copyingIter{it}, err
}

func (d cometDB) ReverseIterator(start, end []byte) (idb.Iterator, error) {
	it, err := d.DB.ReverseIterator(start, end)
	return copyingIter{it}, err
}

// copyingIter copies keys and values. cometbft-db's goleveldb iterator
// returns goleveldb's buffers, which the next step overwrites; IAVL keeps
// the slices it reads (cosmos-db, which IAVL is written for, copies).
// Without this, iterating a committed IAVL tree skips and repeats keys.
type copyingIter struct{ dbm.Iterator }

func (i copyingIter) Key() []byte                { return bytes.Clone(i.Iterator.Key()) }
func (i copyingIter) Value() []byte              { return bytes.Clone(i.Iterator.Value()) }
func (d cometDB) NewBatch() idb.Batch            { return &cometBatch{Batch: d.DB.NewBatch()} }
func (d cometDB) NewBatchWithSize(int) idb.Batch { return d.NewBatch() }

// cometBatch adds the byte count IAVL uses to decide when to flush.
type cometBatch struct {
	dbm.Batch
	size int
}

func (b *cometBatch) Set(k, v []byte) error {
	b.size += len(k) + len(v)
	return b.Batch.Set(k, v)
}

func (b *cometBatch) Delete(k []byte) error {
	b.size += len(k)
	return b.Batch.Delete(k)
}

func (b *cometBatch) GetByteSize() (int, error) { return b.size, nil }

// treeKV is the working (uncommitted) tree as a KV.
type treeKV struct{ t *iavl.MutableTree }

func (s treeKV) Get(k []byte) []byte {
	v, err := s.t.Get(k)
	if err != nil {
		storagePanic("get", err)
	}
	return v
}

func (s treeKV) Has(k []byte) bool { return s.Get(k) != nil }

func (s treeKV) Set(k, v []byte) {
	if _, err := s.t.Set(k, v); err != nil {
		storagePanic("set", err)
	}
}

func (s treeKV) Delete(k []byte) {
	if _, _, err := s.t.Remove(k); err != nil {
		storagePanic("delete", err)
	}
}

func (s treeKV) Iterator(start, end []byte) Iterator { return s.iter(start, end, true) }
func (s treeKV) ReverseIterator(start, end []byte) Iterator {
	return s.iter(start, end, false)
}

func (s treeKV) iter(start, end []byte, asc bool) Iterator {
	it, err := s.t.Iterator(start, end, asc)
	if err != nil {
		storagePanic("iterate", err)
	}
	return iavlIter{it}
}

// versionKV is a committed version of the tree: read-only, safe to share.
// Every read holds saving for reading: IAVL's node database has fields
// (its fast-storage version) that SaveVersion writes without a lock of its
// own and that every read of any version reads (found by the race
// detector with queries running during commits).
type versionKV struct {
	t      *iavl.ImmutableTree
	saving *sync.RWMutex
}

var errReadOnly = errors.New("write to a committed state version")

func (s versionKV) Get(k []byte) []byte {
	s.saving.RLock()
	defer s.saving.RUnlock()
	v, err := s.t.Get(k)
	if err != nil {
		storagePanic("get", err)
	}
	return v
}

func (s versionKV) Has(k []byte) bool { return s.Get(k) != nil }
func (s versionKV) Set(k, v []byte)   { panic(errReadOnly) }
func (s versionKV) Delete(k []byte)   { panic(errReadOnly) }

func (s versionKV) Iterator(start, end []byte) Iterator { return s.iter(start, end, true) }
func (s versionKV) ReverseIterator(start, end []byte) Iterator {
	return s.iter(start, end, false)
}

func (s versionKV) iter(start, end []byte, asc bool) Iterator {
	s.saving.RLock()
	defer s.saving.RUnlock()
	it, err := s.t.Iterator(start, end, asc)
	if err != nil {
		storagePanic("iterate", err)
	}
	return lockedIter{iavlIter{it}, s.saving}
}

// proof returns the ICS23 proof of a key in the version.
func (s versionKV) proof(key []byte) (*ics23.CommitmentProof, error) {
	s.saving.RLock()
	defer s.saving.RUnlock()
	return s.t.GetProof(key)
}

// lockedIter reads a committed version's iterator under the saving lock.
type lockedIter struct {
	it     iavlIter
	saving *sync.RWMutex
}

func (i lockedIter) Valid() bool {
	i.saving.RLock()
	defer i.saving.RUnlock()
	return i.it.Valid()
}

func (i lockedIter) Next() {
	i.saving.RLock()
	defer i.saving.RUnlock()
	i.it.Next()
}

func (i lockedIter) Key() []byte {
	i.saving.RLock()
	defer i.saving.RUnlock()
	return i.it.Key()
}

func (i lockedIter) Value() []byte {
	i.saving.RLock()
	defer i.saving.RUnlock()
	return i.it.Value()
}

func (i lockedIter) Close() error {
	i.saving.RLock()
	defer i.saving.RUnlock()
	return i.it.Close()
}

type iavlIter struct {
	it interface {
		Valid() bool
		Next()
		Key() []byte
		Value() []byte
		Error() error
		Close() error
	}
}

func (i iavlIter) Valid() bool {
	if i.it.Valid() {
		return true
	}
	if err := i.it.Error(); err != nil {
		storagePanic("iterate", err)
	}
	return false
}
func (i iavlIter) Next()         { i.it.Next() }
func (i iavlIter) Key() []byte   { return bytes.Clone(i.it.Key()) }
func (i iavlIter) Value() []byte { return bytes.Clone(i.it.Value()) }
func (i iavlIter) Close() error  { return i.it.Close() }

// memKV is a KV over an in-memory sorted store, used for fresh simulations
// and by tests of other packages.
func NewMemKV() KV { return NewCache(emptyKV{}) }

type emptyKV struct{}

func (emptyKV) Get([]byte) []byte                    { return nil }
func (emptyKV) Has([]byte) bool                      { return false }
func (emptyKV) Set(k, v []byte)                      { panic(errReadOnly) }
func (emptyKV) Delete([]byte)                        { panic(errReadOnly) }
func (emptyKV) Iterator(_, _ []byte) Iterator        { return emptyIter{} }
func (emptyKV) ReverseIterator(_, _ []byte) Iterator { return emptyIter{} }

type emptyIter struct{}

func (emptyIter) Valid() bool   { return false }
func (emptyIter) Next()         {}
func (emptyIter) Key() []byte   { return nil }
func (emptyIter) Value() []byte { return nil }
func (emptyIter) Close() error  { return nil }
