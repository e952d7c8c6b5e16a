package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	mempl "github.com/cometbft/cometbft/mempool"
	rpccore "github.com/cometbft/cometbft/rpc/core"
	rpcserver "github.com/cometbft/cometbft/rpc/jsonrpc/server"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	"github.com/cometbft/cometbft/types"
)

// fakeMempool stands in for CometBFT's mempool in the RPC handler's tests
// (the handler is what is tested): CheckTx fails for transactions that
// start with "fail", and otherwise answers with a code, data and a log
// taken from the transaction, so that odd strings reach the answer.
type fakeMempool struct{ *mempl.NopMempool }

func (fakeMempool) CheckTx(tx types.Tx, cb func(*abci.ResponseCheckTx), _ mempl.TxInfo) error {
	if bytes.HasPrefix(tx, []byte("fail")) {
		return errors.New("tx already exists in cache <&>")
	}
	if cb != nil {
		cb(&abci.ResponseCheckTx{Code: uint32(len(tx) % 7), Data: tx[:min(3, len(tx))], Log: string(tx), Codespace: "cs<" + string(tx[:min(1, len(tx))])})
	}
	return nil
}

// TestFastBroadcastAnswersAsCometBFT sends each request to CometBFT's own
// JSON-RPC handler and to fastBroadcast in front of it: status, content type
// and body must be the same bytes, and the requests of the common shape
// must have been answered by the fast path (the others passed through).
func TestFastBroadcastAnswersAsCometBFT(t *testing.T) {
	env := &rpccore.Environment{Mempool: fakeMempool{&mempl.NopMempool{}}, EventBus: types.NewEventBus()}
	mux := http.NewServeMux()
	rpcserver.RegisterRPCFuncs(mux, env.GetRoutes(), cmtlog.NewNopLogger())

	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	req := func(id, method, tx string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":{"tx":%q}}`, id, method, b64(tx))
	}
	// What CometBFT's own HTTP client sends.
	client, err := rpctypes.MapToRequest(rpctypes.JSONRPCIntID(42), "broadcast_tx_sync", map[string]any{"tx": types.Tx("from the client")})
	if err != nil {
		t.Fatal(err)
	}
	clientBody, _ := json.Marshal(client)

	cases := []struct {
		name, body string
		fast       bool
	}{
		{"cometbft client", string(clientBody), true},
		{"sync", req("1", "broadcast_tx_sync", "hello"), true},
		{"async", req("7", "broadcast_tx_async", "hello"), true},
		{"zero id", req("0", "broadcast_tx_sync", "x"), true},
		{"negative id", req("-12", "broadcast_tx_sync", "xy"), true},
		{"largest exact id", req("9007199254740992", "broadcast_tx_sync", "xy"), true},
		{"string id with HTML", req(`"a<b>&\u2028"`, "broadcast_tx_sync", "xyz"), true},
		{"log with quotes, HTML, newlines and U+2028", req("2", "broadcast_tx_sync", "q\"<a>&\\\n\u2028é"), true},
		{"log with invalid UTF-8", req("3", "broadcast_tx_sync", "bad\xff\xfeutf8"), true},
		{"binary tx", req("4", "broadcast_tx_sync", "\x00\x01\x02\xfe"), true},
		{"keys in another order, spaces", fmt.Sprintf(" { \"params\" : { \"tx\" : %q } , \"method\":\"broadcast_tx_sync\",\n\"id\": 5 ,\"jsonrpc\":\"2.0\"}\n", b64("reordered")), true},
		{"no jsonrpc member", fmt.Sprintf(`{"id":6,"method":"broadcast_tx_sync","params":{"tx":%q}}`, b64("x")), true},
		{"base64 split by an escaped newline", fmt.Sprintf(`{"jsonrpc":"2.0","id":8,"method":"broadcast_tx_sync","params":{"tx":"%s\n%s"}}`, b64("abcdef")[:4], b64("abcdef")[4:]), true},
		{"method fails", req("9", "broadcast_tx_sync", "fail me"), true},
		{"async fails", req(`"s"`, "broadcast_tx_async", "fail me"), true},

		{"id too large to be exact", req("9007199254740993", "broadcast_tx_sync", "xy"), false},
		{"fractional id", req("1.5", "broadcast_tx_sync", "xy"), false},
		{"exponent id", req("1e2", "broadcast_tx_sync", "xy"), false},
		{"null id (notification)", req("null", "broadcast_tx_sync", "xy"), false},
		{"boolean id", req("true", "broadcast_tx_sync", "xy"), false},
		{"no id", fmt.Sprintf(`{"jsonrpc":"2.0","method":"broadcast_tx_sync","params":{"tx":%q}}`, b64("x")), false},
		{"params as an array", fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":[%q]}`, b64("x")), false},
		{"extra param", fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":%q,"x":1}}`, b64("x")), false},
		{"extra member", fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":%q},"x":1}`, b64("x")), false},
		{"duplicate id", fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"id":2,"method":"broadcast_tx_sync","params":{"tx":%q}}`, b64("x")), false},
		{"capitalised member", fmt.Sprintf(`{"jsonrpc":"2.0","ID":1,"method":"broadcast_tx_sync","params":{"tx":%q}}`, b64("x")), false},
		{"batch", "[" + req("1", "broadcast_tx_sync", "a") + "," + req("2", "broadcast_tx_sync", "b") + "]", false},
		{"trailing data", req("1", "broadcast_tx_sync", "x") + "x", false},
		{"two requests", req("1", "broadcast_tx_sync", "x") + req("2", "broadcast_tx_sync", "x"), false},
		{"invalid base64", `{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":"@@@"}}`, false},
		{"empty tx", `{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":""}}`, false},
		{"invalid UTF-8 in the request", "{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"broadcast_tx_sync\",\"params\":{\"tx\":\"eA==\"}}", false},
		{"other method", `{"jsonrpc":"2.0","id":1,"method":"health","params":{}}`, false},
		{"broadcast_tx_commit", req("1", "broadcast_tx_commit", "x"), false},
		{"unknown method", req("1", "nope", "x"), false},
		{"malformed", `{"jsonrpc":`, false},
		{"empty body", ``, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := httptest.NewRecorder()
			mux.ServeHTTP(want, httptest.NewRequest("POST", "/", strings.NewReader(c.body)))
			f := &fastBroadcast{env: env, next: mux}
			got := httptest.NewRecorder()
			f.ServeHTTP(got, httptest.NewRequest("POST", "/", strings.NewReader(c.body)))
			if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Fatalf("request %q\nCometBFT: %d %s %s\nvai:      %d %s %s", c.body,
					want.Code, want.Header().Get("Content-Type"), want.Body, got.Code, got.Header().Get("Content-Type"), got.Body)
			}
			if fast := f.hits.Load() == 1; fast != c.fast {
				t.Fatalf("answered by the fast path: %v, want %v", fast, c.fast)
			}
		})
	}

	// Other paths and methods pass through untouched.
	for _, mk := range []func() *http.Request{
		func() *http.Request {
			return httptest.NewRequest("POST", "/broadcast_tx_sync", strings.NewReader(req("1", "broadcast_tx_sync", "x")))
		},
		func() *http.Request { return httptest.NewRequest("GET", "/broadcast_tx_sync?tx=0x41", nil) },
		func() *http.Request {
			return httptest.NewRequest("GET", "/", strings.NewReader(req("1", "broadcast_tx_sync", "x")))
		},
	} {
		want := httptest.NewRecorder()
		mux.ServeHTTP(want, mk())
		f := &fastBroadcast{env: env, next: mux}
		got := httptest.NewRecorder()
		r := mk()
		f.ServeHTTP(got, r)
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || f.hits.Load() != 0 {
			t.Fatalf("%s %s: %d %s (fast %d), CometBFT %d %s", r.Method, r.URL, got.Code, got.Body, f.hits.Load(), want.Code, want.Body)
		}
	}
}
