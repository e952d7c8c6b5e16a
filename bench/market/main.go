// Command market measures the inference market end to end on a
// single-node devnet: digits jobs (the real digits MLP on the real test
// set) served by three provider daemons, as issue 6 names them:
//
//   - jobs settled per second, each job settled individually (redundant:2:
//     submit, assignment, two commits, two reveals, settlement);
//   - submit-to-settled latency p50/p99, in blocks and seconds, under a
//     paced load;
//   - batched inferences settled per second: three sessions, calls over
//     HTTP with signed receipts, settled in batches under Merkle roots.
//
// Each figure is printed next to the target with their ratio. The
// node, the daemons, the session servers and the load all run in this one
// process, on the same cores.
//
//	go run ./bench/market            # full run (~2 minutes on 2 cores)
//	go run ./bench/market -quick     # the short version CI runs
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/keyring"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/internal/provider"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

var (
	quick     = flag.Bool("quick", false, "short run for CI")
	nJobs     = flag.Int("jobs", 3000, "jobs of the throughput run")
	perTx     = flag.Int("per-tx", 50, "job submissions per transaction")
	buyers    = flag.Int("buyers", 6, "buyer accounts submitting in parallel")
	pace      = flag.Int("pace", 20, "jobs per second of the latency run")
	paceSecs  = flag.Int("pace-secs", 15, "seconds of the latency run")
	nCalls    = flag.Int("calls", 90000, "session calls of the batched run (over three sessions)")
	perReq    = flag.Int("per-request", 500, "calls per HTTP request")
	batchSize = flag.Int("batch-size", 5000, "calls per settled batch")
	keep      = flag.Bool("keep", false, "keep the node home")
	verbose   = flag.Bool("v", false, "log what the provider daemons do")
	capacity  = flag.Uint("capacity", 100, "jobs each provider takes at once")
	cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of the throughput run to this file")
	logLevel  = slog.LevelWarn
)

func fatal(format string, args ...any) {
	log.Printf("FATAL: "+format, args...)
	os.Exit(1)
}

type env struct {
	c      *client.Client
	pc     *provenance.Client
	dev    ed25519.PrivateKey
	model  registry.ID
	prov   []ed25519.PrivateKey
	buyers []ed25519.PrivateKey
	inputs [][]byte // one digits test row each
	labels []int
	cids   []string
	dirs   []string
}

func main() {
	flag.Parse()
	if *verbose {
		logLevel = slog.LevelDebug
	}
	if *quick {
		*nJobs, *pace, *paceSecs, *nCalls, *batchSize = 200, 10, 4, 6000, 1000
	}
	home, err := os.MkdirTemp("", "vai-bench-market-")
	if err != nil {
		fatal("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(home)
	}
	e := setup(home)
	fmt.Printf("machine: %d cores (%s), GOMAXPROCS %d; node, 3 providers and the load in one process\n", runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var daemons []*provider.Daemon
	for i, k := range e.prov {
		lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
		d, err := provider.New(provider.Config{Chain: e.c, Blobs: e.pc, Key: k, Dir: e.dirs[i], Poll: 50 * time.Millisecond, TimeoutBlocks: 30, Log: lg})
		if err != nil {
			fatal("%v", err)
		}
		daemons = append(daemons, d)
		go d.Run(ctx)
	}

	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fatal("%v", err)
		}
		pprof.StartCPUProfile(f)
	}
	tput, acc := throughput(ctx, e)
	if *cpuProf != "" {
		pprof.StopCPUProfile()
	}
	p50b, p99b, p50s, p99s, n := latency(ctx, e)
	batched, window := sessions(ctx, e, daemons)

	fmt.Println()
	fmt.Printf("%-46s %12s %12s %8s\n", "figure", "measured", "target", "ratio")
	fmt.Printf("%-46s %12.0f %12s %8.2f\n", "jobs settled individually per second", tput, "≥ 200", tput/200)
	fmt.Printf("%-46s %12.0f %12s %8.2f\n", "batched inferences settled per second", batched, "≥ 5000", batched/5000)
	fmt.Printf("%-46s %12.1f %12s %8.2f\n", "redundant:2 submit→settled p50, blocks", p50b, "≤ 3", 3/p50b)
	fmt.Printf("%-46s %12.1f %12s\n", "redundant:2 submit→settled p99, blocks", p99b, "")
	fmt.Printf("%-46s %12s %12s\n", "redundant:2 submit→settled p50 / p99, seconds", fmt.Sprintf("%.2f / %.2f", p50s, p99s), "")
	fmt.Printf("(latency over %d paced jobs at %d/s; digits MLP accuracy on the settled jobs %.1f%%; batches paid %d blocks after settling)\n",
		n, *pace, 100*acc, window)
}

// setup creates and starts a devnet with the digits model on the market
// and three providers.
func setup(home string) *env {
	base, err := freeport.Base(10)
	if err != nil {
		fatal("%v", err)
	}
	var kr *keyring.Keyring
	if _, err := node.Devnet(home, node.TestnetPorts(base, 0), func(home string) (wire.Address, error) {
		var err error
		if kr, err = keyring.Open(keyring.Config{Home: home, Backend: keyring.BackendTest}); err != nil {
			return wire.Address{}, err
		}
		info, err := kr.Add("dev")
		return info.Address, err
	}); err != nil {
		fatal("devnet: %v", err)
	}
	dev, err := kr.Signer("dev")
	if err != nil {
		fatal("%v", err)
	}
	n, err := node.New(node.Options{Home: home, NoMetrics: true, LogLevel: "error", LogOutput: io.Discard})
	if err != nil {
		fatal("%v", err)
	}
	if err := n.Start(); err != nil {
		fatal("%v", err)
	}
	e := &env{c: n.Client, pc: provenance.New(n.Client, n.Endpoints().API), dev: dev}
	waitHeight(e.c, 2)
	ctx := context.Background()

	keys := make([]ed25519.PrivateKey, 3+*buyers+2)
	var sends []wire.Msg
	for i := range keys {
		seed := sha256.Sum256([]byte("bench/market/" + strconv.Itoa(i)))
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
		m, _ := wire.NewMsg("bank/send", bank.MsgSend{To: addr(keys[i]), Amount: wire.UVAI(50_000_000_000)})
		sends = append(sends, m)
	}
	e.prov, e.buyers = keys[:3], keys[3:3+*buyers]
	contrib := keys[3+*buyers:]
	send(e.c, dev, sends...)

	// The real digits test set: each row's 64 features are one job's input.
	f, err := os.Open(filepath.Join(repoRoot(), "runtime", "testdata", "digits_test.csv"))
	if err != nil {
		fatal("%v", err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(cols) != 65 {
			continue
		}
		label, _ := strconv.Atoi(cols[64])
		e.inputs = append(e.inputs, []byte(strings.Join(cols[:64], ",")+"\n"))
		e.labels = append(e.labels, label)
	}
	f.Close()
	for _, in := range e.inputs {
		cid, err := e.pc.PutBlob(ctx, in)
		if err != nil {
			fatal("%v", err)
		}
		e.cids = append(e.cids, cid)
	}

	// Dataset (two contributors) and model, registered; the model offered.
	dataDir, modelDir := mkTemp(home, "data"), mkTemp(home, "model")
	cp(filepath.Join(repoRoot(), "runtime", "testdata", "digits_calib.csv"), filepath.Join(dataDir, "digits.csv"))
	cp(filepath.Join(repoRoot(), "runtime", "testdata", "digits_mlp.vaim"), filepath.Join(modelDir, "digits_mlp.vaim"))
	ds := register(e.pc, dataDir)
	send(e.c, dev, msg("registry/register_dataset", registry.MsgRegisterDataset{ID: ds.ID, Name: "digits", License: "CC-BY-4.0", Content: ds.content,
		Contributors: []registry.Contributor{{Address: addr(contrib[0]), Weight: 3}, {Address: addr(contrib[1]), Weight: 1}}}))
	md := register(e.pc, modelDir)
	e.model = md.ID
	send(e.c, dev, msg("registry/register_model", registry.MsgRegisterModel{ID: md.ID, Name: "digits-mlp", License: "MIT", Datasets: []registry.ID{ds.ID},
		Terms: registry.Terms{Price: wire.UVAI(1000), RoyaltyBps: 2000}, Content: md.content}))
	art, _ := os.ReadFile(filepath.Join(modelDir, "digits_mlp.vaim"))
	cid, err := e.pc.PutBlob(ctx, art)
	if err != nil {
		fatal("%v", err)
	}
	d := sha256.Sum256(art)
	send(e.c, dev, msg("market/offer", market.MsgOffer{Model: e.model, Price: wire.UVAI(1000), ArtifactDigest: hex.EncodeToString(d[:]), Format: "vaim", PublicCID: cid, Active: true}))
	for i, k := range e.prov {
		send(e.c, k, msg("market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(1_000_000_000), Modes: []string{"redundant", "optimistic"},
			Capacity: uint32(*capacity), Serves: []market.ServeEntry{{Model: e.model, Price: wire.UVAI(5000)}}}))
		e.dirs = append(e.dirs, mkTemp(home, "provider"+strconv.Itoa(i)))
	}
	return e
}

type registered struct {
	ID      registry.ID
	content registry.Content
}

func register(pc *provenance.Client, dir string) registered {
	b, err := provenance.Build(context.Background(), dir, manifest.Config{})
	if err != nil {
		fatal("%v", err)
	}
	content, err := pc.Store(context.Background(), b)
	if err != nil {
		fatal("%v", err)
	}
	return registered{b.ID, content}
}

func addr(k ed25519.PrivateKey) wire.Address {
	return wire.AddressFromPubKey(k.Public().(ed25519.PublicKey))
}

func msg(typ string, v any) wire.Msg {
	m, err := wire.NewMsg(typ, v)
	if err != nil {
		fatal("%v", err)
	}
	return m
}

func send(c *client.Client, k ed25519.PrivateKey, msgs ...wire.Msg) *client.TxResult {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := c.Send(ctx, k, client.TxOptions{Wait: true}, msgs...)
	if err != nil {
		fatal("%s: %v", msgs[0].Type, err)
	}
	return s.Result
}

func waitHeight(c *client.Client, h int64) {
	for {
		st, err := c.Status(context.Background())
		if err == nil && st.LatestBlockHeight >= h {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func height(c *client.Client) int64 {
	st, err := c.Status(context.Background())
	if err != nil {
		fatal("%v", err)
	}
	return st.LatestBlockHeight
}

func submitMsg(e *env, i int) wire.Msg {
	in := e.inputs[i%len(e.inputs)]
	d := sha256.Sum256(in)
	return msg("market/submit", market.MsgSubmitJob{Model: e.model, InputCID: e.cids[i%len(e.cids)], InputDigest: d[:], Budget: wire.UVAI(20_000),
		Deadline: 200, Mode: market.Mode{Kind: market.ModeRedundant, K: 2}})
}

// jobIDs reads the ids of a submission's jobs.
func jobIDs(r *client.TxResult) []uint64 {
	var out []uint64
	for _, ev := range r.Events {
		if ev.Type == "job_submitted" {
			id, _ := strconv.ParseUint(ev.Attrs["job"], 10, 64)
			out = append(out, id)
		}
	}
	return out
}

func openJobs(c *client.Client) int {
	var jobs []market.Job
	if _, err := c.Query(context.Background(), "/market/jobs", map[string]any{"open": true, "limit": 500}, &jobs, 0); err != nil {
		fatal("%v", err)
	}
	return len(jobs)
}

// throughput submits nJobs redundant:2 jobs as fast as the buyers can and
// measures until the last is settled. It returns jobs/s and the model's
// accuracy on the settled outputs.
func throughput(ctx context.Context, e *env) (float64, float64) {
	fmt.Printf("throughput: %d redundant:2 jobs from %d buyers, %d per transaction…\n", *nJobs, len(e.buyers), *perTx)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	idx := map[uint64]int{}
	var next atomic.Int64
	for _, b := range e.buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := int(next.Add(int64(*perTx))) - *perTx
				if first >= *nJobs {
					return
				}
				var msgs []wire.Msg
				for i := first; i < min(first+*perTx, *nJobs); i++ {
					msgs = append(msgs, submitMsg(e, i))
				}
				r := send(e.c, b, msgs...)
				mu.Lock()
				for k, id := range jobIDs(r) {
					idx[id] = first + k
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	submitted := time.Since(start)
	for openJobs(e.c) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	el := time.Since(start)
	rate := float64(*nJobs) / el.Seconds()
	// Check every job: settled, and how often the digit was right.
	correct, settled := 0, 0
	reasons := map[string]int{}
	for id, i := range idx {
		var j market.Job
		if _, err := e.c.Query(ctx, "/market/job", map[string]any{"id": id}, &j, 0); err != nil {
			fatal("%v", err)
		}
		if j.Closing != nil {
			reasons[j.Closing.Reason]++
			for _, a := range j.Assignments {
				reasons["assignment "+a.State]++
			}
		}
		if j.Closing == nil || j.Closing.Reason != market.CloseSettled {
			continue
		}
		settled++
		out, err := e.pc.GetBlob(ctx, j.Result.OutputCID, 1<<20)
		if err != nil {
			fatal("%v", err)
		}
		var o provider.Output
		if json.Unmarshal(out, &o) == nil && len(o.Outputs) == 1 && o.Outputs[0].Argmax == e.labels[i%len(e.labels)] {
			correct++
		}
	}
	fmt.Printf("  submitted in %.1fs, all closed after %.1fs: %.0f jobs/s; %d of %d settled\n", submitted.Seconds(), el.Seconds(), rate, settled, *nJobs)
	if settled != *nJobs {
		fatal("%d jobs did not settle: %v", *nJobs-settled, reasons)
	}
	return rate, float64(correct) / float64(settled)
}

// latency submits jobs one per transaction at a steady pace and records,
// for each, the blocks and seconds from its submission to its settlement.
func latency(ctx context.Context, e *env) (p50b, p99b, p50s, p99s float64, n int) {
	total := *pace * *paceSecs
	fmt.Printf("latency: %d redundant:2 jobs at %d/s, one per transaction…\n", total, *pace)
	type obs struct {
		id          uint64
		sent        time.Time
		height      int64
		closedAt    time.Time
		closeHeight int64
	}
	var mu sync.Mutex
	var all []*obs
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(*pace))
	for i := range total {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := e.buyers[i%len(e.buyers)]
			o := &obs{sent: time.Now()}
			c2, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			s, err := e.c.Send(c2, b, client.TxOptions{Wait: true}, submitMsg(e, i))
			if err != nil {
				fatal("%v", err)
			}
			o.id, o.height = jobIDs(s.Result)[0], s.Result.Height
			mu.Lock()
			all = append(all, o)
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	// Poll until every job is closed, noting when each was first seen so.
	for {
		done := true
		for _, o := range all {
			if !o.closedAt.IsZero() {
				continue
			}
			var j market.Job
			if _, err := e.c.Query(ctx, "/market/job", map[string]any{"id": o.id}, &j, 0); err != nil {
				fatal("%v", err)
			}
			if j.State == market.StateClosed {
				o.closedAt, o.closeHeight = time.Now(), j.Closing.Height
			} else {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Seconds: from the buyer's send to the commit of the block that
	// settled the job: the time of the next header (BFT time is the time
	// of the commit votes; the node's clock is this machine's).
	var blocks, secs []float64
	times := map[int64]time.Time{}
	for _, o := range all {
		blocks = append(blocks, float64(o.closeHeight-o.height))
		t, ok := times[o.closeHeight]
		if !ok {
			waitHeight(e.c, o.closeHeight+1)
			h := o.closeHeight + 1
			hdr, err := e.c.RPC().Header(ctx, &h)
			if err != nil {
				fatal("%v", err)
			}
			t = hdr.Header.Time
			times[o.closeHeight] = t
		}
		secs = append(secs, t.Sub(o.sent).Seconds())
	}
	return pct(blocks, 50), pct(blocks, 99), pct(secs, 50), pct(secs, 99), len(all)
}

func pct(v []float64, p int) float64 {
	slices.Sort(v)
	return v[min(len(v)-1, len(v)*p/100)]
}

// sessions runs three sessions (one per provider) with calls over HTTP
// and measures calls settled per second: from the first call until every
// call is in a batch committed on the chain. It returns that rate and the
// challenge window after which batches are paid.
func sessions(ctx context.Context, e *env, ds []*provider.Daemon) (float64, int64) {
	fmt.Printf("batched: %d calls over 3 sessions, %d per request, batches of up to %d…\n", *nCalls, *perReq, *batchSize)
	var sess []market.Session
	var eps []string
	for i, d := range ds {
		srv, err := provider.NewSessionServer(provider.SessionConfig{Daemon: d, BatchSize: *batchSize, BatchEvery: time.Second, MaxCallsPerRequest: *perReq})
		if err != nil {
			fatal("%v", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatal("%v", err)
		}
		go srv.Serve(ctx, ln)
		eps = append(eps, "http://"+ln.Addr().String())
		b := e.buyers[i]
		r := send(e.c, b, msg("market/open_session", market.MsgOpenSession{Provider: d.Address(), Model: e.model, Deposit: wire.UVAI(10_000_000_000), Blocks: 100_000}))
		var id uint64
		for _, ev := range r.Events {
			if ev.Type == "session_opened" {
				id, _ = strconv.ParseUint(ev.Attrs["session"], 10, 64)
			}
		}
		var s market.Session
		if _, err := e.c.Query(ctx, "/market/session", map[string]any{"id": id}, &s, 0); err != nil {
			fatal("%v", err)
		}
		sess = append(sess, s)
	}
	per := *nCalls / 3
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &provider.SessionClient{Endpoint: eps[i], Key: e.buyers[i], Session: sess[i]}
			for seq := 0; seq < per; seq += *perReq {
				n := min(*perReq, per-seq)
				inputs := make([][]byte, n)
				for k := range inputs {
					inputs[k] = e.inputs[(seq+k)%len(e.inputs)]
				}
				if _, err := sc.Call(ctx, uint64(seq), inputs); err != nil {
					fatal("session %d call %d: %v", sess[i].ID, seq, err)
				}
			}
		}()
	}
	wg.Wait()
	served := time.Since(start)
	settledCalls := func() int {
		total := 0
		for _, s := range sess {
			var bs []market.Batch
			if _, err := e.c.Query(ctx, "/market/batches", map[string]any{"session": s.ID}, &bs, 0); err != nil {
				fatal("%v", err)
			}
			for _, b := range bs {
				total += int(b.Count)
			}
		}
		return total
	}
	for settledCalls() < 3*per {
		time.Sleep(20 * time.Millisecond)
	}
	el := time.Since(start)
	rate := float64(3*per) / el.Seconds()
	fmt.Printf("  served in %.1fs (%.0f calls/s), all in committed batches after %.1fs: %.0f calls/s settled\n", served.Seconds(), float64(3*per)/served.Seconds(), el.Seconds(), rate)
	var p market.Params
	e.c.Query(ctx, "/market/params", map[string]any{}, &p, 0)
	return rate, p.ChallengeWindow
}

func mkTemp(home, name string) string {
	d := filepath.Join(home, "bench", name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		fatal("%v", err)
	}
	return d
}

func cp(from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		fatal("%v", err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		fatal("%v", err)
	}
}

// repoRoot finds the module root from the working directory.
func repoRoot() string {
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			fatal("run from inside the repository")
		}
		d = p
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if k, v, ok := bytes.Cut(l, []byte(":")); ok && strings.TrimSpace(string(k)) == "model name" {
			return strings.TrimSpace(string(v))
		}
	}
	return runtime.GOARCH
}
