package manifest

import (
	"reflect"
	"testing"
)

// FuzzDecodeCache: a damaged cache must decode to an error, never panic,
// and whatever decodes must be self-consistent.
func FuzzDecodeCache(f *testing.F) {
	k := cacheKey{root: "/m", hash: SHA256, method: Shards, shardSize: 4}
	f.Add(encodeCache(k, map[string]cacheEntry{
		"a": {stat: fileStat{dev: 1, ino: 2, size: 5, mtime: 3, ctime: 4}, digests: [][]byte{make([]byte, 32), make([]byte, 32)}},
		"e": {stat: fileStat{size: 0}, digests: [][]byte{}},
	}))
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeCache(data, k)
		if err != nil {
			return
		}
		for rel, e := range m {
			if uint64(len(e.digests)) != expectedDigests(k, e.stat.size) {
				t.Fatalf("%q: %d digests for %d bytes", rel, len(e.digests), e.stat.size)
			}
			for _, d := range e.digests {
				if len(d) != 32 {
					t.Fatalf("%q: digest of %d bytes", rel, len(d))
				}
			}
		}
		again, err := decodeCache(encodeCache(k, m), k)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded cache does not round-trip: %v", err)
		}
	})
}
