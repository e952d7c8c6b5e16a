// Command gendata writes the benchmark dataset of bench/manifest/run.sh: one
// large file of three quarters of the total size, and the rest as many
// small files (half 1 MiB, half 64 KiB) spread over 64 directories, all of
// pseudo-random bytes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "directory to fill (created)")
	size := flag.Int64("size", 4<<30, "total bytes")
	flag.Parse()
	if *dir == "" {
		log.Fatal("gendata: -dir is required")
	}
	rng := rand.NewChaCha8([32]byte{'v', 'a', 'i'})
	write := func(path string, n int64) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			log.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			log.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		buf := make([]byte, 1<<20)
		for n > 0 {
			k := min(n, int64(len(buf)))
			rng.Read(buf[:k])
			w.Write(buf[:k])
			n -= k
		}
		if err := w.Flush(); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
	large := *size / 4 * 3
	write(filepath.Join(*dir, "model.safetensors"), large)
	rest := *size - large
	files := 0
	for i := 0; rest > 0; i++ {
		n := int64(1 << 20)
		name := fmt.Sprintf("shard-%05d.bin", i)
		if i%2 == 1 {
			n = 64 << 10
			name = fmt.Sprintf("small-%05d.json", i)
		}
		n = min(n, rest)
		write(filepath.Join(*dir, "data", fmt.Sprintf("d%02d", i%64), name), n)
		rest -= n
		files++
	}
	fmt.Printf("%d files: one of %d bytes, %d small\n", files+1, large, files)
}
