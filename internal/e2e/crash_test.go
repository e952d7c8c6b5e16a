package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/node"
)

// TestCrashUnderLoad SIGKILLs a node while transfers stream in, restarts
// it, and checks that every transaction acknowledged as committed survived,
// that every sender's sequence shows exactly its committed transactions,
// and that a replay of the chain from genesis reproduces every app hash.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	home := filepath.Join(t.TempDir(), "crash")
	base := freeBase(t, 1)
	keys := senders(4)
	args := append([]string{"init", "--home", home, "--chain-id", "vai-crash", "--base-port", fmt.Sprint(base)}, fundFlags(keys)...)
	vai(t, args...)
	rpc := fmt.Sprintf("http://127.0.0.1:%d", node.TestnetPorts(base, 0).RPC)

	n := startNode(t, home, rpc)
	l := startLoad(t, "vai-crash", keys, []string{rpc})
	time.Sleep(4 * time.Second)
	h := height(t, rpc)
	n.kill() // SIGKILL mid-load
	l.mu.Lock()
	before := len(l.acked)
	l.mu.Unlock()
	if before == 0 {
		t.Fatal("no transaction committed before the crash")
	}
	time.Sleep(time.Second)
	n = startNode(t, home, rpc)
	if got := height(t, rpc); got < h {
		t.Fatalf("restarted at height %d, below %d before the crash", got, h)
	}
	// Wait for commits after the restart (lost mempool transactions are
	// resubmitted by the senders).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		after := len(l.acked) - before
		l.mu.Unlock()
		if after >= 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	acks := l.stop(t)
	if len(acks) <= before {
		t.Fatalf("no transaction committed after the restart (%d before, %d in all)", before, len(acks))
	}
	checkAcked(t, rpc, acks)

	checkConservation(t, rpc, keys, acks)
	n.stop()

	out := vai(t, "replay", "--home", home)
	if !strings.Contains(out, "match through height") {
		t.Fatalf("replay: %s", out)
	}
	t.Logf("%d transactions acknowledged (%d before the crash); %s", len(acks), before, strings.TrimSpace(out))
}
