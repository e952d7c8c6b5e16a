package manifest

import (
	"bytes"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"lukechampine.com/blake3"
)

// TestBlake3Pieces checks the piecewise BLAKE3 against the library's
// one-shot hash at sizes around chunk, block, piece and read boundaries.
func TestBlake3Pieces(t *testing.T) {
	old := blake3PieceSize
	blake3PieceSize = 4 * b3Block // 64 KiB pieces: many pieces on small inputs
	t.Cleanup(func() { blake3PieceSize = old })

	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, mapWindow+3*readSize+5*b3Block+777)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	sizes := []int{0, 1, 64, 1023, 1024, 1025, 2048, b3Block - 1, b3Block, b3Block + 1,
		4*b3Block - 1, 4 * b3Block, 4*b3Block + 1, 5 * b3Block, 9*b3Block + 100,
		16*b3Block + 1, readSize - 1, readSize, readSize + 1, 2*readSize + b3Block,
		mapWindow - 1, mapWindow, mapWindow + 1, len(data)}
	dir := t.TempDir()
	for _, n := range sizes {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mmap := range []bool{true, false} {
			useMmap = mmap
			for _, workers := range []int{1, 3} {
				res, err := Build(context.Background(), p, Config{Hash: BLAKE3, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				want := blake3.Sum256(data[:n])
				if got := res.Manifest.Resources[0].Digest; !bytes.Equal(got, want[:]) {
					t.Errorf("size %d, %d workers, mmap %v: got %s, want %s", n, workers, mmap, hex.EncodeToString(got), hex.EncodeToString(want[:]))
				}
			}
		}
		useMmap = true
	}
}
