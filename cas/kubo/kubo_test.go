package kubo_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/cas/castest"
	"github.com/vai-dev/vai/cas/kubo"
)

// kuboBinary finds the kubo binary that scripts/kubo.sh builds.
func kuboBinary(t *testing.T) string {
	if p := os.Getenv("VAI_KUBO_BIN"); p != "" {
		return p
	}
	cache := os.Getenv("VAI_KUBO_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Skip("kubo binary not found: set VAI_KUBO_BIN or run scripts/kubo.sh build")
		}
		cache = filepath.Join(dir, "vai", "kubo")
	}
	version := os.Getenv("KUBO_VERSION")
	if version == "" {
		version = "v0.39.0"
	}
	p := filepath.Join(cache, version, "ipfs")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("kubo binary not found at %s: run scripts/kubo.sh build (about 2.5 minutes) or set VAI_KUBO_BIN", p)
	}
	return p
}

// startKubo starts an offline kubo daemon with a fresh repository and its
// API on a free loopback port, and returns the API's base URL.
func startKubo(t *testing.T) string {
	bin := kuboBinary(t)
	repo := t.TempDir()
	env := append(os.Environ(), "IPFS_PATH="+repo)
	run := func(args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("init", "--profile=test")
	run("config", "Addresses.API", "/ip4/127.0.0.1/tcp/0")
	run("config", "Addresses.Gateway", "/ip4/127.0.0.1/tcp/0")
	run("config", "--json", "Addresses.Swarm", "[]")
	cmd := exec.Command(bin, "daemon", "--offline")
	cmd.Env = env
	logFile, _ := os.Create(filepath.Join(repo, "daemon.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		logFile.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(repo, "api")); err == nil {
			// /ip4/127.0.0.1/tcp/PORT
			parts := strings.Split(strings.TrimSpace(string(b)), "/")
			if len(parts) >= 5 {
				url := "http://127.0.0.1:" + parts[4]
				if resp, err := http.Post(url+"/api/v0/version", "", nil); err == nil {
					resp.Body.Close()
					return url
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(repo, "daemon.log"))
	t.Fatalf("kubo daemon did not start:\n%s", log)
	return ""
}

func TestKubo(t *testing.T) {
	url := startKubo(t)
	s, err := kubo.New(kubo.Config{URL: url, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Suite", func(t *testing.T) {
		castest.Run(t, func(*testing.T) cas.Store { return s })
	})
	t.Run("Vectors", func(t *testing.T) {
		f, err := os.Open("../testdata/kubo-cids.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			size, want, ok := strings.Cut(sc.Text(), " ")
			n, err := strconv.ParseInt(size, 10, 64)
			if !ok || err != nil {
				continue // comment
			}
			c, err := s.Put(context.Background(), &patterned{n: n})
			if err != nil {
				t.Fatalf("Put(%d bytes): %v", n, err)
			}
			if c.String() != want {
				t.Errorf("kubo stored %d bytes as %s, vector says %s", n, c, want)
			}
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		bad, _ := kubo.New(kubo.Config{URL: "http://127.0.0.1:1"})
		_, err := bad.Put(context.Background(), strings.NewReader("x"))
		if err == nil || errors.Is(err, cas.ErrNotFound) {
			t.Errorf("Put to a closed port: error %v", err)
		}
	})
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:5001", "ftp://x", "http://"} {
		if _, err := kubo.New(kubo.Config{URL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

// patterned is the content of the vectors: byte i is i % 251.
type patterned struct{ off, n int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.off == p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range k {
		b[i] = byte((p.off + i) % 251)
	}
	p.off += k
	return int(k), nil
}
