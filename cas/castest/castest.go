// Package castest is the test suite every cas.Store backend must pass.
package castest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/vai-dev/vai/cas"
)

// Run runs the suite against stores made by newStore. Each subtest gets a
// fresh store when newStore makes one per call.
func Run(t *testing.T, newStore func(t *testing.T) cas.Store) {
	ctx := context.Background()
	sizes := []int{0, 1, 1000, cas.ChunkSize, cas.ChunkSize + 1, 3*cas.ChunkSize + 12345}

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, n := range sizes {
			data := Random(n, uint64(n))
			c, err := s.Put(ctx, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Put(%d bytes): %v", n, err)
			}
			want, _, _ := cas.Sum(bytes.NewReader(data))
			if !c.Equals(want) {
				t.Errorf("Put(%d bytes) = %s, want cas.Sum's %s", n, c, want)
			}
			if got := mustGet(t, s, c); !bytes.Equal(got, data) {
				t.Errorf("Get(%s) returned %d bytes that differ from the %d put", c, len(got), n)
			}
			info, err := s.Stat(ctx, c)
			if err != nil || info.Size != int64(n) || !info.CID.Equals(c) {
				t.Errorf("Stat(%s) = %+v, %v; want size %d", c, info, err, n)
			}
			if ok, err := s.Has(ctx, c); !ok || err != nil {
				t.Errorf("Has(%s) = %v, %v; want true", c, ok, err)
			}
		}
	})

	t.Run("PutTwice", func(t *testing.T) {
		s := newStore(t)
		data := Random(cas.ChunkSize*2, 7)
		c1, err1 := s.Put(ctx, bytes.NewReader(data))
		c2, err2 := s.Put(ctx, bytes.NewReader(data))
		if err1 != nil || err2 != nil || !c1.Equals(c2) {
			t.Fatalf("Put twice = %s, %v and %s, %v; want the same CID", c1, err1, c2, err2)
		}
		if got := mustGet(t, s, c1); !bytes.Equal(got, data) {
			t.Error("content differs after a second Put")
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		c, _, _ := cas.Sum(bytes.NewReader([]byte("never stored")))
		if _, err := s.Get(ctx, c); !errors.Is(err, cas.ErrNotFound) {
			t.Errorf("Get(missing) error = %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, c); !errors.Is(err, cas.ErrNotFound) {
			t.Errorf("Stat(missing) error = %v, want ErrNotFound", err)
		}
		if ok, err := s.Has(ctx, c); ok || err != nil {
			t.Errorf("Has(missing) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("UnsupportedCID", func(t *testing.T) {
		s := newStore(t)
		c := cid.MustParse("bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua") // dag-cbor
		if _, err := s.Get(ctx, c); !errors.Is(err, cas.ErrUnsupportedCID) {
			t.Errorf("Get(dag-cbor CID) error = %v, want ErrUnsupportedCID", err)
		}
		if _, err := s.Stat(ctx, c); !errors.Is(err, cas.ErrUnsupportedCID) {
			t.Errorf("Stat(dag-cbor CID) error = %v, want ErrUnsupportedCID", err)
		}
	})

	t.Run("FailedPutStoresNothing", func(t *testing.T) {
		s := newStore(t)
		data := Random(cas.ChunkSize+100, 9)
		r := io.MultiReader(bytes.NewReader(data), errReader{})
		if _, err := s.Put(ctx, r); err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		c, _, _ := cas.Sum(bytes.NewReader(data))
		if ok, _ := s.Has(ctx, c); ok {
			t.Error("a failed Put left the partial blob behind")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cctx, bytes.NewReader(data)); err == nil {
			t.Error("Put with a cancelled context succeeded")
		}
		if ok, _ := s.Has(ctx, c); ok {
			t.Error("a cancelled Put stored the blob")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		cids := make([]cid.Cid, 8)
		errs := make([]error, 8)
		for i := range cids {
			wg.Go(func() {
				// Two writers per content: same-content races must be safe.
				cids[i], errs[i] = s.Put(ctx, bytes.NewReader(Random(cas.ChunkSize+i/2, uint64(i/2))))
			})
		}
		wg.Wait()
		for i := range cids {
			if errs[i] != nil {
				t.Fatalf("Put %d: %v", i, errs[i])
			}
			if got := mustGet(t, s, cids[i]); !bytes.Equal(got, Random(cas.ChunkSize+i/2, uint64(i/2))) {
				t.Errorf("blob %d differs after concurrent Puts", i)
			}
		}
	})
}

func mustGet(t *testing.T, s cas.Store, c cid.Cid) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), c)
	if err != nil {
		t.Fatalf("Get(%s): %v", c, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", c, err)
	}
	return b
}

// Random returns n pseudo-random bytes determined by seed.
func Random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("upload interrupted") }
