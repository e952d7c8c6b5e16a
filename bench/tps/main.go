// Command tps measures committed transactions per second through the RPC:
// vai with signed transfers on 1 and 4 validators, and, in the same run
// with the same load generator and the same node configuration, CometBFT's
// own kvstore example application. It prints tx/s, the vai/kvstore ratio,
// submit-to-commit latency (p50/p99) under a paced load, peak memory and
// disk per million transactions.
//
//	go run ./bench/tps                 # full run (~3 minutes on 2 cores)
//	go run ./bench/tps -quick          # the short version CI runs
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/wire"
)

var (
	quick      = flag.Bool("quick", false, "short run for CI: few transactions, 1 validator")
	nTxs       = flag.Int("txs", 40000, "transactions per throughput run")
	validators = flag.String("validators", "1,4", "validator counts to run vai with")
	kvstore    = flag.Bool("kvstore", true, "also run CometBFT's kvstore with the same load")
	workers    = flag.Int("workers", 256, "concurrent RPC clients")
	paceRate   = flag.Int("latency-rate", 500, "tx/s of the paced run that measures latency")
	paceSecs   = flag.Int("latency-secs", 8, "seconds of the paced run")
	keep       = flag.Bool("keep", false, "keep the node homes")
	kvPad      = flag.Int("kvstore-pad", 0, "pad kvstore transactions by this many bytes (to compare at equal size)")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of vai's first node during the burst to this file")
	allocProf  = flag.String("allocprofile", "", "write the allocations of vai's first node, from its start to the end of the burst, to this file")
	profSecs   = flag.Int("profile-seconds", 8, "length of the CPU profile")
	trace      = flag.Bool("trace", false, "print each block of the burst: height, transactions, commit round")
	reps       = flag.Int("reps", 1, "repeat every run this many times, in turn, and add medians (for noisy machines)")
)

type result struct {
	name       string
	validators int
	rep        int
	txs        int
	committed  int
	seconds    float64
	tps        float64
	p50, p99   time.Duration
	rssMB      float64
	diskPerM   float64 // MB per million committed txs
	// CPU time per committed transaction in the burst, of the nodes (all of
	// them) and of this load generator: a measure contention cannot skew.
	nodeCPU, clientCPU time.Duration
}

// started are the node processes, killed if the benchmark dies.
var (
	startedMu sync.Mutex
	started   []*exec.Cmd
)

// fatal stops every node this run started and exits.
func fatal(format string, args ...any) {
	startedMu.Lock()
	for _, p := range started {
		p.Process.Kill()
	}
	startedMu.Unlock()
	log.Fatalf(format, args...)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *quick {
		*nTxs, *validators, *paceSecs = 3000, "1", 3
	}
	if *reps < 1 {
		fatal("-reps must be at least 1, not %d", *reps)
	}
	work, err := os.MkdirTemp("", "vai-tps-")
	if err != nil {
		fatal("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	vaiBin := buildBin(work, "vai", "github.com/vai-dev/vai/cmd/vai")
	cmtBin := ""
	if *kvstore {
		cmtBin = buildBin(work, "cometbft", "github.com/cometbft/cometbft/cmd/cometbft")
	}
	fmt.Printf("machine: %d cores, %s; %d txs per run, %d RPC clients\n", runtime.NumCPU(), cpuModel(), *nTxs, *workers)
	// With -reps, the whole set of runs repeats in the same order, so each
	// rep compares vai and kvstore under the same conditions; the summary
	// takes medians of the rows and of each rep's ratios.
	var results []result
	for rep := range *reps {
		for _, vs := range strings.Split(*validators, ",") {
			v, err := strconv.Atoi(vs)
			if err != nil {
				fatal("-validators: %v", err)
			}
			results = append(results, run(work, vaiBin, "vai", v, rep))
			if *kvstore && (v == 1 || v == 4) {
				results = append(results, run(work, cmtBin, "kvstore", v, rep))
				if !*quick {
					// kvstore again with transactions as long as vai's
					// signed transfers: the cost of the protocol alone.
					*kvPad = vaiTxBytes - kvTxBytes
					r := run(work, cmtBin, "kvstore", v, rep)
					r.name = "kvstore=" // same size as vai's
					results = append(results, r)
					*kvPad = 0
				}
			}
		}
	}
	fmt.Println()
	printTable(results)
	if *reps > 1 {
		fmt.Printf("\nmedians of %d reps:\n", *reps)
		printTable(medians(results))
	}
	printRatios(results)
}

func printTable(results []result) {
	fmt.Printf("%-8s %4s %9s %8s %9s %9s %11s %11s %7s %12s\n", "app", "vals", "committed", "tx/s", "p50", "p99", "node µs/tx", "load µs/tx", "RSS MB", "disk MB/Mtx")
	for _, r := range results {
		fmt.Printf("%-8s %4d %9d %8.0f %9s %9s %11.1f %11.1f %7.0f %12.0f\n", r.name, r.validators, r.committed, r.tps,
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond),
			float64(r.nodeCPU.Nanoseconds())/1e3, float64(r.clientCPU.Nanoseconds())/1e3, r.rssMB, r.diskPerM)
	}
}

// medians returns one row per app and validator count, each column the
// median over the reps.
func medians(results []result) []result {
	var out []result
	seen := map[string]bool{}
	for _, r := range results {
		key := fmt.Sprintf("%s/%d", r.name, r.validators)
		if seen[key] {
			continue
		}
		seen[key] = true
		var rows []result
		for _, k := range results {
			if k.name == r.name && k.validators == r.validators {
				rows = append(rows, k)
			}
		}
		m := result{name: r.name, validators: r.validators}
		m.committed = int(median(rows, func(r result) float64 { return float64(r.committed) }))
		m.tps = median(rows, func(r result) float64 { return r.tps })
		m.p50 = time.Duration(median(rows, func(r result) float64 { return float64(r.p50) }))
		m.p99 = time.Duration(median(rows, func(r result) float64 { return float64(r.p99) }))
		m.nodeCPU = time.Duration(median(rows, func(r result) float64 { return float64(r.nodeCPU) }))
		m.clientCPU = time.Duration(median(rows, func(r result) float64 { return float64(r.clientCPU) }))
		m.rssMB = median(rows, func(r result) float64 { return r.rssMB })
		m.diskPerM = median(rows, func(r result) float64 { return r.diskPerM })
		out = append(out, m)
	}
	return out
}

func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// printRatios prints vai/kvstore for each validator count, from the runs
// of the same rep; with several reps, the median and the range.
func printRatios(results []result) {
	type key struct {
		vals int
		kv   string
	}
	ratios := map[key][]float64{}
	var order []key
	for _, r := range results {
		if r.name != "vai" {
			continue
		}
		for _, k := range results {
			if k.validators != r.validators || k.rep != r.rep || (k.name != "kvstore" && k.name != "kvstore=") || k.tps == 0 {
				continue
			}
			kk := key{r.validators, k.name}
			if ratios[kk] == nil {
				order = append(order, kk)
			}
			ratios[kk] = append(ratios[kk], r.tps/k.tps)
		}
	}
	for _, k := range order {
		label := fmt.Sprintf("vai/kvstore, %d validator(s)", k.vals)
		if k.kv == "kvstore=" {
			label = fmt.Sprintf("vai/kvstore with transactions of vai's size (%d bytes), %d validator(s)", vaiTxBytes, k.vals)
		}
		rs := ratios[k]
		if len(rs) == 1 {
			fmt.Printf("%s: %.2f\n", label, rs[0])
			continue
		}
		m := median(rs, func(x float64) float64 { return x })
		fmt.Printf("%s: %.2f (median of %d reps; %.2f–%.2f)\n", label, m, len(rs), slices.Min(rs), slices.Max(rs))
	}
}

func buildBin(dir, name, pkg string) string {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fatal("build %s: %v", pkg, err)
	}
	return out
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

func freeBase(n int) int {
	base, err := freeport.Base(10 * n)
	if err != nil {
		fatal("%v", err)
	}
	return base
}

// keys are the funded senders: each sends at most 48 transactions per run,
// inside the 64-sequence replay window.
func keys(n int) []ed25519.PrivateKey {
	out := make([]ed25519.PrivateKey, n)
	for i := range out {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(i+1))
		copy(seed[8:], "vai-bench-sender")
		out[i] = ed25519.NewKeyFromSeed(seed)
	}
	return out
}

const perSender = 48

// Sizes of the generated transactions, set by run.
var vaiTxBytes, kvTxBytes int

// run starts a network of v validators of app (vai or kvstore), loads it
// and measures it.
func run(work, bin, app string, v, rep int) result {
	dir := filepath.Join(work, fmt.Sprintf("%s-%d-pad%d-rep%d", app, v, *kvPad, rep))
	base := freeBase(v)
	total := *nTxs + *paceRate**paceSecs + 100
	senders := keys((total + perSender - 1) / perSender)
	var bal []bank.GenesisBalance
	for _, k := range senders {
		bal = append(bal, bank.GenesisBalance{Address: wire.AddressFromPubKey(k.Public().(ed25519.PublicKey)), Amount: wire.UVAI(1_000_000_000)})
	}
	if err := node.Testnet(node.TestnetOptions{Out: dir, Validators: v, ChainID: "bench", BasePort: base, Balances: bal}); err != nil {
		fatal("%v", err)
	}
	if (*cpuProfile != "" || *allocProf != "") && app == "vai" {
		c, err := node.LoadCometConfig(node.TestnetHome(dir, 0))
		if err != nil {
			fatal("%v", err)
		}
		c.RPC.PprofListenAddress = fmt.Sprintf("127.0.0.1:%d", base+9)
		cmtcfg.WriteConfigFile(filepath.Join(node.TestnetHome(dir, 0), "config", "config.toml"), c)
	}
	var procs []*exec.Cmd
	var rpcs []string
	for i := range v {
		home := node.TestnetHome(dir, i)
		var cmd *exec.Cmd
		if app == "vai" {
			cmd = exec.Command(bin, "start", "--home", home)
		} else {
			cmd = exec.Command(bin, "node", "--home", home, "--proxy_app", "kvstore", "--log_level", "error")
		}
		logf, _ := os.Create(filepath.Join(home, "node.log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			fatal("%v", err)
		}
		procs = append(procs, cmd)
		startedMu.Lock()
		started = append(started, cmd)
		startedMu.Unlock()
		rpcs = append(rpcs, fmt.Sprintf("http://127.0.0.1:%d", node.TestnetPorts(base, i).RPC))
	}
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
	}()
	for _, r := range rpcs {
		waitReady(r)
	}
	diskBefore := diskUsage(dir)

	// Build every transaction up front: signing is the client's cost.
	txs := make([][]byte, 0, total)
	sink := wire.ModuleAddress("bench-sink")
	for i := range total {
		if app == "kvstore" {
			txs = append(txs, []byte(fmt.Sprintf("bench%08d=%032d%s", i, i, strings.Repeat("x", *kvPad))))
			continue
		}
		k := senders[i/perSender]
		m, _ := wire.NewMsg("bank/send", bank.MsgSend{To: sink, Amount: wire.UVAI(1)})
		env, err := wire.Sign(&wire.Body{ChainID: "bench", Sequence: uint64(i % perSender), Fee: wire.UVAI(1000), Msgs: []wire.Msg{m}}, k)
		if err != nil {
			fatal("%v", err)
		}
		txs = append(txs, env)
	}
	if app == "vai" {
		vaiTxBytes = len(txs[0])
	} else if *kvPad == 0 {
		kvTxBytes = len(txs[0])
	}
	// Interleave senders so each RPC worker spreads over many accounts.
	burst := interleave(txs[:*nTxs], perSender)
	paced := txs[*nTxs:]

	res := result{name: app, validators: v, rep: rep, txs: len(burst)}
	fmt.Printf("%s, %d validator(s): %d txs of %d bytes as fast as %d clients can submit…\n", app, v, len(burst), len(burst[0]), *workers)
	var profDone chan struct{}
	if *cpuProfile != "" && app == "vai" {
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			out, err := exec.Command("curl", "-s", "-o", *cpuProfile, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", base+9, *profSecs)).CombinedOutput()
			if err != nil {
				log.Printf("profile: %v %s", err, out)
			}
		}()
	}
	nodeCPU0, clientCPU0 := procsCPU(procs), selfCPU()
	tp := load(rpcs, burst, 0)
	nodeCPU, clientCPU := procsCPU(procs)-nodeCPU0, selfCPU()-clientCPU0
	if tp.committed > 0 {
		res.nodeCPU, res.clientCPU = nodeCPU/time.Duration(tp.committed), clientCPU/time.Duration(tp.committed)
	}
	// Before failed(): its block_results requests are the benchmark's, not
	// the burst's, and their JSON encoding would be a fifth of the profile.
	if *allocProf != "" && app == "vai" {
		out, err := exec.Command("curl", "-s", "-o", *allocProf, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", base+9)).CombinedOutput()
		if err != nil {
			log.Printf("alloc profile: %v %s", err, out)
		}
	}
	if f := tp.failed(); f > 0 {
		log.Printf("  %d transactions failed in blocks", f)
		tp.committed -= f
	}
	if profDone != nil {
		<-profDone
	}
	res.committed, res.seconds = tp.committed, tp.seconds
	res.tps = float64(tp.committed) / tp.seconds
	fmt.Printf("  %d committed in %.2fs: %.0f tx/s; CPU per tx: nodes %s, load generator %s\n", tp.committed, tp.seconds, res.tps, res.nodeCPU, res.clientCPU)
	fmt.Printf("%s, %d validator(s): latency at %d tx/s for %ds…\n", app, v, *paceRate, *paceSecs)
	lat := load(rpcs, paced, *paceRate)
	res.p50, res.p99 = lat.p50, lat.p99
	fmt.Printf("  p50 %s, p99 %s\n", res.p50, res.p99)
	for _, p := range procs {
		res.rssMB = max(res.rssMB, peakRSS(p.Process.Pid))
	}
	if c := tp.committed + lat.committed; c > 0 {
		res.diskPerM = float64(diskUsage(dir)-diskBefore) / float64(v) / float64(c) * 1e6 / (1 << 20)
	}
	return res
}

func interleave(txs [][]byte, per int) [][]byte {
	n := len(txs) / per
	out := make([][]byte, 0, len(txs))
	for j := range per {
		for i := range n {
			out = append(out, txs[i*per+j])
		}
	}
	return append(out, txs[n*per:]...)
}

func waitReady(rpc string) {
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		fatal("%v", err)
	}
	for range 600 {
		st, err := c.Status(context.Background())
		if err == nil && st.SyncInfo.LatestBlockHeight > 1 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatal("node %s not ready", rpc)
}

type loadResult struct {
	committed int
	seconds   float64
	p50, p99  time.Duration
	heights   []int64
	rpc       string
}

// failed counts the transactions that failed in the loaded blocks. It runs
// after the measurement: encoding results is costly for a node and not
// part of committing.
func (r loadResult) failed() int {
	c, _ := rpchttp.New(r.rpc, "/websocket")
	n := 0
	for _, h := range r.heights {
		for _, tx := range fetchResults(c, h).TxsResults {
			if tx.Code != 0 {
				n++
			}
		}
	}
	return n
}

// load submits txs with broadcast_tx_sync from the workers (round robin over
// the nodes), at rate tx/s if rate > 0, and follows the blocks until every
// admitted transaction is committed.
func load(rpcs []string, txs [][]byte, rate int) loadResult {
	submitted := make([]atomic.Int64, len(txs)) // unix nanos; 0: not admitted
	index := make(map[[32]byte]int, len(txs))
	// The JSON-RPC requests are built before the clock starts, and sent and
	// answered with the standard library: this process shares the two cores
	// with the nodes, so what it spends per transaction is taken from them.
	bodies := make([][]byte, len(txs))
	for i, tx := range txs {
		index[types.Tx(tx).Key()] = i
		bodies[i] = fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"broadcast_tx_sync","params":{"tx":"%s"}}`,
			i, base64.StdEncoding.EncodeToString(tx))
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers, DisableCompression: true}}
	c0, _ := rpchttp.New(rpcs[0], "/websocket")
	st, err := c0.Status(context.Background())
	if err != nil {
		fatal("%v", err)
	}
	startHeight := st.SyncInfo.LatestBlockHeight
	start := time.Now()
	var next atomic.Int64
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := rpcs[w%len(rpcs)]
			for {
				i := int(next.Add(1) - 1)
				if i >= len(txs) {
					return
				}
				if rate > 0 {
					due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(due))
				}
				t := time.Now().UnixNano()
				if err := broadcast(hc, url, bodies[i]); err != nil {
					if rejected.Add(1) <= 3 {
						log.Printf("  rejected: %v", err)
					}
					continue
				}
				submitted[i].Store(t)
				admitted.Add(1)
			}
		}()
	}
	// Follow the chain: each new block's transactions are committed now.
	// The burst only counts them (block metas); the paced run reads each
	// block to time every transaction.
	var lat []time.Duration
	var heights []int64
	committed := 0
	var lastCommit time.Time
	h := startHeight
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	sending := true
	idle := time.Now()
	for {
		if sending {
			select {
			case <-done:
				sending = false
			default:
			}
		}
		if !sending && int64(committed) >= admitted.Load() {
			break
		}
		if time.Since(idle) > 30*time.Second {
			log.Printf("  no commits for 30s: %d of %d admitted committed", committed, admitted.Load())
			break
		}
		st, err := c0.Status(context.Background())
		if err != nil || st.SyncInfo.LatestBlockHeight <= h {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		now := time.Now()
		top := st.SyncInfo.LatestBlockHeight
		if rate == 0 {
			for h < top {
				for _, m := range fetchMetas(hc, rpcs[0], h+1, min(top, h+20)) {
					if *trace {
						traceBlock(c0, m, now.Sub(start))
					}
					if m.n > 0 {
						heights = append(heights, m.height)
						committed += m.n
						lastCommit, idle = now, now
					}
					h = max(h, m.height)
				}
			}
			continue
		}
		for h < top {
			h++
			b := fetchBlock(c0, h)
			if len(b.Block.Txs) > 0 {
				heights = append(heights, h)
			}
			for _, tx := range b.Block.Txs {
				i, ok := index[tx.Key()]
				if !ok {
					continue
				}
				committed++
				if t := submitted[i].Load(); t != 0 {
					lat = append(lat, now.Sub(time.Unix(0, t)))
				}
			}
			if len(b.Block.Txs) > 0 {
				lastCommit = now
				idle = now
			}
		}
	}
	r := loadResult{committed: committed, seconds: lastCommit.Sub(start).Seconds(), heights: heights, rpc: rpcs[0]}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

// broadcast posts one prepared broadcast_tx_sync request and reports an
// error unless the node admitted the transaction (code 0).
func broadcast(hc *http.Client, url string, body []byte) error {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Result *struct {
			Code uint32 `json:"code"`
			Log  string `json:"log"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	switch {
	case r.Error != nil:
		return fmt.Errorf("%s: %s", r.Error.Message, r.Error.Data)
	case r.Result == nil:
		return fmt.Errorf("%s: no result", resp.Status)
	case r.Result.Code != 0:
		return fmt.Errorf("code %d: %s", r.Result.Code, r.Result.Log)
	}
	return nil
}

// traceBlock prints a block of the burst; a round above 0 means the first
// rounds at that height failed.
func traceBlock(c *rpchttp.HTTP, m meta, at time.Duration) {
	h := m.height
	cm, err := c.Commit(context.Background(), &h)
	if err != nil {
		log.Printf("  height %d: %d txs at %.2fs (commit: %v)", h, m.n, at.Seconds(), err)
		return
	}
	log.Printf("  height %d: %d txs at %.2fs, round %d, block time %s",
		h, m.n, at.Seconds(), cm.Commit.Round, cm.Header.Time.Format("15:04:05.000"))
}

type meta struct {
	height int64
	n      int
}

// fetchMetas gets the heights and transaction counts of blocks lo..hi
// (at most 20), oldest first, retrying briefly.
func fetchMetas(hc *http.Client, url string, lo, hi int64) []meta {
	var err error
	for range 100 {
		var resp *http.Response
		resp, err = hc.Get(fmt.Sprintf("%s/blockchain?minHeight=%d&maxHeight=%d", url, lo, hi))
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var r struct {
			Result struct {
				BlockMetas []struct {
					Header struct {
						Height string `json:"height"`
					} `json:"header"`
					NumTxs string `json:"num_txs"`
				} `json:"block_metas"`
			} `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || len(r.Result.BlockMetas) == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		out := make([]meta, 0, len(r.Result.BlockMetas))
		for _, m := range r.Result.BlockMetas {
			h, err1 := strconv.ParseInt(m.Header.Height, 10, 64)
			n, err2 := strconv.Atoi(m.NumTxs)
			if err1 != nil || err2 != nil {
				fatal("block meta: %q %q", m.Header.Height, m.NumTxs)
			}
			out = append(out, meta{h, n})
		}
		slices.SortFunc(out, func(a, b meta) int { return int(a.height - b.height) })
		return out
	}
	fatal("blocks %d..%d: %v", lo, hi, err)
	return nil
}

// fetchBlock gets a block, retrying briefly.
func fetchBlock(c *rpchttp.HTTP, h int64) *ctypes.ResultBlock {
	var err error
	for range 100 {
		var b *ctypes.ResultBlock
		if b, err = c.Block(context.Background(), &h); err == nil {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatal("block %d: %v", h, err)
	return nil
}

// fetchResults gets a block's results, retrying briefly: the results of the
// newest block can trail its header by a moment.
func fetchResults(c *rpchttp.HTTP, h int64) *ctypes.ResultBlockResults {
	var err error
	for range 100 {
		var br *ctypes.ResultBlockResults
		if br, err = c.BlockResults(context.Background(), &h); err == nil {
			return br
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatal("results of block %d: %v", h, err)
	return nil
}

// procsCPU is the user+system CPU time the processes have used so far.
func procsCPU(procs []*exec.Cmd) time.Duration {
	var total time.Duration
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces): state is
		// field 3, utime 14 and stime 15.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return total
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is a process's peak resident memory in MB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
