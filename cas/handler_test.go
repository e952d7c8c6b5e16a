package cas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/cas/castest"
	"github.com/vai-dev/vai/cas/local"
)

func newServer(t *testing.T, max int64) (*httptest.Server, cas.Store) {
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/v1", cas.NewHandler(s, cas.HandlerConfig{MaxUpload: max})))
	t.Cleanup(srv.Close)
	return srv, s
}

func do(t *testing.T, method, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestHandler(t *testing.T) {
	srv, _ := newServer(t, 1<<20)
	data := castest.Random(cas.ChunkSize+1, 3)
	want, _, _ := cas.Sum(bytes.NewReader(data))

	resp, body := do(t, "POST", srv.URL+"/v1/blobs", data)
	var out struct {
		CID  string
		Size int64
	}
	json.Unmarshal(body, &out)
	if resp.StatusCode != 201 || out.CID != want.String() || out.Size != int64(len(data)) {
		t.Fatalf("POST = %d %s; want 201 with cid %s", resp.StatusCode, body, want)
	}

	resp, body = do(t, "GET", srv.URL+"/v1/blobs/"+want.String(), nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("ETag") != `"`+want.String()+`"` {
		t.Errorf("GET = %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	resp, body = do(t, "HEAD", srv.URL+"/v1/blobs/"+want.String(), nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD = %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	small := []byte("manifest bytes")
	smallCID, _, _ := cas.Sum(bytes.NewReader(small))
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		errPart            string
	}{
		{"put matching", "PUT", "/v1/blobs/" + smallCID.String(), small, 201, ""},
		{"put mismatching", "PUT", "/v1/blobs/" + want.String(), small, 400, "does not match"},
		{"get missing", "GET", "/v1/blobs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", nil, 404, "not found"},
		{"head missing", "HEAD", "/v1/blobs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", nil, 404, ""},
		{"bad cid", "GET", "/v1/blobs/nonsense", nil, 400, "unsupported CID"},
		{"too large", "POST", "/v1/blobs", make([]byte, 1<<20+1), 413, "too large"},
		{"delete", "DELETE", "/v1/blobs/" + want.String(), nil, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, srv.URL+tt.path, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.errPart) {
				t.Errorf("%s %s = %d %s; want %d containing %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.errPart)
			}
		})
	}
}

// TestHandlerTooLargeChunked checks the limit when no Content-Length is
// sent, so only the body reader can enforce it.
func TestHandlerTooLargeChunked(t *testing.T) {
	srv, s := newServer(t, 1000)
	data := castest.Random(5000, 4)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/blobs", io.MultiReader(bytes.NewReader(data)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversize upload: status %d, want 413", resp.StatusCode)
	}
	c, _, _ := cas.Sum(bytes.NewReader(data[:1000]))
	if ok, _ := s.Has(context.Background(), c); ok {
		t.Error("the truncated upload was stored")
	}
}

// TestHandlerAbortsCorruptBlob: a stored blob that fails verification
// while it is sent must not reach the client as a complete 200 response.
func TestHandlerAbortsCorruptBlob(t *testing.T) {
	dir := t.TempDir()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cas.NewHandler(s, cas.HandlerConfig{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	data := castest.Random(3*cas.ChunkSize, 5)
	c, err := s.Put(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	k := c.String()
	p := filepath.Join(dir, "blobs", k[len(k)-3:len(k)-1], k)
	data[len(data)-1] ^= 1
	os.Chmod(p, 0o644)
	os.WriteFile(p, data, 0o644)

	resp, err := http.Get(srv.URL + "/blobs/" + k)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the client read a corrupted blob to the end without an error")
	}
}
