package b3simd

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"lukechampine.com/blake3/guts"
)

func randBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestSubtree checks the kernel against guts at every subtree size from
// one chunk to 4 MiB, at counters that cross 2^32 chunks.
func TestSubtree(t *testing.T) {
	if !haveKernel {
		t.Log("no AVX-512 kernel on this machine: checking the generic path only")
	}
	data := randBytes(4<<20, 7)
	var h Hasher
	for n := 1; n*ChunkSize <= len(data); n *= 2 {
		for _, counter := range []uint64{0, uint64(n), 1<<32 - uint64(n), 1 << 32, 3 << 40} {
			in := data[len(data)-n*ChunkSize:]
			got := h.Subtree(in, counter)
			want := subtreeGeneric(in, counter)
			if got != want {
				t.Errorf("%d chunks at %d: got %x, want %x", n, counter, got, want)
			}
		}
	}
}

// TestSubtreeSum checks whole inputs against the one-shot hash: a 2^k-chunk
// input's root is the parent of its two halves with the root flag.
func TestSubtreeSum(t *testing.T) {
	data := randBytes(1<<20, 9)
	var h Hasher
	for n := 2; n*ChunkSize <= len(data); n *= 2 {
		in := data[:n*ChunkSize]
		l := h.Subtree(in[:len(in)/2], 0)
		r := h.Subtree(in[len(in)/2:], uint64(n/2))
		node := guts.ParentNode(l, r, &guts.IV, guts.FlagRoot)
		got := guts.WordsToBytes(guts.CompressNode(node))
		want := sum256(in)
		if [32]byte(got[:32]) != want {
			t.Errorf("%d chunks: got %x, want %x", n, got[:32], want)
		}
	}
}

func TestSubtreePanics(t *testing.T) {
	for _, n := range []int{0, 1, ChunkSize + 1, 3 * ChunkSize} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("length %d: no panic", n)
				}
			}()
			new(Hasher).Subtree(make([]byte, n), 0)
		}()
	}
}

func BenchmarkSubtree(b *testing.B) {
	data := randBytes(1<<30, 3)
	for _, size := range []int{16 << 10, 1 << 20, 16 << 20} {
		b.Run(byteSize(size), func(b *testing.B) {
			var h Hasher
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for off := 0; off < len(data); off += size {
					h.Subtree(data[off:off+size], uint64(off/ChunkSize))
				}
			}
		})
	}
	b.Run("guts", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for off := 0; off < len(data); off += 1 << 20 {
				subtreeGeneric(data[off:off+1<<20], uint64(off/ChunkSize))
			}
		}
	})
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB"
	}
	return itoa(n>>10) + "KiB"
}

func itoa(n int) string {
	s := ""
	for ; n > 0 || s == ""; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

// TestGenerated checks that the committed kernel is what gen.go writes, so
// that a change to one without the other cannot land.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out := filepath.Join(t.TempDir(), "hash16_amd64.s")
	cmd := exec.Command("go", "run", "gen.go", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("hash16_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("hash16_amd64.s differs from what gen.go writes: run go generate")
	}
}

// BenchmarkSubtreeCached hashes one 1 MiB subtree over and over: the
// kernel's speed with its input in the CPU's caches, against guts.
func BenchmarkSubtreeCached(b *testing.B) {
	data := randBytes(1<<20, 3)
	b.Run("b3simd", func(b *testing.B) {
		var h Hasher
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			h.Subtree(data, 0)
		}
	})
	b.Run("guts", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			subtreeGeneric(data, 0)
		}
	})
}
