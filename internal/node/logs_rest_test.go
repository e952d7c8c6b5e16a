package node_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"

	"github.com/vai-dev/vai/internal/httpapi"
	"github.com/vai-dev/vai/tlog"
)

// The log routes' errors through the node's REST API: each has the
// documented status, the JSON error shape (codespace tlog, code = status,
// the kind) and a message that says what to do; and openapi.json lists
// every status seen here for its route.
func TestLogsRESTErrors(t *testing.T) {
	n, _, _ := devnet(t)
	api := n.Endpoints().API
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	getJSON(t, api+"/openapi.json", 200, &doc)

	do := func(method, path string, body []byte) (int, httpapi.Error) {
		t.Helper()
		req, _ := http.NewRequest(method, api+path, bytes.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var e struct {
			Error httpapi.Error `json:"error"`
		}
		if res.StatusCode != 200 {
			if ct := res.Header.Get("Content-Type"); ct != "application/json" || json.Unmarshal(b, &e) != nil {
				t.Fatalf("%s %s: %d %s %q: not the JSON error shape", method, path, res.StatusCode, ct, b)
			}
		}
		return res.StatusCode, e.Error
	}
	// Creating is idempotent for the same name and purpose.
	for range 2 {
		if status, e := do("POST", "/logs", []byte(`{"name":"big","purpose":"custom"}`)); status != 200 {
			t.Fatalf("create: %d %+v", status, e)
		}
	}
	cases := []struct {
		name         string
		method, path string
		route        string // as documented
		body         []byte
		status       int
		kind, msg    string
	}{
		{"oversized entry", "POST", "/logs/big/entries", "/logs/{name}/entries", make([]byte, tlog.MaxEntrySize+1), 413, "too_large", "over 65535 bytes (store larger payloads in the content store"},
		{"empty entry", "POST", "/logs/big/entries", "/logs/{name}/entries", nil, 400, "invalid", "empty entry"},
		{"append to an unknown log", "POST", "/logs/nope/entries", "/logs/{name}/entries", []byte("x"), 404, "not_found", "log not found: nope"},
		{"status of an unknown log", "GET", "/logs/nope", "/logs/{name}", nil, 404, "not_found", "log not found: nope"},
		{"checkpoint of an unknown log", "GET", "/logs/nope/checkpoint", "/logs/{name}/checkpoint", nil, 404, "not_found", "log not found: nope"},
		{"tile of an unknown log", "GET", "/logs/nope/tile/0/000", "/logs/{name}/tile/{path}", nil, 404, "not_found", "log not found: nope"},
		{"publish an unknown log", "POST", "/logs/nope/publish", "/logs/{name}/publish", nil, 404, "not_found", "log not found: nope"},
		{"a tile not written yet", "GET", "/logs/big/tile/0/000", "/logs/{name}/tile/{path}", nil, 404, "not_found", "no such resource"},
		{"not a tile path", "GET", "/logs/big/tile/x/y", "/logs/{name}/tile/{path}", nil, 404, "not_found", "not a tile path"},
		{"a tile index not in three digits", "GET", "/logs/big/tile/0/0", "/logs/{name}/tile/{path}", nil, 404, "not_found", "not a tile path"},
		{"a path out of the tiles", "GET", "/logs/big/tile/..%2F..%2Foperator.key", "/logs/{name}/tile/{path}", nil, 404, "not_found", "not a tile path"},
		{"a log that exists with another purpose", "POST", "/logs", "/logs", []byte(`{"name":"big","purpose":"agent"}`), 409, "conflict", "log already exists: big (purpose custom)"},
		{"a bad purpose", "POST", "/logs", "/logs", []byte(`{"name":"two","purpose":"gossip"}`), 400, "invalid", `purpose "gossip"`},
		{"a bad name", "POST", "/logs", "/logs", []byte(`{"name":"Two!","purpose":"custom"}`), 400, "invalid", "invalid log name"},
		{"an unknown member", "POST", "/logs", "/logs", []byte(`{"name":"two","purpose":"custom","key":"x"}`), 400, "invalid", "unknown field"},
	}
	for _, tc := range cases {
		status, e := do(tc.method, tc.path, tc.body)
		if status != tc.status || e.Kind != tc.kind || e.Codespace != "tlog" || e.Code != uint32(tc.status) || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: %s %s = %d %+v, want %d %s containing %q", tc.name, tc.method, tc.path, status, e, tc.status, tc.kind, tc.msg)
		}
		op, ok := doc.Paths[tc.route][strings.ToLower(tc.method)]
		if _, documented := op.Responses[strconv.Itoa(tc.status)]; !ok || !documented {
			t.Errorf("%s: openapi.json does not document %d for %s %s", tc.name, tc.status, tc.method, tc.route)
		}
	}
	// Other methods and paths under /logs are JSON 404s too.
	for _, r := range []struct{ method, path string }{{"DELETE", "/logs/big"}, {"GET", "/logs/big/entries"}, {"GET", "/logs/big/publish"}} {
		if status, e := do(r.method, r.path, nil); status != 404 || e.Kind != "not_found" || e.Codespace != "tlog" {
			t.Errorf("%s %s: %d %+v", r.method, r.path, status, e)
		}
	}
}
