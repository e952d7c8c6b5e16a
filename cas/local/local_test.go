package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/cas/castest"
	"github.com/vai-dev/vai/cas/local"
)

func newStore(t *testing.T) (*local.Store, string) {
	dir := t.TempDir()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestSuite(t *testing.T) {
	castest.Run(t, func(t *testing.T) cas.Store {
		s, _ := newStore(t)
		return s
	})
}

func TestInterruptedPutLeavesNoFile(t *testing.T) {
	s, dir := newStore(t)
	r := io.MultiReader(bytes.NewReader(castest.Random(1<<20, 1)), failing{})
	if _, err := s.Put(context.Background(), r); err == nil {
		t.Fatal("Put succeeded")
	}
	for _, sub := range []string{"tmp", "blobs"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		if len(ents) != 0 {
			t.Errorf("%s holds %d entries after a failed Put", sub, len(ents))
		}
	}
}

func TestCorruptBlobFailsOnRead(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	data := castest.Random(cas.ChunkSize+10, 2)
	c, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	k := c.String()
	p := filepath.Join(dir, "blobs", k[len(k)-3:len(k)-1], k)
	data[5] ^= 0xff
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, cas.ErrCorrupt) {
		t.Errorf("reading a corrupted blob: error %v, want ErrCorrupt", err)
	}
}

// TestPutStreams checks that Put does not hold a blob in memory.
func TestPutStreams(t *testing.T) {
	s, _ := newStore(t)
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := s.Put(context.Background(), io.LimitReader(zeros{}, size)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("Put of %d MiB allocated %d MiB", size>>20, alloc>>20)
	}
}

func TestStaleTempRemoved(t *testing.T) {
	_, dir := newStore(t)
	stale := filepath.Join(dir, "tmp", "put-stale")
	fresh := filepath.Join(dir, "tmp", "put-fresh")
	os.WriteFile(stale, []byte("x"), 0o600)
	os.WriteFile(fresh, []byte("x"), 0o600)
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := local.New(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("a day-old temporary file survived New")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("New removed a temporary file that may belong to a running Put")
	}
}

func TestList(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 5 {
		c, err := s.Put(ctx, bytes.NewReader(castest.Random(100+i, uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		want[c.String()] = true
	}
	got := map[string]bool{}
	for c, err := range s.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got[c.String()] = true
	}
	if len(got) != len(want) {
		t.Fatalf("List gave %d CIDs, want %d", len(got), len(want))
	}
	for c := range want {
		if !got[c] {
			t.Errorf("List misses %s", c)
		}
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
