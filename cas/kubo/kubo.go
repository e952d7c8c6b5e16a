// Package kubo is a cas.Store kept in an IPFS kubo node, over kubo's HTTP
// RPC API (/api/v0, POST only).
//
// Put adds blobs with the parameters that make kubo's CID the one cas.Sum
// computes (cid-version=1, raw leaves, 256 KiB chunks, SHA-256) and pins
// them once complete; Has reports pinned blobs. It computes the CID itself as it streams, and fails if kubo
// answers with another one (a node configured with other import defaults,
// such as Import.UnixFSFileMaxLinks), so CIDs agree across backends. Get
// verifies what kubo returns against the CID, so the node need not be
// trusted.
//
// The RPC API has full control of the node: point Config.URL only at a
// node on loopback or behind authentication.
package kubo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/vai-dev/vai/cas"
)

// DefaultURL is kubo's default RPC API address.
const DefaultURL = "http://127.0.0.1:5001"

// Config configures a Store.
type Config struct {
	// URL is the RPC API's base URL, without /api/v0; "" means DefaultURL.
	URL string
	// Client is the HTTP client; nil means http.DefaultClient.
	Client *http.Client
	// Offline makes Get and Stat look only at the node's own blocks, so a
	// missing blob fails at once with cas.ErrNotFound instead of being
	// searched for on the IPFS network until the context ends.
	Offline bool
}

// Store is a cas.Store in a kubo node.
type Store struct {
	base    string
	client  *http.Client
	offline bool
}

var _ cas.Store = (*Store)(nil)

// New returns a Store for the node at cfg.URL. It does not contact it.
func New(cfg Config) (*Store, error) {
	base := cfg.URL
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid kubo RPC URL %q", cfg.URL)
	}
	client := cfg.Client
	if client == nil {
		client = http.DefaultClient
	}
	return &Store{base: strings.TrimSuffix(base, "/") + "/api/v0/", client: client, offline: cfg.Offline}, nil
}

// addParams make kubo compute cas.Sum's CID.
var addParams = url.Values{
	"cid-version": {"1"},
	"raw-leaves":  {"true"},
	"chunker":     {fmt.Sprintf("size-%d", cas.ChunkSize)},
	"hash":        {"sha2-256"},
	"pin":         {"false"}, // pinned once the CID is checked (see Put)
	"progress":    {"false"},
	"quieter":     {"true"},
}

// Put implements cas.Store.
func (s *Store) Put(ctx context.Context, r io.Reader) (cid.Cid, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := cas.NewHasher()
	done := make(chan struct{})
	go func() {
		defer close(done)
		part, err := mw.CreateFormFile("file", "blob")
		if err == nil {
			_, err = io.Copy(io.MultiWriter(part, h), r)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"add?"+addParams.Encode(), pr)
	if err != nil {
		pr.Close()
		<-done
		return cid.Undef, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var out struct{ Hash string }
	err = s.do(req, &out)
	pr.CloseWithError(errors.New("request finished")) // stop the writer if kubo quit early
	<-done                                            // r is not read after Put returns
	if err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob in kubo: %w", err)
	}
	got, err := cid.Decode(out.Hash)
	if err != nil {
		return cid.Undef, fmt.Errorf("failed to store blob in kubo: bad CID %q in reply", out.Hash)
	}
	if want := h.CID(); !got.Equals(want) {
		return cid.Undef, fmt.Errorf("kubo stored the blob as %s but its CID is %s: the node's import settings differ from cas.Sum's", got, want)
	}
	// Pin only now: kubo adds whatever arrived of an interrupted upload, so
	// pinning in the add itself would keep partial blobs. Unpinned blocks
	// are garbage that kubo's GC removes.
	if err := s.call(ctx, "pin/add", url.Values{"arg": {got.String()}, "recursive": {"true"}}, &struct{}{}); err != nil {
		return cid.Undef, fmt.Errorf("failed to pin blob in kubo: %w", err)
	}
	return got, nil
}

// Get implements cas.Store.
func (s *Store) Get(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	c, err := cas.Normalize(c)
	if err != nil {
		return nil, err
	}
	resp, err := s.post(ctx, "cat", s.params(c))
	if err != nil {
		return nil, err
	}
	return readCloser{cas.VerifyReader(streamErr{resp}, c), resp.Body}, nil
}

// Has implements cas.Store: a blob is stored when the node pins it
// recursively, as Put does. Blocks the node merely caches do not count.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	c, err := cas.Normalize(c)
	if err != nil {
		return false, err
	}
	v := url.Values{"arg": {c.String()}, "type": {"recursive"}, "offline": {"true"}}
	var out struct{ Keys map[string]any }
	if err := s.call(ctx, "pin/ls", v, &out); err != nil {
		if errors.Is(err, cas.ErrNotFound) || strings.Contains(err.Error(), "not pinned") {
			return false, nil
		}
		return false, err
	}
	return len(out.Keys) > 0, nil
}

// Stat implements cas.Store.
func (s *Store) Stat(ctx context.Context, c cid.Cid) (cas.Info, error) {
	c, err := cas.Normalize(c)
	if err != nil {
		return cas.Info{}, err
	}
	v := s.params(c)
	v.Set("arg", "/ipfs/"+c.String())
	var out struct {
		Size int64
		Type string
	}
	if err := s.call(ctx, "files/stat", v, &out); err != nil {
		return cas.Info{}, err
	}
	if out.Type != "file" {
		return cas.Info{}, fmt.Errorf("%w: %s is a %s, not a file", cas.ErrUnsupportedCID, c, out.Type)
	}
	return cas.Info{CID: c, Size: out.Size}, nil
}

func (s *Store) params(c cid.Cid) url.Values {
	v := url.Values{"arg": {c.String()}}
	if s.offline {
		v.Set("offline", "true")
	}
	return v
}

func (s *Store) call(ctx context.Context, cmd string, v url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+cmd+"?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	return s.do(req, out)
}

func (s *Store) post(ctx context.Context, cmd string, v url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+cmd+"?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kubo %s: %w", cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, replyErr(resp)
	}
	return resp, nil
}

func (s *Store) do(req *http.Request, out any) error {
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("kubo: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return replyErr(resp)
	}
	// add streams one JSON object per file; the last one is the root.
	dec := json.NewDecoder(resp.Body)
	for {
		err := dec.Decode(out)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kubo: bad reply: %w", err)
		}
	}
}

// replyErr turns kubo's {"Message": …} error reply into an error, wrapping
// cas.ErrNotFound for missing blocks.
func replyErr(resp *http.Response) error {
	var e struct{ Message string }
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
	}
	if strings.Contains(e.Message, "not found") {
		return fmt.Errorf("%w: kubo: %s", cas.ErrNotFound, e.Message)
	}
	return fmt.Errorf("kubo: %s (HTTP %d)", e.Message, resp.StatusCode)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// streamErr reports the error kubo sends in the X-Stream-Error trailer
// when a stream fails midway.
type streamErr struct{ resp *http.Response }

func (r streamErr) Read(p []byte) (int, error) {
	n, err := r.resp.Body.Read(p)
	if err == io.EOF {
		if msg := r.resp.Trailer.Get("X-Stream-Error"); msg != "" {
			return n, fmt.Errorf("kubo: %s", msg)
		}
	}
	return n, err
}
