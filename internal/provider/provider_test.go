package provider_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/node/nodetest"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/internal/provider"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// world: a devnet with the digits MLP registered (trained on a dataset of
// one contributor), offered at 1000uvai a call; two providers and a buyer.
type world struct {
	t      *testing.T
	c      *client.Client
	pc     *provenance.Client
	dev    ed25519.PrivateKey
	p      []ed25519.PrivateKey
	buyer  ed25519.PrivateKey
	model  registry.ID
	dirs   []string
	inputs [][]byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	n, dev, _ := nodetest.Devnet(t)
	w := &world{t: t, c: n.Client, pc: provenance.New(n.Client, n.Endpoints().API), dev: dev}
	ctx := context.Background()
	w.p = []ed25519.PrivateKey{ledgertest.Key(101), ledgertest.Key(102)}
	w.buyer = ledgertest.Key(103)
	for _, k := range append(w.p, w.buyer) {
		w.send(dev, "bank/send", bank.MsgSend{To: ledgertest.Addr(k), Amount: wire.UVAI(300_000_000)})
	}
	dataDir, modelDir := t.TempDir(), t.TempDir()
	copyFile(t, "../../runtime/testdata/digits_calib.csv", filepath.Join(dataDir, "digits.csv"))
	copyFile(t, "../../runtime/testdata/digits_mlp.vaim", filepath.Join(modelDir, "digits_mlp.vaim"))
	ds := w.register(dataDir)
	w.send(dev, "registry/register_dataset", registry.MsgRegisterDataset{ID: ds.ID, Name: "digits", License: "CC-BY-4.0", Content: ds.content,
		Contributors: []registry.Contributor{{Address: ledgertest.Addr(ledgertest.Key(104)), Weight: 1}}})
	md := w.register(modelDir)
	w.model = md.ID
	w.send(dev, "registry/register_model", registry.MsgRegisterModel{ID: md.ID, Name: "digits-mlp", License: "MIT", Datasets: []registry.ID{ds.ID},
		Terms: registry.Terms{Price: wire.UVAI(1000), RoyaltyBps: 2000}, Content: md.content})
	art, err := os.ReadFile(filepath.Join(modelDir, "digits_mlp.vaim"))
	if err != nil {
		t.Fatal(err)
	}
	cid, err := w.pc.PutBlob(ctx, art)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(art)
	w.send(dev, "market/offer", market.MsgOffer{Model: w.model, Price: wire.UVAI(1000), ArtifactDigest: hex.EncodeToString(d[:]), Format: "vaim", PublicCID: cid, Active: true})
	for _, k := range w.p {
		w.send(k, "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(200_000_000), Modes: []string{"redundant", "optimistic"},
			Capacity: 8, Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(5000)}}})
		w.dirs = append(w.dirs, t.TempDir())
	}
	w.inputs = [][]byte{
		[]byte("0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0\n"),
		[]byte("[0,5,12,13,16,16,2,0,0,11,16,15,8,4,0,0,0,8,14,11,1,0,0,0,0,8,16,16,14,0,0,0,0,1,6,6,16,0,0,0,0,0,0,5,16,3,0,0,0,1,5,15,13,0,0,0,0,4,15,16,2,0,0,0]"),
	}
	return w
}

type registered struct {
	ID      registry.ID
	content registry.Content
}

func (w *world) register(dir string) registered {
	w.t.Helper()
	b, err := provenance.Build(context.Background(), dir, manifest.Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	content, err := w.pc.Store(context.Background(), b)
	if err != nil {
		w.t.Fatal(err)
	}
	return registered{b.ID, content}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (w *world) send(k ed25519.PrivateKey, typ string, v any) *client.TxResult {
	w.t.Helper()
	m, err := wire.NewMsg(typ, v)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := w.c.Send(ctx, k, client.TxOptions{Wait: true}, m)
	if err != nil {
		w.t.Fatalf("%s: %v", typ, err)
	}
	return s.Result
}

func (w *world) daemon(i int, fault string) *provider.Daemon {
	w.t.Helper()
	d, err := provider.New(provider.Config{Chain: w.c, Blobs: w.pc, Key: w.p[i], Dir: w.dirs[i], Fault: fault})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *world) submit(mode string, input []byte) uint64 {
	w.t.Helper()
	cid, err := w.pc.PutBlob(context.Background(), input)
	if err != nil {
		w.t.Fatal(err)
	}
	m, _ := market.ParseMode(mode)
	d := sha256.Sum256(input)
	r := w.send(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: cid, InputDigest: d[:], Budget: wire.UVAI(1_000_000), Deadline: 60, Mode: m})
	for _, e := range r.Events {
		if e.Type == "job_submitted" {
			var id uint64
			for _, c := range e.Attrs["job"] {
				id = id*10 + uint64(c-'0')
			}
			return id
		}
	}
	w.t.Fatal("no job_submitted event")
	return 0
}

func (w *world) job(id uint64) market.Job {
	w.t.Helper()
	var j market.Job
	if _, err := w.c.Query(context.Background(), "/market/job", map[string]any{"id": id}, &j, 0); err != nil {
		w.t.Fatal(err)
	}
	return j
}

// step runs one round of a daemon's work and returns the messages sent.
func step(t *testing.T, d *provider.Daemon) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := d.Step(ctx)
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return n
}

// until steps the daemons until cond holds.
func until(t *testing.T, cond func() bool, ds ...*provider.Daemon) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		for _, d := range ds {
			step(t, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func state(j market.Job, p wire.Address) string {
	for _, a := range j.Assignments {
		if a.Provider == p {
			return a.State
		}
	}
	return ""
}

// A provider killed after committing reveals, once restarted, what it
// committed to, from its state directory; it sends each message once.
func TestRestartedProviderRevealsItsCommitment(t *testing.T) {
	w := newWorld(t)
	id := w.submit("redundant:2", w.inputs[0])
	p0, p1 := ledgertest.Addr(w.p[0]), ledgertest.Addr(w.p[1])
	until(t, func() bool { return state(w.job(id), p0) != "" && state(w.job(id), p1) != "" })
	d0 := w.daemon(0, "")
	if n := step(t, d0); n != 1 {
		t.Fatalf("first step sent %d messages, want the commitment", n)
	}
	until(t, func() bool { return state(w.job(id), p0) == market.AsgCommitted })
	// Nothing new: nothing sent.
	if n := step(t, d0); n != 0 {
		t.Fatalf("an idle step sent %d messages", n)
	}
	// "Crash": the daemon is gone; the other provider commits meanwhile.
	d0 = nil
	d1 := w.daemon(1, "")
	until(t, func() bool { return w.job(id).WindowEnd != 0 }, d1)
	// A new daemon on the same state directory reveals the same output.
	d0 = w.daemon(0, "")
	until(t, func() bool { return w.job(id).State == market.StateClosed }, d0, d1)
	j := w.job(id)
	if j.Closing.Reason != market.CloseSettled || state(j, p0) != market.AsgPaid || state(j, p1) != market.AsgPaid {
		t.Fatalf("job: %+v", j)
	}
	if d0.Sent.Load() != 1 {
		t.Fatalf("the restarted daemon sent %d transactions, want 1 (the reveal)", d0.Sent.Load())
	}
	// The accepted output is the digits MLP's answer for a 0.
	out, err := w.pc.GetBlob(context.Background(), j.Result.OutputCID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"outputs":[{"argmax":0,`; !contains(out, want) {
		t.Fatalf("output %s lacks %s", out, want)
	}
}

func contains(b []byte, s string) bool { return len(s) == 0 || indexOf(string(b), s) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// A transaction recorded as in flight (the daemon died between signing
// and knowing its fate) holds back every other message for that job until
// its timeout height has passed.
func TestPendingTransactionIsNotSentTwice(t *testing.T) {
	w := newWorld(t)
	id := w.submit("optimistic", w.inputs[1])
	var exec ed25519.PrivateKey
	var dir string
	until(t, func() bool {
		j := w.job(id)
		for i, k := range w.p {
			if state(j, ledgertest.Addr(k)) == market.AsgAssigned {
				exec, dir = k, w.dirs[i]
				return true
			}
		}
		return false
	})
	st, err := provider.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := w.c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assigned := w.job(id).Assignments[0].Assigned
	fake := hex.EncodeToString(make([]byte, 32))
	if err := st.Put(&provider.Work{Job: id, Assigned: assigned, Role: market.RoleExecutor, PendingTx: fake, PendingTimeout: uint64(h.LatestBlockHeight + 4), Logged: -1}); err != nil {
		t.Fatal(err)
	}
	d, err := provider.New(provider.Config{Chain: w.c, Blobs: w.pc, Key: exec, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if n := step(t, d); n != 0 {
		t.Fatalf("sent %d messages while a transaction may still land", n)
	}
	until(t, func() bool { return state(w.job(id), ledgertest.Addr(exec)) == market.AsgRevealed }, d)
	j := w.job(id)
	if j.State != market.StateChallenge {
		t.Fatalf("job: %+v", j)
	}
	st2, _ := w.c.Status(context.Background())
	if st2.LatestBlockHeight <= h.LatestBlockHeight+4 {
		t.Fatalf("the result was sent at height %d, before the pending transaction's timeout %d", st2.LatestBlockHeight, h.LatestBlockHeight+4)
	}
}

// Sessions: calls over HTTP with signed receipts, settled in a batch that
// survives a restart of the provider; then paid.
func TestSessionCallsSettleInBatches(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := ledgertest.Addr(w.p[0])
	w.send(w.buyer, "market/open_session", market.MsgOpenSession{Provider: p, Model: w.model, Deposit: wire.UVAI(1_000_000), Blocks: 1000})
	var ss []market.Session
	if _, err := w.c.Query(ctx, "/market/sessions", map[string]any{"buyer": ledgertest.Addr(w.buyer)}, &ss, 0); err != nil || len(ss) != 1 {
		t.Fatalf("sessions %v %v", ss, err)
	}
	serve := func() (*provider.SessionServer, string, context.CancelFunc) {
		d := w.daemon(0, "")
		srv, err := provider.NewSessionServer(provider.SessionConfig{Daemon: d, BatchSize: 1 << 30, BatchEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		go srv.Serve(sctx, ln)
		return srv, "http://" + ln.Addr().String(), cancel
	}
	srv, url, stop := serve()
	sc := &provider.SessionClient{Endpoint: url, Key: w.buyer, Session: ss[0]}
	var inputs [][]byte
	for range 5 {
		inputs = append(inputs, w.inputs...)
	}
	recs, err := sc.Call(ctx, 0, inputs)
	if err != nil {
		t.Fatal(err)
	}
	// A replayed sequence number, and a call the buyer did not sign, are refused.
	if _, err := sc.Call(ctx, 0, inputs[:1]); err == nil {
		t.Fatal("a replayed call was served")
	}
	forged := &provider.SessionClient{Endpoint: url, Key: w.p[1], Session: ss[0]}
	if _, err := forged.Call(ctx, 10, inputs[:1]); err == nil {
		t.Fatal("a call signed by someone else was served")
	}
	// The provider dies without settling (the old server is abandoned,
	// not stopped: stopping settles what is waiting); restarted, it
	// recovers the records it kept and settles them.
	defer stop()
	srv, url, stop = serve()
	defer stop()
	sc.Endpoint = url
	info, err := sc.Info(ctx)
	if err != nil || info.NextSeq != 10 {
		t.Fatalf("after restart: %+v %v", info, err)
	}
	more, err := sc.Call(ctx, 10, inputs[:2])
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, more...)
	if err := srv.SettleAll(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var bs []market.Batch
	if _, err := w.c.Query(ctx, "/market/batches", map[string]any{"session": ss[0].ID}, &bs, 0); err != nil || len(bs) != 1 {
		t.Fatalf("batches %+v %v", bs, err)
	}
	b := bs[0]
	if b.Count != 12 || b.Amount.Amount != 12*6000 {
		t.Fatalf("batch %+v", b)
	}
	// The buyer audits the batch against its receipts: nothing to challenge.
	records, err := w.pc.GetBlob(ctx, b.RecordsCID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	receipts := map[uint64]provider.Receipt{}
	for i, r := range recs {
		receipts[uint64(i)] = r
	}
	if f, err := provider.AuditBatch(&b, &ss[0], records, receipts); err != nil || f != nil {
		t.Fatalf("audit of an honest batch: %+v %v", f, err)
	}
	// A receipt of another call proves nothing about this one.
	receipts[3] = recs[4]
	if f, _ := provider.AuditBatch(&b, &ss[0], records, receipts); f != nil {
		t.Fatalf("a receipt of another call was taken as fraud: %s", f.Reason)
	}
	// Wait for the window, then the batch is paid.
	until(t, func() bool {
		var nb market.Batch
		w.c.Query(ctx, "/market/batch", map[string]any{"id": b.ID}, &nb, 0)
		return nb.State == market.BatchSettled
	})
}

// A model the runtime cannot run is offered in the openai format: the
// provider forwards the job's request to the OpenAI-compatible server it
// was configured with, and the answer is the (optimistic) result.
func TestOpenAIModelIsForwarded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// A second model: a deployment description stands for the weights.
	dir := t.TempDir()
	desc := []byte(`{"served_by":"an OpenAI-compatible server","model":"tiny-chat"}`)
	if err := os.WriteFile(filepath.Join(dir, "deployment.json"), desc, 0o644); err != nil {
		t.Fatal(err)
	}
	md := w.register(dir)
	w.send(w.dev, "registry/register_model", registry.MsgRegisterModel{ID: md.ID, Name: "tiny-chat", License: "MIT", Content: md.content,
		Terms: registry.Terms{Price: wire.UVAI(1000)}})
	d := sha256.Sum256(desc)
	descCID, err := w.pc.PutBlob(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	w.send(w.dev, "market/offer", market.MsgOffer{Model: md.ID, Price: wire.UVAI(1000), ArtifactDigest: hex.EncodeToString(d[:]), Format: "openai",
		PublicCID: descCID, Active: true})
	for _, k := range w.p {
		w.send(k, "market/provider_update", market.MsgProviderUpdate{Modes: []string{"redundant", "optimistic"}, Capacity: 8,
			Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(5000)}, {Model: md.ID, Price: wire.UVAI(5000)}}})
	}
	// The external server: a test double of an OpenAI-compatible API.
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(rw, r)
			return
		}
		got, _ = io.ReadAll(r.Body)
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `{"object":"chat.completion","choices":[{"message":{"role":"assistant","content":"four"}}]}`)
	}))
	defer srv.Close()
	// Redundancy is refused for it: its results are not reproducible.
	in := []byte(`{"model":"tiny-chat","messages":[{"role":"user","content":"2+2?"}]}`)
	cid, _ := w.pc.PutBlob(ctx, in)
	h := sha256.Sum256(in)
	m2, _ := market.ParseMode("redundant:2")
	msg, _ := wire.NewMsg("market/submit", market.MsgSubmitJob{Model: md.ID, InputCID: cid, InputDigest: h[:], Budget: wire.UVAI(100_000), Deadline: 30, Mode: m2})
	if _, err := w.c.Send(ctx, w.buyer, client.TxOptions{Wait: true}, msg); err == nil || !strings.Contains(err.Error(), "only optimistic or tee") {
		t.Fatalf("redundant job of an openai model: %v", err)
	}
	saved := w.model
	w.model = md.ID
	id := w.submit("optimistic", in)
	w.model = saved
	var ds []*provider.Daemon
	for i, k := range w.p {
		dd, err := provider.New(provider.Config{Chain: w.c, Blobs: w.pc, Key: k, Dir: w.dirs[i], Runner: &provider.Runner{OpenAI: map[string]string{string(md.ID): srv.URL}}})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, dd)
	}
	until(t, func() bool { return w.job(id).State == market.StateChallenge }, ds...)
	j := w.job(id)
	out, err := w.pc.GetBlob(ctx, j.Result.OutputCID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"content":"four"`) || string(got) != string(in) {
		t.Fatalf("forwarded %s, answered %s", got, out)
	}
}
