// Package nodetest starts in-process devnet nodes for tests.
package nodetest

import (
	"context"
	"crypto/ed25519"
	"io"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/keyring"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/wire"
)

// Devnet creates a devnet home on free ports, starts its node in-process
// (without Prometheus, so several tests can run in one process), waits for
// blocks and returns the node, the funded dev key and the home.
func Devnet(t testing.TB) (*node.Node, ed25519.PrivateKey, string) {
	t.Helper()
	home := t.TempDir()
	base, err := freeport.Base(10)
	if err != nil {
		t.Fatal(err)
	}
	var kr *keyring.Keyring
	_, err = node.Devnet(home, node.TestnetPorts(base, 0), func(home string) (wire.Address, error) {
		var err error
		kr, err = keyring.Open(keyring.Config{Home: home, Backend: keyring.BackendTest})
		if err != nil {
			return wire.Address{}, err
		}
		info, err := kr.Add("dev")
		return info.Address, err
	})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := kr.Signer("dev")
	if err != nil {
		t.Fatal(err)
	}
	return Start(t, home), dev, home
}

// Start starts the node of a home and waits for its second block.
func Start(t testing.TB, home string) *node.Node {
	t.Helper()
	n, err := node.New(node.Options{Home: home, NoMetrics: true, LogLevel: "error", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		st, err := n.Client.Status(ctx)
		if err == nil && st.LatestBlockHeight > 1 {
			return n
		}
		select {
		case <-ctx.Done():
			t.Fatal("node did not produce blocks")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
