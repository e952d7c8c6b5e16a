// Command verify measures `vai verify --prove` of a registered model
// against hashing alone (`vai manifest`), both without the manifest cache
// and with the files in the page cache: the goal is at most 1.2×.
//
//	go run ./bench/verify [-size-mib 1024] [-runs 3]
package main

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vai-dev/vai/internal/freeport"
)

var (
	sizeMiB = flag.Int("size-mib", 1024, "model size in MiB (one large file and 64 small ones)")
	runs    = flag.Int("runs", 3, "timed runs of each command (best is reported)")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	work, err := os.MkdirTemp("", "vai-verify-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "vai")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vai-dev/vai/cmd/vai").CombinedOutput(); err != nil {
		log.Fatalf("build: %v\n%s", err, out)
	}
	model := filepath.Join(work, "model")
	must(os.MkdirAll(model, 0o755))
	big := int64(*sizeMiB)<<20 - 64*64<<10
	writeRandom(filepath.Join(model, "weights.bin"), big)
	for i := range 64 {
		writeRandom(filepath.Join(model, fmt.Sprintf("shard-%02d.bin", i)), 64<<10)
	}
	home := filepath.Join(work, "home")
	base, err := freeport.Base(10)
	must(err)
	up := exec.Command(bin, "up", "--home", home, "--base-port", fmt.Sprint(base))
	up.Stdout, up.Stderr = io.Discard, io.Discard
	must(up.Start())
	defer func() { up.Process.Signal(syscall.SIGTERM); up.Wait() }()
	vai := func(args ...string) string {
		cmd := exec.Command(bin, append(args, "--home", home)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			log.Fatalf("vai %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	for range 100 {
		if exec.Command(bin, "status", "--home", home).Run() == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	out := vai("model", "register", model, "--from", "dev", "--name", "bench", "--license", "MIT", "--wait")
	if !regexp.MustCompile(`(?m)^code +0$`).MatchString(out) {
		log.Fatalf("register: %s", out)
	}
	vai("manifest", model, "--no-cache") // page-cache the files
	best := func(args ...string) time.Duration {
		b := time.Duration(math.MaxInt64)
		for range *runs {
			t := time.Now()
			vai(args...)
			b = min(b, time.Since(t))
		}
		return b
	}
	hashOnly := best("manifest", model, "--no-cache")
	verify := best("verify", model, "--prove", "--no-cache")
	gib := float64(*sizeMiB) / 1024
	fmt.Printf("machine: %d cores, %s\n", runtime.NumCPU(), cpuModel())
	fmt.Printf("model: %.2f GiB (one large file, 64 × 64 KiB), page-cached, SHA-256, no manifest cache; best of %d\n", gib, *runs)
	fmt.Printf("vai manifest (hashing alone)  %8.3fs  %.2f GiB/s\n", hashOnly.Seconds(), gib/hashOnly.Seconds())
	fmt.Printf("vai verify --prove            %8.3fs\n", verify.Seconds())
	fmt.Printf("verify --prove / hashing: %.2f (goal ≤ 1.2)\n", verify.Seconds()/hashOnly.Seconds())
}

func writeRandom(path string, n int64) {
	f, err := os.Create(path)
	must(err)
	defer f.Close()
	_, err = io.CopyN(f, rand.Reader, n)
	must(err)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
