package ledger

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
)

// KV is a view of the key-value state. Keys and values passed in or returned
// must not be modified afterwards. A storage failure is not an error a
// transaction can recover from: implementations panic with a *StorageError,
// which the block executor turns into a halt.
type KV interface {
	// Get returns the value of key, or nil if it is absent.
	Get(key []byte) []byte
	Has(key []byte) bool
	// Set stores a non-nil value.
	Set(key, value []byte)
	Delete(key []byte)
	// Iterator walks [start, end) in ascending key order; nil bounds are open.
	// No writes to the same view may happen while it is open.
	Iterator(start, end []byte) Iterator
	// ReverseIterator walks [start, end) in descending key order.
	ReverseIterator(start, end []byte) Iterator
}

// Iterator walks keys of a KV in order.
type Iterator interface {
	Valid() bool
	Next()
	Key() []byte
	Value() []byte
	Close() error
}

// StorageError reports a failure of the underlying database. It is raised as
// a panic because no transaction can handle it: the node must stop.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "storage failure: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

func storagePanic(op string, err error) {
	panic(&StorageError{Err: fmt.Errorf("%s: %w", op, err)})
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, or nil if there is none (the prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Prefixed returns the view of parent under prefix: keys are relative to it
// and nothing outside it can be reached.
func Prefixed(parent KV, prefix string) KV {
	return &prefixKV{parent: parent, prefix: []byte(prefix)}
}

type prefixKV struct {
	parent KV
	prefix []byte
}

func (p *prefixKV) key(k []byte) []byte {
	out := make([]byte, 0, len(p.prefix)+len(k))
	return append(append(out, p.prefix...), k...)
}

func (p *prefixKV) Get(k []byte) []byte { return p.parent.Get(p.key(k)) }
func (p *prefixKV) Has(k []byte) bool   { return p.parent.Has(p.key(k)) }
func (p *prefixKV) Set(k, v []byte)     { p.parent.Set(p.key(k), v) }
func (p *prefixKV) Delete(k []byte)     { p.parent.Delete(p.key(k)) }
func (p *prefixKV) bounds(start, end []byte) ([]byte, []byte) {
	s := p.key(start)
	var e []byte
	if end != nil {
		e = p.key(end)
	} else {
		e = PrefixEnd(p.prefix)
	}
	return s, e
}

func (p *prefixKV) Iterator(start, end []byte) Iterator {
	s, e := p.bounds(start, end)
	return &prefixIter{Iterator: p.parent.Iterator(s, e), n: len(p.prefix)}
}

func (p *prefixKV) ReverseIterator(start, end []byte) Iterator {
	s, e := p.bounds(start, end)
	return &prefixIter{Iterator: p.parent.ReverseIterator(s, e), n: len(p.prefix)}
}

type prefixIter struct {
	Iterator
	n int
}

func (it *prefixIter) Key() []byte { return it.Iterator.Key()[it.n:] }

// Cache buffers writes over a parent view. Write applies them to the parent
// in ascending key order (IAVL's tree shape, and so the app hash, depends on
// insertion order); dropping the Cache discards them. Reads see the buffered
// writes first. A Cache is not safe for concurrent use.
type Cache struct {
	parent KV
	writes map[string][]byte // nil value: deleted
}

// NewCache returns an empty write buffer over parent.
func NewCache(parent KV) *Cache {
	return &Cache{parent: parent, writes: make(map[string][]byte)}
}

var _ KV = (*Cache)(nil)

func (c *Cache) Get(key []byte) []byte {
	if v, ok := c.writes[string(key)]; ok {
		return v
	}
	return c.parent.Get(key)
}

func (c *Cache) Has(key []byte) bool { return c.Get(key) != nil }

func (c *Cache) Set(key, value []byte) {
	if value == nil {
		panic("ledger: Set with a nil value")
	}
	if len(key) == 0 {
		panic("ledger: Set with an empty key")
	}
	c.writes[string(key)] = value
}

func (c *Cache) Delete(key []byte) { c.writes[string(key)] = nil }

// Len reports how many keys are buffered.
func (c *Cache) Len() int { return len(c.writes) }

// Write applies the buffered writes to the parent in ascending key order and
// empties the buffer.
func (c *Cache) Write() {
	if p, ok := c.parent.(*Cache); ok {
		// Another buffer (a transaction's writes going to the block's or
		// the mempool's): a map holds the same entries whatever the order
		// they arrive in, so the keys move over as they are, without
		// sorting or converting them to bytes and back.
		maps.Copy(p.writes, c.writes)
		clear(c.writes)
		return
	}
	keys := c.sortedKeys(nil, nil)
	for _, k := range keys {
		if v := c.writes[k]; v == nil {
			c.parent.Delete([]byte(k))
		} else {
			c.parent.Set([]byte(k), v)
		}
	}
	clear(c.writes)
}

func (c *Cache) sortedKeys(start, end []byte) []string {
	keys := make([]string, 0, len(c.writes))
	for k := range c.writes {
		if start != nil && k < string(start) {
			continue
		}
		if end != nil && k >= string(end) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *Cache) Iterator(start, end []byte) Iterator {
	return c.newMerge(c.parent.Iterator(start, end), c.sortedKeys(start, end), true)
}

func (c *Cache) ReverseIterator(start, end []byte) Iterator {
	keys := c.sortedKeys(start, end)
	slices.Reverse(keys)
	return c.newMerge(c.parent.ReverseIterator(start, end), keys, false)
}

// mergeIter merges the parent's iterator with the buffered keys; a buffered
// key shadows the parent's, and buffered deletions hide keys.
type mergeIter struct {
	c         *Cache
	parent    Iterator
	keys      []string
	ascending bool
	key       []byte
	value     []byte
	valid     bool
}

func (c *Cache) newMerge(parent Iterator, keys []string, ascending bool) *mergeIter {
	it := &mergeIter{c: c, parent: parent, keys: keys, ascending: ascending}
	it.advance()
	return it
}

// before reports whether a comes before b in the iteration order.
func (it *mergeIter) before(a, b []byte) bool {
	if it.ascending {
		return bytes.Compare(a, b) < 0
	}
	return bytes.Compare(a, b) > 0
}

func (it *mergeIter) advance() {
	for {
		pv := it.parent.Valid()
		cv := len(it.keys) > 0
		switch {
		case !pv && !cv:
			it.valid = false
			return
		case pv && (!cv || it.before(it.parent.Key(), []byte(it.keys[0]))):
			// Copy: some backends reuse the iterator's buffers on Next.
			it.key, it.value, it.valid = bytes.Clone(it.parent.Key()), bytes.Clone(it.parent.Value()), true
			it.parent.Next()
			return
		default:
			k := it.keys[0]
			it.keys = it.keys[1:]
			if pv && bytes.Equal(it.parent.Key(), []byte(k)) {
				it.parent.Next() // shadowed by the buffer
			}
			if v := it.c.writes[k]; v != nil {
				it.key, it.value, it.valid = []byte(k), v, true
				return
			}
		}
	}
}

func (it *mergeIter) Valid() bool   { return it.valid }
func (it *mergeIter) Next()         { it.advance() }
func (it *mergeIter) Key() []byte   { return it.key }
func (it *mergeIter) Value() []byte { return it.value }
func (it *mergeIter) Close() error  { return it.parent.Close() }

// GetJSON reads and decodes the record at key of a module's store (nil,
// false if absent). A record that does not decode is a corrupt state: it
// panics with a StorageError, which halts the node.
func GetJSON[T any](kv KV, key []byte) (*T, bool) {
	b := kv.Get(key)
	if b == nil {
		return nil, false
	}
	var v T
	if err := DecodeJSON(b, &v); err != nil {
		panic(&StorageError{Err: fmt.Errorf("corrupt record %q: %w", key, err)})
	}
	return &v, true
}

// ScanJSON decodes every record under prefix, in key order.
func ScanJSON[T any](kv KV, prefix []byte) []T {
	it := kv.Iterator(prefix, PrefixEnd(prefix))
	defer it.Close()
	out := []T{}
	for ; it.Valid(); it.Next() {
		var v T
		if err := DecodeJSON(it.Value(), &v); err != nil {
			panic(&StorageError{Err: fmt.Errorf("corrupt record %q: %w", it.Key(), err)})
		}
		out = append(out, v)
	}
	return out
}
