package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cosmos/ics23/go"
	json "github.com/go-json-experiment/json"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/httpapi"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/node"
	"github.com/vai-dev/vai/internal/node/nodetest"
	"github.com/vai-dev/vai/wire"
)

func devnet(t *testing.T) (*node.Node, ed25519.PrivateKey, string) { return nodetest.Devnet(t) }

func start(t *testing.T, home string) *node.Node { return nodetest.Start(t, home) }

func getJSON(t *testing.T, url string, wantStatus int, out any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, res.StatusCode, body, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
}

func post(t *testing.T, url string, body []byte, wantStatus int) httpapi.Error {
	t.Helper()
	status, b := postRaw(t, url, body)
	if status != wantStatus {
		t.Fatalf("POST %s: %d %s, want %d", url, status, b, wantStatus)
	}
	var e struct {
		Error httpapi.Error `json:"error"`
	}
	json.Unmarshal(b, &e)
	return e.Error
}

// syncBuffer is a log destination that a test may read while the node's
// goroutines write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// postRaw posts a JSON body and returns the status and the body answered.
func postRaw(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	res, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

func TestRESTAPI(t *testing.T) {
	n, dev, _ := devnet(t)
	api := n.Endpoints().API
	ctx := context.Background()
	bob := wire.AddressFromPubKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey))
	m, _ := wire.NewMsg("bank/send", bank.MsgSend{To: bob, Amount: wire.UVAI(777)})
	env, _, err := n.Client.Sign(ctx, dev, client.TxOptions{}, m)
	if err != nil {
		t.Fatal(err)
	}

	// Submit through REST and wait.
	res, err := http.Post(api+"/txs?wait=true", "application/json", bytes.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	var sub httpapi.SubmitResponse
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || json.Unmarshal(b, &sub) != nil || sub.Result == nil || sub.Result.Code != 0 {
		t.Fatalf("POST /txs?wait: %d %s", res.StatusCode, b)
	}

	var acc httpapi.AccountResponse
	getJSON(t, api+"/accounts/"+bob.String(), 200, &acc)
	if acc.Balance.Amount != 777 {
		t.Errorf("balance = %v", acc.Balance)
	}
	var tx client.TxResult
	getJSON(t, api+"/txs/"+sub.Hash, 200, &tx)
	if tx.Height != sub.Result.Height {
		t.Errorf("tx lookup height %d, committed at %d", tx.Height, sub.Result.Height)
	}

	// A proven balance: check the ICS23 proof against the next header.
	var pb httpapi.BalanceResponse
	getJSON(t, api+"/accounts/"+bob.String()+"/balance?prove=true", 200, &pb)
	if pb.Proof == nil || pb.Amount.Amount != 777 {
		t.Fatalf("proven balance = %+v", pb)
	}
	var proof ics23.CommitmentProof
	raw, _ := b64(pb.Proof.ICS23)
	if err := proof.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	h := pb.Height + 1
	for height(t, n) < h {
		time.Sleep(50 * time.Millisecond)
	}
	cm, err := n.Client.RPC().Commit(ctx, &h)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := b64(pb.Proof.Key)
	val, _ := b64(pb.Proof.Value)
	if !client.VerifyProof(cm.SignedHeader.AppHash, &proof, key, val) {
		t.Fatal("the REST proof does not verify against the next header's app hash")
	}

	// Errors: the code, the codespace, the kind and the status agree.
	e := post(t, api+"/txs", []byte("garbage"), 400)
	if e.Codespace != "ledger" || e.Code != 3 || e.Kind != "invalid" {
		t.Errorf("garbage: %+v", e)
	}
	// The same transaction again is idempotent: its result comes back.
	res, err = http.Post(api+"/txs", "application/json", bytes.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	var again httpapi.SubmitResponse
	if res.StatusCode != 200 || json.Unmarshal(b, &again) != nil || again.Result == nil || again.Result.Height != sub.Result.Height {
		t.Errorf("resubmitting a committed tx: %d %s", res.StatusCode, b)
	}
	// Another transaction with a used sequence is a replay: 409.
	seq := uint64(0)
	replay, _, err := n.Client.Sign(ctx, dev, client.TxOptions{Sequence: &seq, Memo: "again"}, m)
	if err != nil {
		t.Fatal(err)
	}
	e = post(t, api+"/txs", replay, 409)
	if e.Code != 7 || e.Kind != "conflict" || !strings.Contains(e.Message, "sequence") {
		t.Errorf("replay: %+v", e)
	}
	post(t, api+"/txs", bytes.Repeat([]byte("x"), 5<<20), 413)
	getJSON(t, api+"/accounts/vai1nope", 400, nil)
	getJSON(t, api+"/txs/"+strings.Repeat("AB", 32), 404, nil)
	getJSON(t, api+"/no/such/route", 404, nil)

	// The market's records.
	var mp struct {
		MinStake wire.Coin `json:"min_stake"`
	}
	getJSON(t, api+"/market/params", 200, &mp)
	if mp.MinStake.IsZero() {
		t.Error("GET /market/params: no min_stake")
	}
	var jobs []map[string]any
	getJSON(t, api+"/market/jobs?open=true", 200, &jobs)
	getJSON(t, api+"/market/jobs/999", 404, nil)
	getJSON(t, api+"/market/jobs/x", 400, nil)
	getJSON(t, api+"/market/jobs?buyer=vai1nope", 400, nil)
	getJSON(t, api+"/market/providers/vai1nope", 400, nil)

	var codes []httpapi.ErrorCode
	getJSON(t, api+"/errors", 200, &codes)
	found := false
	for _, c := range codes {
		found = found || (c.Codespace == "bank" && c.Code == 2 && c.HTTPStatus == 402)
	}
	if !found {
		t.Error("GET /errors lacks bank/2 insufficient funds → 402")
	}
}

func height(t *testing.T, n *node.Node) int64 {
	st, err := n.Client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.LatestBlockHeight
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	n, _, _ := devnet(t)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	getJSON(t, n.Endpoints().API+"/openapi.json", 200, &doc)
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(documented)
	routes := slices.Sorted(slices.Values(httpapi.Routes))
	if !slices.Equal(documented, routes) {
		t.Errorf("openapi.json documents %v\nthe server routes %v", documented, routes)
	}
}

func TestRestartInProcess(t *testing.T) {
	n, dev, home := devnet(t)
	ctx := context.Background()
	m, _ := wire.NewMsg("bank/send", bank.MsgSend{To: wire.ModuleAddress("x"), Amount: wire.UVAI(1)})
	if _, err := n.Client.Send(ctx, dev, client.TxOptions{Wait: true}, m); err != nil {
		t.Fatal(err)
	}
	h := height(t, n)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	n2 := start(t, home)
	if got := height(t, n2); got < h {
		t.Fatalf("restarted at %d, was at %d", got, h)
	}
	if _, err := n2.Client.Send(ctx, dev, client.TxOptions{Wait: true}, m); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
}

func b64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// TestIndexCatchesUpOnRestart loses the transaction index, as a node does
// for the blocks it commits while stopping (CometBFT closes the event bus,
// which feeds the indexer, before consensus) or just before a crash: the
// restarted node indexes the committed blocks missing from it, so every
// committed transaction is found by hash again, and only the missing
// blocks are indexed.
func TestIndexCatchesUpOnRestart(t *testing.T) {
	n, dev, home := devnet(t)
	ctx := context.Background()
	m, _ := wire.NewMsg("bank/send", bank.MsgSend{To: wire.ModuleAddress("x"), Amount: wire.UVAI(1)})
	var sent []*client.Sent
	for range 3 {
		s, err := n.Client.Send(ctx, dev, client.TxOptions{Wait: true}, m)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, s)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(home, "data", "tx_index.db")); err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	n2, err := node.New(node.Options{Home: home, NoMetrics: true, LogLevel: "info", LogOutput: logs})
	if err != nil {
		t.Fatal(err)
	}
	// The repair happens before the node starts: nothing else writes the
	// index then.
	if !strings.Contains(logs.String(), "indexing committed blocks missing from the tx index") || !strings.Contains(logs.String(), "from=1 ") {
		t.Fatalf("no repair from height 1 logged:\n%s", logs.String())
	}
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	defer n2.Stop()
	for _, s := range sent {
		r, err := n2.Client.Tx(ctx, s.Hash)
		if err != nil {
			t.Fatalf("committed tx %s not found after the index was lost: %v", s.Hash, err)
		}
		if r.Height != s.Result.Height || r.Code != 0 || len(r.Events) == 0 {
			t.Fatalf("tx %s re-indexed as height %d code %d events %d, committed at %d", s.Hash, r.Height, r.Code, len(r.Events), s.Result.Height)
		}
		q := fmt.Sprintf("block.height = %d", s.Result.Height)
		bs, err := n2.Client.RPC().BlockSearch(ctx, q, nil, nil, "")
		if err != nil || bs.TotalCount != 1 {
			t.Fatalf("block search %q after re-index: %v, %+v", q, err, bs)
		}
	}
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
	// An index that is whole is left alone (only its top block is
	// written again, in case its transactions were not).
	// A buffer of its own: n2's goroutines may still log after Stop
	// returns (the address book saves itself on the way out).
	logs = new(syncBuffer)
	n3, err := node.New(node.Options{Home: home, NoMetrics: true, LogLevel: "info", LogOutput: logs})
	if err != nil {
		t.Fatal(err)
	}
	n3.Stop()
	if strings.Contains(logs.String(), "missing from the tx index") {
		t.Fatalf("a whole index was repaired:\n%s", logs.String())
	}
}

// TestRPCServer checks the RPC server vai runs in CometBFT's place: the
// websocket endpoint delivers event subscriptions, URI routes answer, and
// an unsafe route is refused (rpc.unsafe is off).
func TestRPCServer(t *testing.T) {
	n, _, _ := devnet(t)
	rpc := n.Endpoints().RPC
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events, err := c.Subscribe(ctx, "test", "tm.event = 'NewBlock'")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if _, ok := ev.Data.(cmttypes.EventDataNewBlock); !ok {
			t.Fatalf("event %T, want a new block", ev.Data)
		}
	case <-ctx.Done():
		t.Fatal("no NewBlock event over the websocket")
	}
	var status struct {
		Result struct {
			NodeInfo struct {
				Network string `json:"network"`
			} `json:"node_info"`
		} `json:"result"`
	}
	getJSON(t, rpc+"/status", 200, &status)
	if status.Result.NodeInfo.Network != "vai-devnet" {
		t.Fatalf("GET /status: network %q", status.Result.NodeInfo.Network)
	}
	var unsafe struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	res, err := http.Post(rpc, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"dial_seeds","params":{"seeds":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &unsafe); err != nil || unsafe.Error == nil || unsafe.Error.Code != -32601 {
		t.Fatalf("unsafe dial_seeds answered %s, want method not found", body)
	}

	// Batches up to rpc.max_request_batch_size (10) are answered, larger
	// ones refused; bodies over rpc.max_body_bytes are refused.
	post := func(body string) (int, string) {
		t.Helper()
		code, b := postRaw(t, rpc, []byte(body))
		return code, string(b)
	}
	batch := func(n int) string {
		reqs := make([]string, n)
		for i := range reqs {
			reqs[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"health","params":{}}`, i)
		}
		return "[" + strings.Join(reqs, ",") + "]"
	}
	if code, b := post(batch(10)); code != 200 || strings.Count(b, `"result"`) != 10 {
		t.Fatalf("batch of 10: %d %s", code, b)
	}
	if _, b := post(batch(11)); !strings.Contains(b, "batch request exceeds maximum (10)") || strings.Contains(b, `"result"`) {
		t.Fatalf("batch of 11 answered %s, want refused", b)
	}
	big := `{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"` + strings.Repeat("A", 1_100_000) + `"}}`
	if code, b := post(big); code == 200 || !strings.Contains(b, "request body too large") {
		t.Fatalf("oversized body answered %d %.300s, want refused", code, b)
	}
}
