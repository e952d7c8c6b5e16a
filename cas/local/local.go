// Package local is the embedded cas.Store: blobs are files in a directory,
// named by CID.
//
// Layout: DIR/blobs/XY/CID, where XY are the two characters before the last
// one of the base32 CIDv1 (as IPFS's flatfs shards), and DIR/tmp holds
// uploads in progress. A Put streams into a temporary file while it
// computes the CID, fsyncs it, and renames it into place, then fsyncs the
// directory: a blob is either absent or complete, and an interrupted Put
// leaves only a temporary file, which is removed when the Put returns or,
// after a crash, by the next New a day later. Blobs are read-only files.
// Reads are verified against the CID (see cas.VerifyReader).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/vai-dev/vai/cas"
)

// staleTemp is how old an upload's temporary file must be before New
// deletes it as left behind by a crash.
const staleTemp = 24 * time.Hour

// Store keeps blobs in a directory.
type Store struct {
	dir string
}

var _ cas.Store = (*Store)(nil)

// New opens the store in dir, creating it if needed.
func New(dir string) (*Store, error) {
	s := &Store{dir: dir}
	for _, d := range []string{s.blobDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("failed to open blob store: %w", err)
		}
	}
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("failed to open blob store: %w", err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
			os.Remove(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
	return s, nil
}

func (s *Store) blobDir() string { return filepath.Join(s.dir, "blobs") }
func (s *Store) tmpDir() string  { return filepath.Join(s.dir, "tmp") }

func (s *Store) path(c cid.Cid) string {
	k := c.String()
	return filepath.Join(s.blobDir(), k[len(k)-3:len(k)-1], k)
}

// Put implements cas.Store.
func (s *Store) Put(ctx context.Context, r io.Reader) (c cid.Cid, err error) {
	f, err := os.CreateTemp(s.tmpDir(), "put-*")
	if err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := cas.NewHasher()
	if _, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r}); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	c = h.CID()
	dst := s.path(c)
	if _, err := os.Stat(dst); err == nil {
		return c, nil // already stored; the deferred cleanup drops the copy
	}
	if err := f.Chmod(0o444); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	if err := f.Sync(); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	committed = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob: %w", err)
	}
	return c, nil
}

// Get implements cas.Store.
func (s *Store) Get(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	c, err := cas.Normalize(c)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", cas.ErrNotFound, c)
	}
	if err != nil {
		return nil, err
	}
	return readCloser{cas.VerifyReader(f, c), f}, nil
}

// Has implements cas.Store.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	_, err := s.Stat(ctx, c)
	if errors.Is(err, cas.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Stat implements cas.Store.
func (s *Store) Stat(ctx context.Context, c cid.Cid) (cas.Info, error) {
	c, err := cas.Normalize(c)
	if err != nil {
		return cas.Info{}, err
	}
	fi, err := os.Stat(s.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return cas.Info{}, fmt.Errorf("%w: %s", cas.ErrNotFound, c)
	}
	if err != nil {
		return cas.Info{}, err
	}
	return cas.Info{CID: c, Size: fi.Size()}, nil
}

// List returns the CIDs of the stored blobs, in no particular order.
func (s *Store) List(ctx context.Context) iter.Seq2[cid.Cid, error] {
	return func(yield func(cid.Cid, error) bool) {
		shards, err := os.ReadDir(s.blobDir())
		if err != nil {
			yield(cid.Undef, err)
			return
		}
		for _, sh := range shards {
			ents, err := os.ReadDir(filepath.Join(s.blobDir(), sh.Name()))
			if err != nil {
				if !yield(cid.Undef, err) {
					return
				}
				continue
			}
			for _, e := range ents {
				if err := ctx.Err(); err != nil {
					yield(cid.Undef, err)
					return
				}
				c, err := cid.Decode(e.Name())
				if err != nil || strings.HasPrefix(e.Name(), ".") {
					continue // not a blob
				}
				if !yield(c, nil) {
					return
				}
			}
		}
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
