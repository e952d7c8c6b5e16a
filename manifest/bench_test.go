package manifest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vai-dev/vai/manifest"
)

// benchModel writes a model of one 64 MiB file and 256 files of 64 KiB.
func benchModel(b *testing.B) (string, int64) {
	dir := b.TempDir()
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), big, 0o644); err != nil {
		b.Fatal(err)
	}
	for i := range 256 {
		p := filepath.Join(dir, "data", fmt.Sprintf("%03d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, big[i:i+64<<10], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, 64<<20 + 256*64<<10
}

func BenchmarkBuild(b *testing.B) {
	dir, size := benchModel(b)
	for _, cfg := range []struct {
		name string
		cfg  manifest.Config
	}{
		{"sha256", manifest.Config{}},
		{"blake3", manifest.Config{Hash: manifest.BLAKE3}},
		{"blake2b", manifest.Config{Hash: manifest.BLAKE2b}},
		{"sha256-shards-16MiB", manifest.Config{ShardSize: 16 << 20}},
	} {
		b.Run(cfg.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if _, err := manifest.Build(context.Background(), dir, cfg.cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("cached", func(b *testing.B) {
		defer manifest.SetRacyWindow(0)()
		cfg := manifest.Config{CacheDir: b.TempDir()}
		manifest.Build(context.Background(), dir, cfg)
		for b.Loop() {
			if res, err := manifest.Build(context.Background(), dir, cfg); err != nil || res.HashedBytes != 0 {
				b.Fatal(err, res.HashedBytes)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := vectorJSON(b, "files-sort")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := manifest.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIdentity(b *testing.B) {
	m := manifestOf(10000)
	for b.Loop() {
		m.Identity()
	}
}

func BenchmarkTreeProve(b *testing.B) {
	m := manifestOf(10000)
	for b.Loop() {
		m.Tree().Prove(4321, m.Resources[4321])
	}
}
