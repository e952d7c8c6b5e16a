package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/node"
)

// TestFourValidators runs a four-validator testnet as processes on
// loopback, under load: one validator stops and the chain keeps
// committing; it restarts and catches up; all four agree on the app hash
// and hold every acknowledged transaction.
func TestFourValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("system test")
	}
	out := filepath.Join(t.TempDir(), "net")
	base := freeBase(t, 4)
	keys := senders(6)
	vai(t, append([]string{"testnet", "--validators", "4", "--out", out, "--chain-id", "vai-four", "--base-port", fmt.Sprint(base)}, fundFlags(keys)...)...)
	rpcs := make([]string, 4)
	nodes := make([]*proc, 4)
	for i := range nodes {
		rpcs[i] = fmt.Sprintf("http://127.0.0.1:%d", node.TestnetPorts(base, i).RPC)
	}
	// Start all four before waiting: one alone cannot make blocks.
	ready := make(chan *proc, 4)
	for i := range nodes {
		go func() { ready <- startNode(t, node.TestnetHome(out, i), rpcs[i]) }()
	}
	for range nodes {
		p := <-ready
		for i := range nodes {
			if p.home == node.TestnetHome(out, i) {
				nodes[i] = p
			}
		}
	}
	l := startLoad(t, "vai-four", keys, rpcs[:3])
	time.Sleep(3 * time.Second)

	nodes[3].stop()
	h0 := height(t, rpcs[0])
	for deadline := time.Now().Add(20 * time.Second); height(t, rpcs[0]) < h0+5; {
		if time.Now().After(deadline) {
			t.Fatalf("with one of four validators down the chain went from %d to %d only in 20 s", h0, height(t, rpcs[0]))
		}
		time.Sleep(200 * time.Millisecond)
	}
	nodes[3] = startNode(t, node.TestnetHome(out, 3), rpcs[3])
	target := height(t, rpcs[0])
	deadline := time.Now().Add(60 * time.Second)
	for height(t, rpcs[3]) < target {
		if time.Now().After(deadline) {
			t.Fatalf("restarted validator stuck at %d, chain at %d", height(t, rpcs[3]), target)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	acks := l.stop(t)
	if len(acks) == 0 {
		t.Fatal("nothing committed")
	}
	// Let the last blocks reach everyone, then compare.
	time.Sleep(2 * time.Second)
	common := height(t, rpcs[0])
	for _, r := range rpcs[1:] {
		common = min(common, height(t, r))
	}
	var first []byte
	for i, r := range rpcs {
		c, _ := client.Dial(r)
		h := common
		res, err := c.RPC().Commit(context.Background(), &h)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res.SignedHeader.AppHash
		} else if !bytes.Equal(first, res.SignedHeader.AppHash) {
			t.Fatalf("node %d app hash at %d is %X, node 0 has %X", i, h, res.SignedHeader.AppHash, first)
		}
		checkAcked(t, r, acks)
	}
	checkConservation(t, rpcs[0], keys, acks)
	for _, n := range nodes {
		n.stop()
	}
	t.Logf("%d transactions acknowledged; app hashes agree at height %d", len(acks), common)
}
