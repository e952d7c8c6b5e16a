package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/freeport"
	"github.com/vai-dev/vai/internal/keyring"
	"github.com/vai-dev/vai/internal/ledger/market"
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
			env.Setenv("PROMPORT", strconv.Itoa(base+4))
			env.Setenv("APIPORT", strconv.Itoa(base+5))
			env.Setenv("SESSIONPORT", strconv.Itoa(base+7))
			env.Setenv("SESSIONPORT2", strconv.Itoa(base+8))
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			env.Setenv("TESTDATA", filepath.Join(wd, "testdata"))
			env.Setenv("MODELS", filepath.Join(wd, "..", "..", "runtime", "testdata"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("VAI_HOME", filepath.Join(env.WorkDir, ".vai"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitnode":   waitNode,
			"keyaddr":    keyAddr,
			"grepvar":    grepVar,
			"waitheight": waitHeight,
			"tamper":     tamper,
			"corrupt":    corrupt,
			"zkmodel":    zkModel,
			"kzgsrs":     kzgSRS,
			"waithttp":   waitHTTP,
			"waitbatch":  waitBatch,
			"fetch":      fetch,
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

// grepvar VAR REGEXP FILE: set VAR to the first submatch of REGEXP in FILE
// (stdout and stderr name the last command's output).
func grepVar(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: grepvar VAR REGEXP FILE")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	var text string
	switch args[2] {
	case "stdout", "stderr":
		text = ts.ReadFile(args[2])
	default:
		text = ts.ReadFile(args[2])
	}
	m := re.FindStringSubmatch(text)
	if len(m) < 2 {
		ts.Fatalf("no match for %q in %s", args[1], args[2])
	}
	ts.Setenv(args[0], m[1])
}

// tamper FILE OLD NEW: replace the first OLD in FILE with NEW.
func tamper(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: tamper FILE OLD NEW")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	if !strings.Contains(string(b), args[1]) {
		ts.Fatalf("%s does not contain %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(p, []byte(strings.Replace(string(b), args[1], args[2], 1)), 0o644))
}

// waitheight H URL: wait until the node at URL is past height H.
func waitHeight(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitheight H URL")
	}
	h, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	c, err := client.Dial(args[1])
	ts.Check(err)
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		st, err := c.Status(context.Background())
		if err == nil && st.LatestBlockHeight > h {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	ts.Fatalf("the chain did not pass height %d", h)
}

// corrupt FILE OFFSET: flip the bits of one byte of FILE.
func corrupt(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: corrupt FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	if off >= len(b) {
		ts.Fatalf("%s has %d bytes", p, len(b))
	}
	b[off] ^= 0xff
	ts.Check(os.WriteFile(p, b, 0o644))
}

// waithttp URL: wait until URL answers (any status).
func waitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(args[0])
		if err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("nothing answers at %s after 60s", args[0])
}

// fetch URL FILE: GET URL (which must answer 200) into FILE.
func fetch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fetch URL FILE")
	}
	res, err := http.Get(args[0])
	ts.Check(err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	ts.Check(err)
	if res.StatusCode != http.StatusOK {
		ts.Fatalf("GET %s: %s", args[0], res.Status)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}

// waitbatch URL SESSION STATE: wait until the session's last batch is in
// STATE (pending, settled or voided).
func waitBatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: waitbatch URL SESSION STATE")
	}
	c, err := client.Dial(args[0])
	ts.Check(err)
	id, err := strconv.ParseUint(args[1], 10, 64)
	ts.Check(err)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var bs []market.Batch
		if _, err := c.Query(context.Background(), "/market/batches", map[string]any{"session": id}, &bs, 0); err == nil && len(bs) > 0 && bs[len(bs)-1].State == args[2] {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("session %d has no batch %s after 60s", id, args[2])
}
