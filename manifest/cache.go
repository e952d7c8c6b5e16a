package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// The incremental cache holds, per model root, hash and shard layout, the
// digests of each file with the stat fields they were computed under. A
// file whose path, size, mtime, ctime, inode and device all match is not
// read again.
//
// A cache can only cost time, never correctness: the file carries a
// SHA-256 checksum and its own key, every entry is checked for the digest
// count and size its layout implies, and anything that fails is treated as
// an empty cache. Files modified within racyWindow of a build are not
// cached, since a second change within the timestamp granularity would go
// unseen. The cache trusts the stat fields: anyone who can rewrite files
// and reset their ctime (root) or write the cache directory can fool it, so
// an auditor hashing untrusted data should not use one.

const cacheMagic = "vai-manifest-cache-v1\n"

type cacheKey struct {
	root      string
	hash      Hash
	method    Method
	shardSize int64
}

func (k cacheKey) encode() []byte {
	var b []byte
	b = appendString(b, k.root)
	b = appendString(b, string(k.hash))
	b = appendString(b, string(k.method))
	return binary.AppendVarint(b, k.shardSize)
}

type cacheEntry struct {
	stat    fileStat
	digests [][]byte
}

func cacheFile(dir string, k cacheKey) string {
	sum := sha256.Sum256(k.encode())
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".cache")
}

// loadCache reads the cache for k. A missing file is an empty cache; a
// damaged one is an empty cache and an error saying why.
func loadCache(dir string, k cacheKey) (map[string]cacheEntry, error) {
	data, err := os.ReadFile(cacheFile(dir, k))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the manifest cache: %w", err)
	}
	m, err := decodeCache(data, k)
	if err != nil {
		return nil, fmt.Errorf("ignoring a damaged manifest cache %s: %w", cacheFile(dir, k), err)
	}
	return m, nil
}

// saveCache replaces the cache for k with entries, atomically.
func saveCache(dir string, k cacheKey, entries map[string]cacheEntry) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to write the manifest cache: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to write the manifest cache: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(encodeCache(k, entries))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), cacheFile(dir, k))
	}
	if err != nil {
		return fmt.Errorf("failed to write the manifest cache: %w", err)
	}
	return nil
}

func encodeCache(k cacheKey, entries map[string]cacheEntry) []byte {
	b := []byte(cacheMagic)
	b = appendString(b, string(k.encode()))
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, rel := range slices.Sorted(maps.Keys(entries)) {
		e := entries[rel]
		b = appendString(b, rel)
		b = binary.AppendUvarint(b, e.stat.dev)
		b = binary.AppendUvarint(b, e.stat.ino)
		b = binary.AppendVarint(b, e.stat.size)
		b = binary.AppendVarint(b, e.stat.mtime)
		b = binary.AppendVarint(b, e.stat.ctime)
		b = binary.AppendUvarint(b, uint64(len(e.digests)))
		for _, d := range e.digests {
			b = append(b, d...)
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func decodeCache(data []byte, k cacheKey) (map[string]cacheEntry, error) {
	if len(data) < len(cacheMagic)+sha256.Size || !bytes.HasPrefix(data, []byte(cacheMagic)) {
		return nil, errors.New("not a cache file")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, errors.New("checksum mismatch")
	}
	d := decoder{b: body[len(cacheMagic):]}
	if key := d.string(); d.err == nil && key != string(k.encode()) {
		return nil, errors.New("cache is for another root or layout")
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		return nil, errors.New("entry count exceeds the file")
	}
	size := k.hash.Size()
	out := make(map[string]cacheEntry, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		rel := d.string()
		var e cacheEntry
		e.stat.dev = d.uvarint()
		e.stat.ino = d.uvarint()
		e.stat.size = d.varint()
		e.stat.mtime = d.varint()
		e.stat.ctime = d.varint()
		count := d.uvarint()
		if d.err != nil {
			break
		}
		if e.stat.size < 0 || count != expectedDigests(k, e.stat.size) {
			return nil, fmt.Errorf("entry %q has %d digests for %d bytes", rel, count, e.stat.size)
		}
		e.digests = make([][]byte, count)
		for j := range e.digests {
			e.digests[j] = d.bytes(size)
		}
		if _, dup := out[rel]; dup {
			return nil, fmt.Errorf("duplicate entry %q", rel)
		}
		out[rel] = e
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing data")
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}

// expectedDigests is the digest count a file of size bytes has under k.
func expectedDigests(k cacheKey, size int64) uint64 {
	if k.method != Shards {
		return 1
	}
	return uint64((size + k.shardSize - 1) / k.shardSize)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the cache format, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err = errors.New("truncated or malformed entry"); d.b = nil }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.fail()
		return nil
	}
	out := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	return string(d.bytes(int(n)))
}
