// Command vaibench measures the deterministic runtime's throughput on a
// .vaim model: samples per second at the given batch sizes, running each for
// a fixed time after a warm-up, as JSON lines. bench/runtime/bench.py runs it
// beside PyTorch.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	vairt "github.com/vai-dev/vai/runtime"
)

func main() {
	model := flag.String("model", "", ".vaim model")
	batches := flag.String("batch", "1,256", "comma-separated batch sizes")
	dur := flag.Duration("time", 2*time.Second, "measuring time per batch size")
	workers := flag.Int("workers", 0, "executor workers (0: GOMAXPROCS)")
	flag.Parse()
	if err := run(*model, *batches, *dur, *workers); err != nil {
		fmt.Fprintf(os.Stderr, "vaibench: error: %v\n", err)
		os.Exit(1)
	}
}

func run(path, batches string, dur time.Duration, workers int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m, err := vairt.Decode(b)
	if err != nil {
		return err
	}
	e, err := vairt.NewExecutor(m, vairt.ExecConfig{Workers: workers})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, f := range strings.Split(batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad batch size %q", f)
		}
		in := make([]int8, n*m.Input.Size())
		for i := range in {
			in[i] = int8(r.IntN(128))
		}
		out := make([]int8, n*m.OutputShape().Size())
		measure := func(d time.Duration) (int, time.Duration, error) {
			start := time.Now()
			runs := 0
			for time.Since(start) < d {
				if err := e.RunInto(out, in, n); err != nil {
					return 0, 0, err
				}
				runs++
			}
			return runs, time.Since(start), nil
		}
		if _, _, err := measure(dur / 4); err != nil { // warm-up
			return err
		}
		runs, el, err := measure(dur)
		if err != nil {
			return err
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"model": path, "batch": n, "runs": runs, "seconds": el.Seconds(),
			"samples_per_s": float64(runs*n) / el.Seconds(), "gomaxprocs": goruntime.GOMAXPROCS(0),
		})
	}
	return nil
}
