package tlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
)

// Witness is the chain side of a node's logs: Handler asks it to publish
// a log's checkpoint on demand and reports what the chain witnessed.
type Witness interface {
	// Publish makes sure the log's latest checkpoint is witnessed on the
	// chain and returns the witnessed checkpoint.
	Publish(ctx context.Context, name string) (*Witnessed, error)
	// Witnessed returns the log's latest witnessed checkpoint (nil if none).
	Witnessed(ctx context.Context, name string) (*Witnessed, error)
}

// Witnessed is a checkpoint the chain accepted.
type Witnessed struct {
	Size       uint64 `json:"size"`
	Root       []byte `json:"root"`
	Checkpoint string `json:"checkpoint"`
	Height     int64  `json:"height"`
}

// HandlerConfig configures Handler.
type HandlerConfig struct {
	Manager *Manager
	// Witness, if set, backs POST /logs/{name}/publish and the witnessed
	// state in GET /logs/{name}.
	Witness Witness
	// PublisherAddress turns a log's publisher key into its chain address
	// for display (optional).
	PublisherAddress func(*Log) string
	// AllowRemoteWrites lets clients other than loopback create logs,
	// append and publish. Reads are always open.
	AllowRemoteWrites bool
	Logger            *slog.Logger
}

// Status answers GET /logs/{name}.
type Status struct {
	Info
	Size       uint64     `json:"size"`
	Checkpoint string     `json:"checkpoint"`
	Publisher  string     `json:"publisher,omitempty"`
	Witnessed  *Witnessed `json:"witnessed,omitempty"`
}

// Handler serves the logs of m under /logs/.
func Handler(cfg HandlerConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /logs", h.list)
	mux.HandleFunc("POST /logs", h.write(h.create))
	mux.HandleFunc("GET /logs/{name}", h.status)
	mux.HandleFunc("GET /logs/{name}/checkpoint", h.checkpoint)
	mux.HandleFunc("GET /logs/{name}/tile/{path...}", h.tile)
	mux.HandleFunc("POST /logs/{name}/entries", h.write(h.append))
	mux.HandleFunc("POST /logs/{name}/publish", h.write(h.publish))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Routes are the routes Handler serves, for the REST API's route list.
var Routes = []string{
	"GET /logs",
	"POST /logs",
	"GET /logs/{name}",
	"GET /logs/{name}/checkpoint",
	"GET /logs/{name}/tile/{path}",
	"POST /logs/{name}/entries",
	"POST /logs/{name}/publish",
}

type handler struct{ cfg HandlerConfig }

// writeErr writes the REST API's error shape.
func writeErr(w http.ResponseWriter, status int, kind, msg string) {
	writeJSONStatus(w, status, map[string]any{"error": map[string]any{"code": status, "codespace": "tlog", "kind": kind, "message": msg}})
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail maps an error to its HTTP status: the one table of this package.
func fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeErr(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrExists):
		writeErr(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, ErrEntryTooLarge):
		writeErr(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, ErrBadName), errors.Is(err, ErrEmptyEntry), errors.Is(err, errBadRequest):
		writeErr(w, http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeErr(w, http.StatusGatewayTimeout, "expired", err.Error())
	default:
		writeErr(w, http.StatusBadGateway, "internal", err.Error())
	}
}

var errBadRequest = errors.New("bad request")

func (h *handler) write(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.cfg.AllowRemoteWrites {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				writeErr(w, http.StatusForbidden, "unauthorized", "writes to logs are accepted from loopback only (app.toml [logs] allow_remote_writes)")
				return
			}
		}
		next(w, r)
	}
}

func (h *handler) log(w http.ResponseWriter, r *http.Request) (*Log, bool) {
	l, err := h.cfg.Manager.Get(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return nil, false
	}
	return l, true
}

func (h *handler) statusOf(ctx context.Context, l *Log) (Status, error) {
	st := Status{Info: l.Info()}
	if cp, err := l.Checkpoint(ctx); err == nil {
		st.Checkpoint = string(cp)
		if c, err := ParseCheckpoint(cp, l.Info().Origin, l.Verifier()); err == nil {
			st.Size = c.Size
		}
	}
	if h.cfg.PublisherAddress != nil {
		st.Publisher = h.cfg.PublisherAddress(l)
	}
	if h.cfg.Witness != nil {
		wd, err := h.cfg.Witness.Witnessed(ctx, l.Info().Name)
		if err != nil {
			return st, err
		}
		st.Witnessed = wd
	}
	return st, nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	out := []Status{}
	for _, l := range h.cfg.Manager.Logs() {
		st, err := h.statusOf(r.Context(), l)
		if err != nil {
			fail(w, err)
			return
		}
		out = append(out, st)
	}
	writeJSONStatus(w, http.StatusOK, out)
}

// CreateRequest is the body of POST /logs.
type CreateRequest struct {
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if !ValidPurpose(req.Purpose) {
		fail(w, fmt.Errorf("%w: purpose %q: want inference, training, agent or custom", errBadRequest, req.Purpose))
		return
	}
	l, err := h.cfg.Manager.Create(req.Name, req.Purpose)
	if err != nil {
		fail(w, err)
		return
	}
	st, err := h.statusOf(r.Context(), l)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, st)
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	l, ok := h.log(w, r)
	if !ok {
		return
	}
	st, err := h.statusOf(r.Context(), l)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, st)
}

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) {
	l, ok := h.log(w, r)
	if !ok {
		return
	}
	serveFile(w, r, filepath.Join(l.Dir(), layout.CheckpointPath), "text/plain; charset=utf-8", "no-cache")
}

// tile serves tlog-tiles resources. The path is parsed as a tile or
// entry bundle and rebuilt, so nothing else under the log's directory
// (tessera's .state/, temporary files, directories) can be reached.
func (h *handler) tile(w http.ResponseWriter, r *http.Request) {
	l, ok := h.log(w, r)
	if !ok {
		return
	}
	p := r.PathValue("path")
	var rel string
	var partial bool
	if rest, ok := strings.CutPrefix(p, "entries/"); ok {
		i, wd, err := layout.ParseTileIndexPartial(rest)
		if err != nil {
			writeErr(w, http.StatusNotFound, "not_found", "not an entry bundle path: "+p)
			return
		}
		rel, partial = layout.EntriesPath(i, wd), wd > 0
	} else {
		level, index, ok := strings.Cut(p, "/")
		if !ok {
			writeErr(w, http.StatusNotFound, "not_found", "not a tile path: "+p)
			return
		}
		lv, i, wd, err := layout.ParseTileLevelIndexPartial(level, index)
		if err != nil {
			writeErr(w, http.StatusNotFound, "not_found", "not a tile path: "+p)
			return
		}
		rel, partial = layout.TilePath(lv, i, wd), wd > 0
	}
	if rel != "tile/"+p {
		// Only the canonical spelling of a resource is served.
		writeErr(w, http.StatusNotFound, "not_found", "not a canonical tile path: "+p)
		return
	}
	cache := "public, max-age=31536000, immutable"
	if partial {
		cache = "public, max-age=60"
	}
	serveFile(w, r, filepath.Join(l.Dir(), rel), "application/octet-stream", cache)
}

func serveFile(w http.ResponseWriter, r *http.Request, path, contentType, cache string) {
	f, err := os.Open(path)
	if err != nil {
		// A missing partial tile is a 404: clients then fetch the full tile.
		writeErr(w, http.StatusNotFound, "not_found", "no such resource")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeErr(w, http.StatusNotFound, "not_found", "no such resource")
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", cache)
	http.ServeContent(w, r, "", time.Time{}, f)
}

// AppendResponse answers POST /logs/{name}/entries.
type AppendResponse struct {
	Index uint64 `json:"index"`
}

func (h *handler) append(w http.ResponseWriter, r *http.Request) {
	l, ok := h.log(w, r)
	if !ok {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxEntrySize+1))
	if err != nil {
		fail(w, fmt.Errorf("%w: failed to read the entry: %v", errBadRequest, err))
		return
	}
	if len(data) > MaxEntrySize {
		fail(w, fmt.Errorf("%w: over %d bytes (store larger payloads in the content store and log their CID)", ErrEntryTooLarge, MaxEntrySize))
		return
	}
	idx, err := l.Append(r.Context(), data)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, AppendResponse{Index: idx})
}

func (h *handler) publish(w http.ResponseWriter, r *http.Request) {
	l, ok := h.log(w, r)
	if !ok {
		return
	}
	if h.cfg.Witness == nil {
		writeErr(w, http.StatusServiceUnavailable, "internal", "this server does not publish checkpoints to a chain")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	wd, err := h.cfg.Witness.Publish(ctx, l.Info().Name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, wd)
}
