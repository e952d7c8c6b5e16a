// Command tlog measures vai's verifiable logs (issue 4):
//
//   - append throughput with batching (256 B and 4 KiB entries) through
//     tlog.Log, and through tessera's POSIX driver used directly with the
//     same options, with the ratio of the two;
//   - inclusion-proof generation rate (tessera's ProofBuilder over the log);
//   - the time from append to inclusion in a checkpoint the chain witnessed,
//     p50 and p99, on an in-process single-validator devnet.
//
// Usage: go run ./bench/tlog [-n 100000] [-workers 1024] [-latency 10s]
package main

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	tclient "github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/logs"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/tlog"
	"github.com/vai-dev/vai/wire"
)

var (
	nEntries = flag.Int("n", 100_000, "entries per throughput run (256 B; a quarter of that for 4 KiB)")
	workers  = flag.Int("workers", 4096, "concurrent appenders")
	latDur   = flag.Duration("latency", 10*time.Second, "length of the append-to-witnessed run")
	latRate  = flag.Int("rate", 200, "appends per second during the latency run")
	quick    = flag.Bool("quick", false, "a short run (CI)")
)

var opts = tlog.Options{BatchMaxSize: 4096, BatchMaxAge: 50 * time.Millisecond, CheckpointInterval: 250 * time.Millisecond}

func main() {
	flag.Parse()
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
	if *quick {
		*nEntries, *latDur = 20_000, 3*time.Second
	}
	work, err := os.MkdirTemp("", "vai-bench-tlog-")
	check(err)
	defer os.RemoveAll(work)
	fmt.Printf("machine: %d CPUs (%s), %s/%s, %s\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("batching: up to %d entries or %v; checkpoints every %v; %d concurrent appenders\n\n", opts.BatchMaxSize, opts.BatchMaxAge, opts.CheckpointInterval, *workers)
	var lastLog *tlog.Log
	for _, size := range []int{256, 4096} {
		n := *nEntries
		if size == 4096 {
			n /= 4
		}
		direct := appendRun(n, size, directAppender(filepath.Join(work, fmt.Sprintf("direct-%d", size))))
		l, err := tlog.CreateLog(filepath.Join(work, fmt.Sprintf("vai-%d", size)), "bench", "bench/logs/bench", tlog.PurposeCustom, opts)
		check(err)
		vai := appendRun(n, size, func(ctx context.Context, b []byte) error { _, err := l.Append(ctx, b); return err })
		fmt.Printf("append %4d B: vai %8.0f/s   tessera POSIX direct %8.0f/s   ratio %.2f   (%d entries)\n", size, vai, direct, vai/direct, n)
		if size == 256 {
			lastLog = l
		} else {
			check(l.Close(context.Background()))
		}
	}
	proofRate(lastLog)
	check(lastLog.Close(context.Background()))
	latency(work)
}

// appendRun appends n entries of size bytes from *workers goroutines and
// returns appends per second.
func appendRun(n, size int, add func(context.Context, []byte) error) float64 {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, size)
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				copy(b, fmt.Sprintf("entry %d ", i))
				check(add(ctx, b))
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// directAppender is tessera's POSIX driver with vai's options and nothing else.
func directAppender(dir string) func(context.Context, []byte) error {
	ctx := context.Background()
	skey, _, err := note.GenerateKey(crand.Reader, "bench/direct")
	check(err)
	s, err := note.NewSigner(skey)
	check(err)
	d, err := posix.New(ctx, posix.Config{Path: dir})
	check(err)
	a, _, _, err := tessera.NewAppender(ctx, d, tessera.NewAppendOptions().WithCheckpointSigner(s).
		WithBatching(opts.BatchMaxSize, opts.BatchMaxAge).WithCheckpointInterval(opts.CheckpointInterval))
	check(err)
	return func(ctx context.Context, b []byte) error {
		_, err := a.Add(ctx, tessera.NewEntry(b))()
		return err
	}
}

func proofRate(l *tlog.Log) {
	ctx := context.Background()
	raw, err := l.Await(ctx, uint64(*nEntries-1))
	check(err)
	cp, err := tlog.ParseCheckpoint(raw, l.Info().Origin, l.Verifier())
	check(err)
	const n = 20_000
	start := time.Now()
	for i := range n {
		pb, err := tclient.NewProofBuilder(ctx, cp.Size, l.Reader().ReadTile)
		check(err)
		if _, err := pb.InclusionProof(ctx, uint64(rand.N(cp.Size))); err != nil {
			check(fmt.Errorf("proof %d: %w", i, err))
		}
	}
	fmt.Printf("inclusion proofs: %.0f/s (tree of %d entries, tiles read from disk, a new ProofBuilder each)\n", n/time.Since(start).Seconds(), cp.Size)
}

// latency runs a devnet in process, appends at a steady rate and records,
// for each entry, when the chain first witnessed a checkpoint covering it.
func latency(work string) {
	ctx := context.Background()
	home := filepath.Join(work, "devnet")
	base, err := freeport.Base(10)
	check(err)
	seed := sha256.Sum256([]byte("vai-bench-tlog-dev"))
	dev := ed25519.NewKeyFromSeed(seed[:])
	_, err = node.Devnet(home, node.TestnetPorts(base, 0), func(string) (wire.Address, error) {
		return wire.AddressFromPubKey(dev.Public().(ed25519.PublicKey)), nil
	})
	check(err)
	n, err := node.New(node.Options{Home: home, NoMetrics: true, LogOutput: io.Discard})
	check(err)
	check(n.Start())
	defer n.Stop()
	for {
		st, err := n.Client.Status(ctx)
		if err == nil && st.LatestBlockHeight > 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	l, err := n.Logs.Create("lat", tlog.PurposeCustom)
	check(err)
	reg, _ := wire.NewMsg("logs/register", logs.MsgRegister{Name: "lat", Origin: l.Info().Origin, OperatorKey: l.Info().OperatorKey, Purpose: tlog.PurposeCustom})
	fund, _ := wire.NewMsg("bank/send", bank.MsgSend{To: wire.AddressFromPubKey(l.PublisherKey().Public().(ed25519.PublicKey)), Amount: wire.UVAI(100_000_000)})
	_, err = n.Client.Send(ctx, dev, client.TxOptions{Wait: true}, reg, fund)
	check(err)

	var mu sync.Mutex
	appended := map[uint64]time.Time{}
	var lat []time.Duration
	done := make(chan struct{})
	go func() { // watch the chain
		var seen uint64
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var r logs.LogResponse
			if _, err := n.Client.Query(ctx, "/logs/log", map[string]string{"name": "lat"}, &r, 0); err != nil || r.Witnessed == nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			for i := seen; i < r.Witnessed.Size; i++ {
				if t, ok := appended[i]; ok {
					lat = append(lat, now.Sub(t))
					delete(appended, i)
				}
			}
			seen = max(seen, r.Witnessed.Size)
			mu.Unlock()
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(*latRate))
	end := time.Now().Add(*latDur)
	var wg sync.WaitGroup
	total := 0
	for time.Now().Before(end) {
		<-tick.C
		total++
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t := time.Now()
			idx, err := l.Append(ctx, []byte(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", 200))))
			check(err)
			mu.Lock()
			appended[idx] = t
			mu.Unlock()
		}(total)
	}
	tick.Stop()
	wg.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(appended)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(done)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		check(fmt.Errorf("no entry was witnessed"))
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("append -> witnessed on chain: p50 %v  p99 %v  max %v  (%d of %d entries at %d/s; %d never witnessed)\n",
		pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat), total, *latRate, len(appended))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/tlog:", err)
		os.Exit(1)
	}
}
