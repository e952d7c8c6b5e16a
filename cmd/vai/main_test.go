package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/keyring"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vai": func() {
			if err := run(); err != nil {
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script against the real
// command, with nodes started by the scripts themselves.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			base, err := freeport.Base(10)
			if err != nil {
				return err
			}
			env.Setenv("BASEPORT", strconv.Itoa(base))
			env.Setenv("RPCPORT", strconv.Itoa(base+1))
			env.Setenv("APIPORT", strconv.Itoa(base+5))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("VAI_HOME", filepath.Join(env.WorkDir, ".vai"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitnode": waitNode,
			"keyaddr":  keyAddr,
			"zkmodel":  zkModel,
		},
	})
}

// waitnode URL: wait until the node at URL has committed a block.
func waitNode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitnode URL")
	}
	c, err := client.Dial(args[0])
	ts.Check(err)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.LatestBlockHeight > 1 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("no node at %s after 60s", args[0])
}

// keyaddr NAME VAR HOME: set VAR to the address of the test-keyring key NAME.
func keyAddr(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: keyaddr NAME VAR HOME")
	}
	kr, err := keyring.Open(keyring.Config{Home: ts.MkAbs(args[2]), Backend: keyring.BackendTest})
	ts.Check(err)
	info, err := kr.Show(args[0])
	ts.Check(err)
	ts.Setenv(args[1], info.Address.String())
}
