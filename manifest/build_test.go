package manifest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vai-dev/vai/manifest"
)

func build(t *testing.T, root string, cfg manifest.Config) *manifest.Result {
	t.Helper()
	res, err := manifest.Build(context.Background(), root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func names(m *manifest.Manifest) string {
	var out []string
	for _, r := range m.Resources {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func digestOf(m *manifest.Manifest, name string) []byte {
	for _, r := range m.Resources {
		if r.Name == name {
			return r.Digest
		}
	}
	return nil
}

func sum(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func TestSymlinks(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "target"), "outside content")
	os.Mkdir(filepath.Join(outside, "dir"), 0o755)
	writeFile(t, filepath.Join(outside, "dir", "inner"), "not hashed")

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "real"), "real")
	os.Symlink(filepath.Join(outside, "target"), filepath.Join(dir, "link"))
	os.Symlink(filepath.Join(outside, "dir"), filepath.Join(dir, "dirlink"))

	_, err := manifest.Build(context.Background(), dir, manifest.Config{})
	var pe *manifest.PathError
	if !errors.Is(err, manifest.ErrSymlink) || !errors.As(err, &pe) || pe.Path != "dirlink" && pe.Path != "link" {
		t.Fatalf("default build error = %v, want ErrSymlink naming the link", err)
	}

	m := build(t, dir, manifest.Config{AllowSymlinks: true}).Manifest
	if got := names(m); got != "link,real" {
		t.Errorf("resources %s, want link,real (directory links skipped)", got)
	}
	if !bytes.Equal(digestOf(m, "link"), sum("outside content")) {
		t.Error("a file symlink is not hashed with its target's content")
	}
	if !m.Serialization.AllowSymlinks {
		t.Error("allow_symlinks not recorded")
	}

	// A symlink under an ignored path is skipped without error.
	m = build(t, dir, manifest.Config{IgnorePaths: []string{"link", "dirlink"}}).Manifest
	if got := names(m); got != "real" {
		t.Errorf("resources %s, want real", got)
	}
}

func TestSymlinkErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		want  error
	}{
		{"loop", func(dir string) {
			os.Symlink("b", filepath.Join(dir, "a"))
			os.Symlink("a", filepath.Join(dir, "b"))
		}, manifest.ErrSymlinkLoop},
		{"self", func(dir string) { os.Symlink("self", filepath.Join(dir, "self")) }, manifest.ErrSymlinkLoop},
		{"broken", func(dir string) { os.Symlink("nowhere", filepath.Join(dir, "dangling")) }, manifest.ErrBrokenSymlink},
		{"fifo", func(dir string) { syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644) }, manifest.ErrSpecialFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "ok"), "ok")
			tt.setup(dir)
			_, err := manifest.Build(context.Background(), dir, manifest.Config{AllowSymlinks: true})
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRootSymlink(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "model", "w"), "weights")
	link := filepath.Join(dir, "current")
	os.Symlink("model", link)
	if _, err := manifest.Build(context.Background(), link, manifest.Config{}); !errors.Is(err, manifest.ErrSymlink) {
		t.Errorf("symlinked root without AllowSymlinks: error %v, want ErrSymlink", err)
	}
	m := build(t, link, manifest.Config{AllowSymlinks: true}).Manifest
	if names(m) != "w" || m.Name != "current" {
		t.Errorf("symlinked root: resources %s, name %s", names(m), m.Name)
	}
}

func TestEmptyDirectoriesAreNotRecorded(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755)
	writeFile(t, filepath.Join(dir, "x", "f"), "f")
	if got := names(build(t, dir, manifest.Config{}).Manifest); got != "x/f" {
		t.Errorf("resources %s, want x/f", got)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []manifest.Config{
		{IgnorePaths: []string{"../outside"}},
		{IgnorePaths: []string{"/abs"}},
		{IgnorePaths: []string{"."}},
		{Hash: "md5"},
		{ShardSize: -1},
	} {
		if _, err := manifest.Build(context.Background(), dir, cfg); err == nil {
			t.Errorf("Build with %+v succeeded", cfg)
		}
	}
	if _, err := manifest.Build(context.Background(), filepath.Join(dir, "missing"), manifest.Config{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing root: error %v", err)
	}
}

func TestNonUTF8Name(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad\xffname"), nil, 0o644); err != nil {
		t.Skip("file system refuses non-UTF-8 names")
	}
	_, err := manifest.Build(context.Background(), dir, manifest.Config{})
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Errorf("error = %v, want a UTF-8 error", err)
	}
}

// TestChangedWhileHashing changes files between reads and checks that the
// build fails naming them.
func TestChangedWhileHashing(t *testing.T) {
	tests := []struct {
		name   string
		change func(path string)
	}{
		{"appended", func(p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("more")
			f.Close()
		}},
		{"rewritten in place", func(p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt([]byte("X"), 0)
			f.Close()
			future := time.Now().Add(time.Hour)
			os.Chtimes(p, future, future)
		}},
		{"replaced by rename", func(p string) {
			os.WriteFile(p+".new", bytes.Repeat([]byte("y"), 3<<20), 0o644)
			os.Rename(p+".new", p)
		}},
		{"truncated", func(p string) { os.Truncate(p, 10) }},
	}
	for _, tt := range tests {
		for _, h := range []manifest.Hash{manifest.SHA256, manifest.BLAKE3} {
			t.Run(tt.name+"/"+string(h), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "weights.bin")
				writeFile(t, path, strings.Repeat("w", 3<<20))
				writeFile(t, filepath.Join(dir, "config.json"), "{}")
				var once sync.Once
				defer manifest.SetReadHook(func(rel string) {
					if rel == "weights.bin" {
						once.Do(func() { tt.change(path) })
					}
				})()
				_, err := manifest.Build(context.Background(), dir, manifest.Config{Hash: h})
				var pe *manifest.PathError
				if !errors.Is(err, manifest.ErrChanged) || !errors.As(err, &pe) || pe.Path != "weights.bin" {
					t.Errorf("error = %v, want ErrChanged naming weights.bin", err)
				}
			})
		}
	}
}

func TestChangedWhileHashingBlake3Pieces(t *testing.T) {
	defer manifest.SetBlake3PieceSize(64 << 10)()
	dir := t.TempDir()
	path := filepath.Join(dir, "big")
	writeFile(t, path, strings.Repeat("b", 5<<20))
	var once sync.Once
	defer manifest.SetReadHook(func(string) {
		once.Do(func() {
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("!")
			f.Close()
		})
	})()
	if _, err := manifest.Build(context.Background(), dir, manifest.Config{Hash: manifest.BLAKE3}); !errors.Is(err, manifest.ErrChanged) {
		t.Errorf("error = %v, want ErrChanged", err)
	}
}

func TestParallelMatchesSequential(t *testing.T) {
	defer manifest.SetBlake3PieceSize(64 << 10)()
	dir := t.TempDir()
	for i, size := range []int{0, 1, 5000, 1 << 20, 3<<20 + 17} {
		writeFile(t, filepath.Join(dir, "d", strings.Repeat("f", i+1)), strings.Repeat(string(rune('a'+i)), size))
	}
	for _, cfg := range []manifest.Config{
		{Hash: manifest.SHA256}, {Hash: manifest.BLAKE2b}, {Hash: manifest.BLAKE3},
		{Hash: manifest.SHA256, ShardSize: 1 << 20}, {Hash: manifest.BLAKE2b, ShardSize: 100000},
	} {
		one := cfg
		one.Workers = 1
		many := cfg
		many.Workers = 8
		a, b := build(t, dir, one).Manifest, build(t, dir, many).Manifest
		if a.Identity() != b.Identity() {
			t.Errorf("%+v: 1 and 8 workers disagree", cfg)
		}
	}
}

func TestCancel(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), strings.Repeat("x", 4<<20))
	ctx, cancel := context.WithCancel(context.Background())
	defer manifest.SetReadHook(func(string) { cancel() })()
	if _, err := manifest.Build(ctx, dir, manifest.Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestProgress(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), strings.Repeat("a", 3<<20))
	writeFile(t, filepath.Join(dir, "b"), "b")
	var mu sync.Mutex
	var last, total int64
	calls := 0
	build(t, dir, manifest.Config{Progress: func(d, n int64) {
		mu.Lock()
		defer mu.Unlock()
		if d < last {
			t.Errorf("progress went back from %d to %d", last, d)
		}
		last, total = d, n
		calls++
	}})
	if calls == 0 || last != 3<<20+1 || total != 3<<20+1 {
		t.Errorf("progress: %d calls, last %d of %d", calls, last, total)
	}
}

func TestResultCounts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), "12345")
	writeFile(t, filepath.Join(dir, "e"), "")
	res := build(t, dir, manifest.Config{ShardSize: 2})
	if res.Files != 2 || res.Bytes != 5 || res.HashedBytes != 5 || len(res.Manifest.Resources) != 3 {
		t.Errorf("result %+v with %d resources", res, len(res.Manifest.Resources))
	}
	if got := strings.Join(res.Manifest.Files(), ","); got != "a" {
		t.Errorf("Files() = %s (empty files have no shard)", got)
	}
}

func TestSerializationConfigReproduces(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "w"), "weights")
	writeFile(t, filepath.Join(dir, ".gitignore"), "x")
	writeFile(t, filepath.Join(dir, "logs", "l"), "log")
	for _, cfg := range []manifest.Config{
		{},
		{IncludeGitPaths: true},
		{Hash: manifest.BLAKE2b, ShardSize: 3, IgnorePaths: []string{"logs"}},
		{Hash: manifest.BLAKE3, AllowSymlinks: true},
	} {
		want := build(t, dir, cfg).Manifest
		got := build(t, dir, want.Serialization.Config()).Manifest
		if got.Identity() != want.Identity() {
			t.Errorf("%+v: rebuilding with Serialization.Config() changed the identity", cfg)
		}
	}
}
