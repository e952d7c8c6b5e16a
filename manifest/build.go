package manifest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2b"
	"lukechampine.com/blake3/guts"
)

// Config says how to build a manifest. The zero value gives the OMS
// defaults: files mode, SHA-256, git paths ignored, symlinks refused, no
// cache.
type Config struct {
	// Hash is the content hash; "" means SHA256.
	Hash Hash
	// ShardSize > 0 selects shards mode with shards of that many bytes
	// (OMS default DefaultShardSize). BLAKE3 never shards: as in OMS, it
	// gives files mode whatever ShardSize is.
	ShardSize int64
	// IgnorePaths are paths relative to the model root whose whole subtree
	// is left out. They are recorded in the manifest.
	IgnorePaths []string
	// IncludeGitPaths turns off the default ignoring of .git, .gitattributes,
	// .github and .gitignore at the model root.
	IncludeGitPaths bool
	// AllowSymlinks hashes the targets of file symlinks under the link's
	// name and skips directory symlinks. Without it a symlink is an error.
	AllowSymlinks bool
	// CacheDir, if set, holds the incremental cache: files whose path,
	// size, mtime, ctime, inode and device are unchanged since a previous
	// build with the same hash and shard layout are not read again.
	CacheDir string
	// Workers is the number of files or pieces hashed at once; 0 means
	// GOMAXPROCS.
	Workers int
	// Progress, if set, is called about ten times a second from one
	// goroutine with the bytes done and the total, and once at the end.
	Progress func(done, total int64)
}

// Result is a built manifest and what it took.
type Result struct {
	Manifest    *Manifest
	Files       int   // regular files covered, empty ones included
	Bytes       int64 // their total size
	HashedBytes int64 // bytes read; the rest came from the cache
	CachedFiles int   // files whose digests came from the cache
	// CacheErr is set when the cache could not be read or written. The
	// manifest is correct regardless: a bad cache only costs time.
	CacheErr error
}

// readSize is how much a worker hashes at a time. Workers hold one
// buffer or mapping window each, so memory is bounded by Workers ×
// mapWindow whatever the model size.
const readSize = 1 << 20

// racyWindow: a file modified less than this long before a build started
// could change again without changing its mtime (timestamps are coarse), so
// its digest is not cached. Tests change it.
var racyWindow = 2 * time.Second

// testHookRead, if set, is called after each read of a file's content.
var testHookRead func(rel string)

// Build hashes the file or directory at root into a manifest, by the OMS
// rules (see OMS-FORMAT in the package documentation). Files and pieces of
// large files are hashed in parallel. A file that changes while it is
// hashed fails the build with ErrChanged.
func Build(ctx context.Context, root string, cfg Config) (*Result, error) {
	start := time.Now()
	ser, err := cfg.serialization()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	entries, err := walk(abs, ser.IgnorePaths, ser.AllowSymlinks)
	if err != nil {
		return nil, fmt.Errorf("failed to walk %s: %w", root, err)
	}
	res := &Result{Manifest: &Manifest{Name: modelName(abs), Serialization: ser}, Files: len(entries)}

	var cache map[string]cacheEntry
	key := cacheKey{root: abs, hash: ser.HashType, method: ser.Method, shardSize: ser.ShardSize}
	if cfg.CacheDir != "" {
		cache, res.CacheErr = loadCache(cfg.CacheDir, key)
	}

	tasks := make([]*task, len(entries))
	var units []unit
	var total int64
	for i, e := range entries {
		t := &task{entry: e}
		tasks[i] = t
		total += e.stat.size
		if c, ok := cache[e.rel]; ok && c.stat == e.stat {
			t.digests = c.digests
			t.cached = true
			res.CachedFiles++
			continue
		}
		units = t.plan(units, ser)
	}
	res.Bytes = total

	// Largest units first, so that no worker is left with a big one at the end.
	slices.SortStableFunc(units, func(a, b unit) int { return -cmpInt64(a.n, b.n) })
	var done atomic.Int64
	done.Store(total - sumUnits(units))
	res.HashedBytes = sumUnits(units)
	if err := run(ctx, units, cfg, ser, &done, total); err != nil {
		return nil, err
	}

	res.Manifest.Resources = make([]Resource, 0, len(tasks))
	for _, t := range tasks {
		res.Manifest.Resources = t.resources(res.Manifest.Resources, ser)
	}
	sortResources(ser.Method, res.Manifest.Resources)

	if cfg.CacheDir != "" {
		fresh := make(map[string]cacheEntry, len(tasks))
		cutoff := start.Add(-racyWindow).UnixNano()
		for _, t := range tasks {
			if t.entry.stat.mtime < cutoff && t.entry.stat.ctime < cutoff {
				fresh[t.entry.rel] = cacheEntry{stat: t.entry.stat, digests: t.digests}
			}
		}
		if err := saveCache(cfg.CacheDir, key, fresh); err != nil && res.CacheErr == nil {
			res.CacheErr = err
		}
	}
	return res, nil
}

func (cfg Config) serialization() (Serialization, error) {
	s := Serialization{Method: Files, HashType: cfg.Hash, AllowSymlinks: cfg.AllowSymlinks}
	if s.HashType == "" {
		s.HashType = SHA256
	}
	if s.HashType.Size() == 0 {
		return s, fmt.Errorf("unknown hash %q (want sha256, blake2b or blake3)", cfg.Hash)
	}
	switch {
	case cfg.ShardSize < 0 || cfg.ShardSize > maxShardSize:
		return s, fmt.Errorf("shard size %d is not in [1, 2^53]", cfg.ShardSize)
	case cfg.ShardSize > 0 && s.HashType != BLAKE3:
		s.Method, s.ShardSize = Shards, cfg.ShardSize
	}
	var err error
	s.IgnorePaths, err = ignorePaths(cfg.IgnorePaths, cfg.IncludeGitPaths)
	return s, err
}

// modelName is OMS's model_path.name, or the basename of the resolved path
// when that is empty or "..".
func modelName(abs string) string {
	name := filepath.Base(abs)
	if name == string(filepath.Separator) || name == "." || name == ".." {
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			name = filepath.Base(r)
		}
	}
	if name == string(filepath.Separator) {
		return ""
	}
	return name
}

// task is one file being hashed.
type task struct {
	entry   walkEntry
	digests [][]byte    // one per shard, or one for the whole file
	cvs     [][8]uint32 // BLAKE3 piece chaining values, when split
	cached  bool
	pending atomic.Int32 // units not yet done
}

type unitKind uint8

const (
	wholeFile  unitKind = iota // the file, with a hash.Hash or BLAKE3
	shard                      // digests[idx] = hash of [off, off+n)
	blake3Part                 // cvs[idx] = BLAKE3 subtree of [off, off+n)
)

// unit is one piece of work for a worker.
type unit struct {
	t    *task
	kind unitKind
	idx  int
	off  int64
	n    int64
}

// plan appends the units that hash t.
func (t *task) plan(units []unit, s Serialization) []unit {
	size := t.entry.stat.size
	switch {
	case s.Method == Shards:
		if size == 0 {
			return units // no resource at all
		}
		count := int((size + s.ShardSize - 1) / s.ShardSize)
		t.digests = make([][]byte, count)
		t.pending.Store(int32(count))
		for i := range count {
			off := int64(i) * s.ShardSize
			units = append(units, unit{t: t, kind: shard, idx: i, off: off, n: min(s.ShardSize, size-off)})
		}
	case s.HashType == BLAKE3 && size > blake3PieceSize:
		count := int((size + blake3PieceSize - 1) / blake3PieceSize)
		t.cvs = make([][8]uint32, count)
		t.pending.Store(int32(count))
		for i := range count {
			off := int64(i) * blake3PieceSize
			units = append(units, unit{t: t, kind: blake3Part, idx: i, off: off, n: min(blake3PieceSize, size-off)})
		}
	default:
		t.digests = make([][]byte, 1)
		t.pending.Store(1)
		units = append(units, unit{t: t, kind: wholeFile, n: size})
	}
	return units
}

// resources appends t's resources.
func (t *task) resources(rs []Resource, s Serialization) []Resource {
	alg := s.Algorithm()
	if s.Method == Shards {
		for i, d := range t.digests {
			start := int64(i) * s.ShardSize
			end := min(start+s.ShardSize, t.entry.stat.size)
			rs = append(rs, Resource{Name: shardName(t.entry.rel, start, end), Algorithm: alg, Digest: d})
		}
		return rs
	}
	return append(rs, Resource{Name: t.entry.rel, Algorithm: alg, Digest: t.digests[0]})
}

func sumUnits(us []unit) int64 {
	var n int64
	for _, u := range us {
		n += u.n
	}
	return n
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// run hashes units on cfg.Workers goroutines.
func run(ctx context.Context, units []unit, cfg Config, s Serialization, done *atomic.Int64, total int64) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(units)))

	stopProgress := startProgress(cfg.Progress, done, total)
	defer stopProgress()

	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := newWorker(s.HashType, done)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(units)) || ctx.Err() != nil {
					return
				}
				if err := w.do(ctx, units[i]); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func startProgress(fn func(done, total int64), done *atomic.Int64, total int64) (stop func()) {
	if fn == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				fn(done.Load(), total)
				return
			case <-tick.C:
				fn(done.Load(), total)
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// worker hashes units with its own buffer and hash state.
type worker struct {
	buf  []byte
	h    hash.Hash // SHA-256 or BLAKE2b; nil for BLAKE3
	b3   *b3state
	done *atomic.Int64
}

func newWorker(h Hash, done *atomic.Int64) *worker {
	w := &worker{done: done}
	switch h {
	case SHA256:
		w.h = sha256.New()
	case BLAKE2b:
		w.h, _ = blake2b.New512(nil)
	case BLAKE3:
		w.b3 = new(b3state)
	}
	return w
}

func (w *worker) do(ctx context.Context, u unit) error {
	t := u.t
	if err := w.hash(ctx, u); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return &PathError{t.entry.rel, err}
	}
	if t.pending.Add(-1) != 0 {
		return nil
	}
	// The last unit of a file: merge pieces, and check that the path still
	// names the file that was hashed (a rename over it changes the inode).
	if t.cvs != nil {
		t.digests = [][]byte{blake3Root(blake3Merge(t.cvs))}
	}
	fi, err := os.Stat(t.entry.path)
	if err != nil {
		return &PathError{t.entry.rel, fmt.Errorf("%w: %v", ErrChanged, unwrapPathErr(err))}
	}
	if statOf(fi) != t.entry.stat {
		return &PathError{t.entry.rel, ErrChanged}
	}
	return nil
}

// hash hashes one unit, checking the file against the walk's stat before
// and after reading.
func (w *worker) hash(ctx context.Context, u unit) (err error) {
	f, err := os.Open(u.t.entry.path)
	if err != nil {
		return unwrapPathErr(err)
	}
	defer f.Close()
	if err := w.check(f, u.t.entry.stat); err != nil {
		return err
	}
	if w.b3 != nil {
		*w.b3 = b3state{c0: uint64(u.off / guts.ChunkSize)}
		if err := w.stream(ctx, f, u, w.b3.write); err != nil {
			return err
		}
		if u.kind == blake3Part {
			u.t.cvs[u.idx] = guts.ChainingValue(w.b3.node())
		} else {
			u.t.digests[u.idx] = blake3Root(w.b3.node())
		}
	} else {
		w.h.Reset()
		if err := w.stream(ctx, f, u, func(p []byte, _ bool) { w.h.Write(p) }); err != nil {
			return err
		}
		u.t.digests[u.idx] = w.h.Sum(nil)
	}
	return w.check(f, u.t.entry.stat)
}

// mapWindow is how much of a file a worker maps at a time, and readSize
// how much it hashes between progress reports and cancellation checks.
const mapWindow = 16 << 20

// useMmap can be turned off by tests to cover the read path.
var useMmap = true

// stream feeds the unit's bytes to consume in slices of readSize (a
// multiple of b3Block), the last one with final set. It hashes from a
// memory mapping where it can and reads into the worker's buffer where it
// cannot, so memory stays bounded by one window per worker either way.
func (w *worker) stream(ctx context.Context, f *os.File, u unit, consume func(p []byte, final bool)) (err error) {
	if u.n == 0 {
		consume(nil, true)
		return nil
	}
	// A file truncated under a mapping faults on access; make that an
	// error of this file rather than a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// A memory fault panics with a runtime.Error that has Addr.
			if _, ok := r.(interface{ Addr() uintptr }); ok {
				err = ErrChanged
				return
			}
			panic(r)
		}
	}()
	feed := func(p []byte, endOfUnit bool) error {
		for len(p) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(len(p), readSize)
			consume(p[:k], endOfUnit && k == len(p))
			p = p[k:]
			w.done.Add(int64(k))
			if testHookRead != nil {
				testHookRead(u.t.entry.rel)
			}
		}
		return nil
	}
	end := u.off + u.n
	for off := u.off; off < end; {
		k := min(int64(mapWindow), end-off)
		if data, unmap, err := mapRange(f, off, k); useMmap && err == nil {
			err := feed(data, off+k == end)
			unmap()
			if err != nil {
				return err
			}
		} else {
			if err == nil {
				unmap()
			}
			if w.buf == nil {
				w.buf = make([]byte, readSize)
			}
			for i := int64(0); i < k; {
				m := int(min(int64(readSize), k-i))
				if _, err := io.ReadFull(io.NewSectionReader(f, off+i, int64(m)), w.buf[:m]); err != nil {
					return readErr(err)
				}
				if err := feed(w.buf[:m], off+i+int64(m) == end); err != nil {
					return err
				}
				i += int64(m)
			}
		}
		off += k
	}
	return nil
}

func (w *worker) check(f *os.File, want fileStat) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if statOf(fi) != want {
		return ErrChanged
	}
	return nil
}

// readErr maps a short read (the file shrank) to ErrChanged.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrChanged
	}
	return err
}
