package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/wire"
)

var vaiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vai-e2e-")
	if err != nil {
		panic(err)
	}
	vaiBin = filepath.Join(dir, "vai")
	build := exec.Command("go", "build", "-o", vaiBin, "github.com/vai-dev/vai/cmd/vai")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vai:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// vai runs the binary to completion and returns its stdout.
func vai(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(vaiBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("vai %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// freeBase finds a base port with n nodes' worth of free ports (10 each).
func freeBase(t *testing.T, n int) int {
	t.Helper()
	base, err := freeport.Base(10 * n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// proc is a node running as a process.
type proc struct {
	t    *testing.T
	home string
	rpc  string
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

func startNode(t *testing.T, home, rpc string) *proc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(vaiBin, "start", "--home", home, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, home: home, rpc: rpc, cmd: cmd, log: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	p.waitReady()
	return p
}

func (p *proc) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

func (p *proc) waitReady() {
	p.t.Helper()
	c, err := client.Dial(p.rpc)
	if err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if !p.running() {
			p.t.Fatalf("node %s exited:\n%s", p.home, tail(filepath.Join(p.home, "node.log")))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.LatestBlockHeight > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("node %s not ready:\n%s", p.home, tail(filepath.Join(p.home, "node.log")))
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if !p.running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			p.t.Errorf("node %s exited with %v on SIGTERM:\n%s", p.home, err, tail(filepath.Join(p.home, "node.log")))
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("node %s did not stop on SIGTERM", p.home)
	}
}

// kill sends SIGKILL: no chance to flush or close anything.
func (p *proc) kill() {
	if p.running() {
		p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	}
	p.log.Close()
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// senders are funded test keys.
func senders(n int) []ed25519.PrivateKey {
	out := make([]ed25519.PrivateKey, n)
	for i := range out {
		seed := bytes.Repeat([]byte{byte(0x40 + i)}, 32)
		out[i] = ed25519.NewKeyFromSeed(seed)
	}
	return out
}

func addr(k ed25519.PrivateKey) wire.Address {
	return wire.AddressFromPubKey(k.Public().(ed25519.PublicKey))
}

func fundFlags(keys []ed25519.PrivateKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, "--fund", addr(k).String()+"=1000vai")
	}
	return out
}

// acked is a transaction the chain reported committed.
type acked struct {
	from   wire.Address
	hash   string
	height int64
}

// sinkAddr receives 1 uvai per transfer of the load.
var sinkAddr = addr(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x99}, 32)))

// checkConservation asserts the sink holds exactly one uvai per committed
// transfer: the senders' used sequences, counted on the node at rpc.
func checkConservation(t *testing.T, rpc string, keys []ed25519.PrivateKey, acks []acked) {
	t.Helper()
	c, err := client.Dial(rpc)
	if err != nil {
		t.Fatal(err)
	}
	perSender := map[wire.Address]uint64{}
	for _, a := range acks {
		perSender[a.from]++
	}
	var used uint64
	for _, k := range keys {
		acc, err := c.Account(context.Background(), addr(k), false)
		if err != nil {
			t.Fatal(err)
		}
		n := acc.NextSequence + uint64(len(acc.UsedAhead))
		if n < perSender[addr(k)] {
			t.Errorf("sender %s: %d sequences used, %d transactions acknowledged", addr(k), n, perSender[addr(k)])
		}
		used += n
	}
	bal, _, err := c.Balance(context.Background(), sinkAddr)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Amount != used {
		t.Errorf("sink holds %d uvai, but %d transfers of 1 uvai committed", bal.Amount, used)
	}
}

// load sends transfers from each key until stop closes, each sender keeping
// a window of transactions in flight and retrying each one (the same
// bytes) through node outages until it commits. It returns what was
// acknowledged as committed.
type load struct {
	mu     sync.Mutex
	acked  []acked
	errs   []error
	wg     sync.WaitGroup
	stopCh chan struct{}
}

func startLoad(t *testing.T, chainID string, keys []ed25519.PrivateKey, rpcs []string) *load {
	l := &load{stopCh: make(chan struct{})}
	sink := sinkAddr
	for i, k := range keys {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.sender(t, chainID, k, rpcs[i%len(rpcs)], sink)
		}()
	}
	return l
}

func (l *load) sender(t *testing.T, chainID string, k ed25519.PrivateKey, rpc string, sink wire.Address) {
	c, err := client.Dial(rpc)
	if err != nil {
		l.fail(err)
		return
	}
	const window = 8
	seq := uint64(0)
	for {
		select {
		case <-l.stopCh:
			return
		default:
		}
		var batch [][]byte
		for range window {
			m, _ := wire.NewMsg("bank/send", bank.MsgSend{To: sink, Amount: wire.UVAI(1)})
			env, err := wire.Sign(&wire.Body{ChainID: chainID, Sequence: seq, Fee: wire.UVAI(1000), Msgs: []wire.Msg{m}}, k)
			if err != nil {
				l.fail(err)
				return
			}
			batch = append(batch, env)
			seq++
		}
		for _, env := range batch {
			l.until(func(ctx context.Context) error { _, err := c.Broadcast(ctx, env); return err })
		}
		for _, env := range batch {
			hash := client.TxHash(env)
			var res *client.TxResult
			l.until(func(ctx context.Context) error {
				var err error
				res, err = c.WaitTx(ctx, hash, 0)
				if errors.Is(err, context.DeadlineExceeded) {
					// Lost with a crashed mempool: submit again.
					c.Broadcast(context.Background(), env)
				}
				return err
			})
			if res == nil {
				return // stopped
			}
			if res.Code != 0 {
				l.fail(fmt.Errorf("tx %s failed: %s", hash, res.Log))
				continue
			}
			l.mu.Lock()
			l.acked = append(l.acked, acked{from: addr(k), hash: hash, height: res.Height})
			l.mu.Unlock()
		}
	}
}

// until retries f (with a per-try timeout) until it succeeds or the load
// stops. Broadcast rejections that mean "already done" count as success.
func (l *load) until(f func(ctx context.Context) error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		var te *client.TxError
		if errors.As(err, &te) && te.Height == 0 && strings.Contains(te.Log, "sequence") {
			return // already admitted or committed: the wait will find it
		}
		select {
		case <-l.stopCh:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (l *load) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *load) stop(t *testing.T) []acked {
	close(l.stopCh)
	l.wg.Wait()
	for _, err := range l.errs {
		t.Error(err)
	}
	return l.acked
}

// checkAcked asserts every acknowledged transaction is committed at the
// height it was acknowledged at, as seen by the node at rpc.
func checkAcked(t *testing.T, rpc string, acks []acked) {
	t.Helper()
	c, err := client.Dial(rpc)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		r, err := c.Tx(context.Background(), a.hash)
		if err != nil {
			t.Fatalf("%s: acknowledged tx %s (height %d) missing: %v", rpc, a.hash, a.height, err)
		}
		if r.Height != a.height || r.Code != 0 {
			t.Fatalf("%s: tx %s at height %d code %d, acknowledged at %d", rpc, a.hash, r.Height, r.Code, a.height)
		}
	}
}

func height(t *testing.T, rpc string) int64 {
	t.Helper()
	c, _ := client.Dial(rpc)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.LatestBlockHeight
}
