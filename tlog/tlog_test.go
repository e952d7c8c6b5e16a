package tlog_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/tlog"

	vtlog "github.com/vai-dev/vai/tlog"
)

var fast = vtlog.Options{BatchMaxSize: 64, BatchMaxAge: 10 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond}

func newServer(t *testing.T) (*vtlog.Manager, *vtlog.Log, *httptest.Server) {
	t.Helper()
	m, err := vtlog.NewManager(vtlog.Config{Dir: t.TempDir(), ChainID: "test", Options: fast})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	l, err := m.Create("inf", vtlog.PurposeCustom)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(vtlog.Handler(vtlog.HandlerConfig{Manager: m}))
	t.Cleanup(srv.Close)
	return m, l, srv
}

func appendN(t *testing.T, l *vtlog.Log, n int) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(context.Background(), []byte(fmt.Sprintf("entry %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// A third-party tlog-tiles client reads the log over HTTP and verifies
// proofs against the checkpoint: tessera's client, and Go's sumdb/tlog
// through a path adapter.
func TestInteropThirdPartyClients(t *testing.T) {
	_, l, srv := newServer(t)
	appendN(t, l, 300) // one full tile and a partial one
	raw, err := l.Await(context.Background(), 299)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL + "/logs/inf/")
	f, err := tclient.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cp, _, _, err := tclient.FetchCheckpoint(ctx, f.ReadCheckpoint, l.Verifier(), l.Info().Origin)
	if err != nil || !bytes.HasPrefix(raw, cp.Marshal()) {
		t.Fatalf("checkpoint over HTTP: %v", err)
	}
	pb, err := tclient.NewProofBuilder(ctx, cp.Size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 255, 256, 299} {
		p, err := pb.InclusionProof(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf([]byte(fmt.Sprintf("entry %d", i)))
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, leaf, p, cp.Hash); err != nil {
			t.Errorf("tessera client: entry %d: %v", i, err)
		}
	}
	// golang.org/x/mod/sumdb/tlog reads hashes through tiles of height 8.
	tr := tileReader{base: srv.URL + "/logs/inf/"}
	th := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}, tr)
	for _, i := range []int64{3, 257} {
		p, err := tlog.ProveRecord(int64(cp.Size), i, th)
		if err != nil {
			t.Fatalf("sumdb/tlog: prove %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, int64(cp.Size), tlog.Hash(cp.Hash), i, tlog.RecordHash([]byte(fmt.Sprintf("entry %d", i)))); err != nil {
			t.Errorf("sumdb/tlog: entry %d: %v", i, err)
		}
	}
}

// tileReader adapts sumdb/tlog's tile paths (tile/8/L/N[.p/W]) to
// tlog-tiles paths (tile/L/N[.p/W]).
type tileReader struct{ base string }

func (tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		resp, err := http.Get(r.base + p)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s: %s", p, resp.Status)
		}
		out[i] = b.Bytes()
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func TestHandlerServesOnlyTiles(t *testing.T) {
	_, l, srv := newServer(t)
	appendN(t, l, 5)
	if _, err := l.Await(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	cases := map[string]int{
		"/logs/inf/checkpoint":              200,
		"/logs/inf/tile/0/000.p/5":          200,
		"/logs/inf/tile/entries/000.p/5":    200,
		"/logs/inf/tile/0/000.p/7":          404, // a partial tile that does not exist: 404, so clients try the full tile
		"/logs/inf/tile/0/000":              404,
		"/logs/inf/tile/0/000.p":            404, // a directory
		"/logs/inf/tile/0/":                 404,
		"/logs/inf/tile/0/0":                404, // not three digits
		"/logs/inf/.state/treeState":        404,
		"/logs/inf/tile/../../operator.key": 404,
		"/logs/inf/operator.key":            404,
		"/logs/inf/log.json":                404,
		"/logs/nope/checkpoint":             404,
	}
	for p, want := range cases {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, want)
		}
	}
	// Oversized and empty entries get clear errors.
	resp, err := http.Post(srv.URL+"/logs/inf/entries", "application/octet-stream", bytes.NewReader(make([]byte, vtlog.MaxEntrySize+1)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(b.String(), "content store") {
		t.Errorf("oversized entry: %d %s", resp.StatusCode, b.String())
	}
	if _, err := l.Append(context.Background(), make([]byte, vtlog.MaxEntrySize+1)); !errors.Is(err, vtlog.ErrEntryTooLarge) {
		t.Errorf("Append of an oversized entry: %v", err)
	}
	if _, err := l.Append(context.Background(), make([]byte, vtlog.MaxEntrySize)); err != nil {
		t.Errorf("Append of the largest entry: %v", err)
	}
}

// The monitor and proof verification catch an entry rewritten on disk.
func TestMonitorCatchesRewrittenEntry(t *testing.T) {
	_, l, srv := newServer(t)
	appendN(t, l, 10)
	raw, err := l.Await(context.Background(), 9)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := vtlog.ParseCheckpoint(raw, l.Info().Origin, l.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL + "/logs/inf/")
	f, _ := tclient.NewHTTPFetcher(u, nil)
	view := vtlog.ChainView{Origin: l.Info().Origin, OperatorKey: l.Info().OperatorKey, WitnessedSize: cp.Size, WitnessedRoot: cp.Root}
	if _, err := vtlog.NewMonitor(f).Check(context.Background(), view); err != nil {
		t.Fatalf("honest log: %v", err)
	}
	bundle := filepath.Join(l.Dir(), layout.EntriesPath(0, 10))
	b, _ := os.ReadFile(bundle)
	b = bytes.Replace(b, []byte("entry 3"), []byte("entry X"), 1)
	os.WriteFile(bundle, b, 0o644)
	_, err = vtlog.NewMonitor(f).Check(context.Background(), view)
	if !errors.Is(err, vtlog.ErrInconsistent) || !strings.Contains(err.Error(), "an entry was rewritten") {
		t.Fatalf("rewritten entry: %v", err)
	}
	// The rewritten entry's inclusion proof does not verify against the checkpoint.
	pb, _ := tclient.NewProofBuilder(context.Background(), cp.Size, f.ReadTile)
	p, _ := pb.InclusionProof(context.Background(), 3)
	if proof.VerifyInclusion(rfc6962.DefaultHasher, 3, cp.Size, rfc6962.DefaultHasher.HashLeaf([]byte("entry X")), p, cp.Root) == nil {
		t.Fatal("a rewritten entry verified")
	}
}

// A node killed mid-batch loses nothing it acknowledged: a child process
// appends and prints each acknowledged index; it is SIGKILLed mid-run.
func TestRestartMidBatchLosesNothingAcknowledged(t *testing.T) {
	if os.Getenv("TLOG_CHILD") != "" {
		child(os.Getenv("TLOG_CHILD"))
		return
	}
	dir := t.TempDir()
	if _, err := vtlog.CreateLog(dir, "crash", "test/logs/crash", vtlog.PurposeCustom, fast); err != nil {
		t.Fatal(err)
	}
	// The parent's handle is closed before the child opens the log.
	l, _ := vtlog.OpenLog(dir, fast)
	l.Close(context.Background())
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestartMidBatchLosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), "TLOG_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		idx, data, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		i, _ := strconv.ParseUint(idx, 10, 64)
		acked[i] = data
		if len(acked) == 2000 {
			cmd.Process.Signal(syscall.SIGKILL) // appends are still in flight
			break
		}
	}
	cmd.Wait()
	if len(acked) < 2000 {
		t.Fatalf("the child acknowledged only %d entries", len(acked))
	}
	l, err := vtlog.OpenLog(dir, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	ctx := context.Background()
	size, err := l.Reader().IntegratedSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range acked {
		if i >= size {
			t.Fatalf("acknowledged entry %d is beyond the tree of %d after the crash", i, size)
		}
		b, err := tclient.GetEntryBundle(ctx, l.Reader().ReadEntryBundle, i/256, size)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b.Entries[i%256]); got != want {
			t.Fatalf("entry %d is %q after the crash, acknowledged as %q", i, got, want)
		}
	}
	// The log goes on, and a checkpoint covers everything.
	idx, err := l.Append(ctx, []byte("after the crash"))
	if err != nil || idx < size {
		t.Fatalf("append after restart: %d %v (tree was %d)", idx, err, size)
	}
	if _, err := l.Await(ctx, idx); err != nil {
		t.Fatal(err)
	}
}

func child(dir string) {
	l, err := vtlog.OpenLog(dir, fast)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	out := make(chan string, 1024)
	for w := range 64 {
		go func() {
			for i := 0; ; i++ {
				data := fmt.Sprintf("w%d-%d", w, i)
				idx, err := l.Append(ctx, []byte(data))
				if err != nil {
					os.Exit(3)
				}
				out <- fmt.Sprintf("%d %s", idx, data)
			}
		}()
	}
	for s := range out {
		fmt.Println(s)
	}
}
