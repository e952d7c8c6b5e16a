package manifest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vai-dev/vai/manifest"
)

func cacheModel(t *testing.T) (dir, cache string) {
	dir = t.TempDir()
	cache = t.TempDir()
	for i, name := range []string{"a", "b/c", "b/d", "e"} {
		writeFile(t, filepath.Join(dir, name), strings.Repeat(name, 1000*(i+1)))
	}
	return dir, cache
}

func TestCacheRehashesOnlyChanges(t *testing.T) {
	defer manifest.SetRacyWindow(0)()
	dir, cache := cacheModel(t)
	cfg := manifest.Config{CacheDir: cache}
	first := build(t, dir, cfg)
	if first.CachedFiles != 0 || first.CacheErr != nil {
		t.Fatalf("first build: %d cached, err %v", first.CachedFiles, first.CacheErr)
	}
	second := build(t, dir, cfg)
	if second.CachedFiles != 4 || second.HashedBytes != 0 || second.Manifest.Identity() != first.Manifest.Identity() {
		t.Fatalf("unchanged rebuild: %d cached, %d bytes hashed", second.CachedFiles, second.HashedBytes)
	}

	writeFile(t, filepath.Join(dir, "b/c"), strings.Repeat("X", 3000)) // same size
	third := build(t, dir, cfg)
	if third.CachedFiles != 3 || third.HashedBytes != 3000 {
		t.Errorf("after editing one file: %d cached, %d bytes hashed", third.CachedFiles, third.HashedBytes)
	}
	fresh := build(t, dir, manifest.Config{})
	if third.Manifest.Identity() != fresh.Manifest.Identity() {
		t.Error("cached build differs from an uncached one")
	}
}

// TestCacheSeesRestoredMtime: a same-size rewrite whose mtime is set back
// still changes the ctime, so it is re-hashed.
func TestCacheSeesRestoredMtime(t *testing.T) {
	defer manifest.SetRacyWindow(0)()
	dir, cache := cacheModel(t)
	cfg := manifest.Config{CacheDir: cache}
	build(t, dir, cfg)
	p := filepath.Join(dir, "a")
	fi, _ := os.Stat(p)
	time.Sleep(10 * time.Millisecond)
	writeFile(t, p, strings.Repeat("Z", 1000))
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	res := build(t, dir, cfg)
	if !bytes.Equal(digestOf(res.Manifest, "a"), sum(strings.Repeat("Z", 1000))) {
		t.Error("the cache hid a rewrite whose mtime was restored")
	}
}

func TestCacheRacyFilesNotCached(t *testing.T) {
	dir, cache := cacheModel(t) // files were just written: all racy
	cfg := manifest.Config{CacheDir: cache}
	build(t, dir, cfg)
	if res := build(t, dir, cfg); res.CachedFiles != 0 {
		t.Errorf("%d files modified within the racy window were cached", res.CachedFiles)
	}
}

func TestCacheCorruptionIsAMiss(t *testing.T) {
	defer manifest.SetRacyWindow(0)()
	dir, cache := cacheModel(t)
	cfg := manifest.Config{CacheDir: cache}
	want := build(t, dir, cfg).Manifest.Identity()
	files, _ := filepath.Glob(filepath.Join(cache, "*.cache"))
	if len(files) != 1 {
		t.Fatalf("%d cache files", len(files))
	}
	orig, _ := os.ReadFile(files[0])
	for _, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)/2] ^= 1; return b },     // flipped bit
		func(b []byte) []byte { return b[:len(b)-7] },            // truncated
		func(b []byte) []byte { return nil },                     // empty
		func(b []byte) []byte { return append(b, "junk"...) },    // appended
		func(b []byte) []byte { return []byte("vai-manifest-") }, // garbage
	} {
		os.WriteFile(files[0], damage(bytes.Clone(orig)), 0o600)
		res := build(t, dir, cfg)
		if res.Manifest.Identity() != want || res.CachedFiles != 0 {
			t.Errorf("damaged cache: identity changed or %d files cached", res.CachedFiles)
		}
		if res.CacheErr == nil && len(damage(bytes.Clone(orig))) > 0 {
			t.Error("a damaged cache gave no CacheErr")
		}
	}
}

func TestCacheKeyedOnLayout(t *testing.T) {
	defer manifest.SetRacyWindow(0)()
	dir, cache := cacheModel(t)
	build(t, dir, manifest.Config{CacheDir: cache})
	for _, cfg := range []manifest.Config{
		{CacheDir: cache, Hash: manifest.BLAKE3},
		{CacheDir: cache, ShardSize: 1000},
	} {
		if res := build(t, dir, cfg); res.CachedFiles != 0 {
			t.Errorf("%+v used the sha256 files-mode cache", cfg)
		}
	}
	// A copy of the model elsewhere has other absolute paths and inodes.
	other := t.TempDir()
	for _, name := range []string{"a", "b/c", "b/d", "e"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		writeFile(t, filepath.Join(other, name), string(b))
	}
	if res := build(t, other, manifest.Config{CacheDir: cache}); res.CachedFiles != 0 {
		t.Error("a copy at another path used the original's cache")
	}
}
