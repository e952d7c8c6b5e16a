package cas

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ipfs/go-cid"
)

// DefaultMaxUpload is Handler's upload limit when none is set.
const DefaultMaxUpload = 1 << 30

// HandlerConfig configures NewHandler.
type HandlerConfig struct {
	// MaxUpload is the largest blob a PUT or POST may upload, in bytes;
	// 0 means DefaultMaxUpload, negative forbids uploads.
	MaxUpload int64
	// Logger receives server-side errors; nil means slog.Default().
	Logger *slog.Logger
}

// NewHandler serves s over HTTP:
//
//	GET  /blobs/{cid}   the blob (404 if absent); HEAD gives its headers
//	POST /blobs         upload a blob; 201 with {"cid": …, "size": …}
//	PUT  /blobs/{cid}   upload a blob that must have that CID; 201, or 400
//
// Errors are JSON objects {"error": "…"} with 400 (bad CID), 404, 405, 413
// (too large) or 500. Blobs are immutable, so GET sets an ETag and a
// year-long Cache-Control. If a stored blob fails verification while it is
// sent, the connection is aborted so that the client sees a truncated
// response, never a wrong one with a success status.
//
// Mount it under a prefix with http.StripPrefix.
func NewHandler(s Store, cfg HandlerConfig) http.Handler {
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handler{s: s, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /blobs/{cid}", h.get) // also HEAD
	mux.HandleFunc("POST /blobs", h.post)
	mux.HandleFunc("PUT /blobs/{cid}", h.put)
	return mux
}

type handler struct {
	s   Store
	cfg HandlerConfig
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := Parse(r.PathValue("cid"))
	if err != nil {
		h.fail(w, err)
		return
	}
	info, err := h.s.Stat(r.Context(), c)
	if err != nil {
		h.fail(w, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	hd.Set("ETag", `"`+c.String()+`"`)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == `"`+c.String()+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	rc, err := h.s.Get(r.Context(), c)
	if err != nil {
		hd.Del("Content-Length")
		h.fail(w, err)
		return
	}
	defer rc.Close()
	if err := copyVerified(w, rc); err != nil {
		if r.Context().Err() == nil {
			h.cfg.Logger.Error("failed to send blob", "cid", c.String(), "err", err)
		}
		panic(http.ErrAbortHandler) // the status is sent; only an abort tells the client
	}
}

// copyVerified copies a verifying reader to w, holding back the last bytes
// read until the reader reaches a clean EOF. The verdict comes only at the
// end, and with Content-Length sent, a client that got every byte would
// take the response as complete even if the handler then aborted.
func copyVerified(w io.Writer, r io.Reader) error {
	buf := make([]byte, 64<<10)
	held := make([]byte, 0, len(buf))
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(held); werr != nil {
				return werr
			}
			held = append(held[:0], buf[:n]...)
		}
		if err == io.EOF {
			_, werr := w.Write(held)
			return werr
		}
		if err != nil {
			return err
		}
	}
}

func (h *handler) post(w http.ResponseWriter, r *http.Request) {
	c, n, err := h.upload(w, r)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", "blobs/"+c.String())
	writeJSON(w, http.StatusCreated, map[string]any{"cid": c.String(), "size": n})
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	want, err := Parse(r.PathValue("cid"))
	if err != nil {
		h.fail(w, err)
		return
	}
	c, n, err := h.upload(w, r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if !c.Equals(want) {
		h.fail(w, fmt.Errorf("%w: uploaded content has CID %s, not %s", ErrCorrupt, c, want))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"cid": c.String(), "size": n})
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request) (c cid.Cid, n int64, err error) {
	if h.cfg.MaxUpload < 0 {
		return c, 0, fmt.Errorf("%w: uploads are disabled", ErrTooLarge)
	}
	if r.ContentLength > h.cfg.MaxUpload {
		return c, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, h.cfg.MaxUpload)
	}
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, h.cfg.MaxUpload)}
	c, err = h.s.Put(r.Context(), body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return c, 0, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, h.cfg.MaxUpload)
	}
	return c, body.n, err
}

// fail writes err with the status that its kind maps to. This is the one
// place where store errors become HTTP statuses.
func (h *handler) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrUnsupportedCID), errors.Is(err, ErrCorrupt):
		status = http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		h.cfg.Logger.Error("blob request failed", "err", err)
		msg = "internal error"
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
