// Package httpapi is vai's REST API: chain status, accounts and balances
// (optionally with ICS23 proofs), transaction submission and lookup, the
// error code table, and an OpenAPI document at /openapi.json. Errors are
// JSON {"error": {code, codespace, kind, message}}; ledger error kinds map
// to HTTP statuses in one table (errors.go).
package httpapi

import (
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	json "github.com/go-json-experiment/json"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

//go:embed openapi.json
var openAPI []byte

// Config configures the server.
type Config struct {
	Address      string
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Server serves the REST API over a node client.
type Server struct {
	cfg Config
	c   *client.Client
	srv *http.Server
	ln  net.Listener
	mux *http.ServeMux
}

// New builds a server over c. Mount extra handlers with Handle before Start.
func New(cfg Config, c *client.Client) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, c: c, mux: http.NewServeMux()}
	s.routes()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return s
}

// Handle mounts an extra handler (for later modules' endpoints).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

type handler func(w http.ResponseWriter, r *http.Request) (any, error)

func (s *Server) route(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		v, err := h(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if v != nil {
			writeJSON(w, http.StatusOK, v)
		}
	})
}

// Routes lists the API's routes, as documented in openapi.json.
var Routes = []string{
	"GET /status",
	"GET /params",
	"GET /supply",
	"GET /errors",
	"GET /accounts/{address}",
	"GET /accounts/{address}/balance",
	"POST /txs",
	"POST /txs/estimate",
	"GET /txs/{hash}",
	"GET /openapi.json",
	"GET /registry/records/{id}",
	"GET /registry/lineage/{id}",
	"GET /registry/datasets",
	"GET /registry/models",
	"GET /registry/aliases/{name}/{alias}",
	"GET /registry/works/{hash}",
	"GET /registry/deny/{hash}",
	"GET /registry/params",
	"GET /market/params",
	"GET /market/providers",
	"GET /market/providers/{address}",
	"GET /market/offers/{model}",
	"GET /market/jobs",
	"GET /market/jobs/{id}",
	"GET /market/sessions/{id}",
	"GET /market/sessions/{id}/batches",
	"GET /market/batches/{id}",
	"GET /blobs/{cid}",
	"HEAD /blobs/{cid}",
	"PUT /blobs/{cid}",
	"POST /blobs",
	// Verifiable logs (package tlog), mounted by the node when enabled.
	"GET /logs",
	"POST /logs",
	"GET /logs/{name}",
	"GET /logs/{name}/checkpoint",
	"GET /logs/{name}/tile/{path}",
	"POST /logs/{name}/entries",
	"POST /logs/{name}/publish",
}

func (s *Server) routes() {
	s.route("GET /status", s.status)
	s.route("GET /params", s.params)
	s.route("GET /supply", s.supply)
	s.route("GET /errors", s.errors)
	s.route("GET /accounts/{address}", s.account)
	s.route("GET /accounts/{address}/balance", s.balance)
	s.route("POST /txs", s.submit)
	s.route("POST /txs/estimate", s.estimate)
	s.route("GET /txs/{hash}", s.tx)
	s.registryRoutes()
	s.marketRoutes()
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	s.route("/", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, notFound(fmt.Sprintf("no route %s %s (see /openapi.json)", r.Method, r.URL.Path))
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("REST API: %w", err)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("REST API stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close shuts the server down, waiting briefly for requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func (s *Server) status(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.c.Status(r.Context())
}

func (s *Server) params(_ http.ResponseWriter, r *http.Request) (any, error) {
	var p ledger.Params
	_, err := s.c.Query(r.Context(), ledger.QueryParams, nil, &p, 0)
	return p, err
}

func (s *Server) supply(_ http.ResponseWriter, r *http.Request) (any, error) {
	var v map[string]any
	_, err := s.c.Query(r.Context(), "/bank/supply", nil, &v, 0)
	return v, err
}

// ErrorCode is one row of GET /errors.
type ErrorCode struct {
	Codespace  string `json:"codespace"`
	Code       uint32 `json:"code"`
	Kind       string `json:"kind"`
	HTTPStatus int    `json:"http_status"`
	Desc       string `json:"description"`
}

func (s *Server) errors(http.ResponseWriter, *http.Request) (any, error) {
	var out []ErrorCode
	for _, e := range ledger.RegisteredErrors() {
		out = append(out, ErrorCode{Codespace: e.Codespace, Code: e.Code, Kind: e.Kind.String(), HTTPStatus: statusOf[e.Kind], Desc: e.Desc})
	}
	return out, nil
}

func address(r *http.Request) (wire.Address, error) {
	a, err := wire.ParseAddress(r.PathValue("address"))
	if err != nil {
		return a, badRequest(err.Error())
	}
	return a, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(fmt.Sprintf("query parameter %s=%q is not a boolean", name, v))
	}
	return b, nil
}

// AccountResponse answers GET /accounts/{address}.
type AccountResponse struct {
	Address      wire.Address `json:"address"`
	Balance      wire.Coin    `json:"balance"`
	NextSequence uint64       `json:"next_sequence"`
	UsedAhead    []uint64     `json:"used_ahead,omitempty"`
	Height       int64        `json:"height"`
	Pending      bool         `json:"pending,omitzero"`
}

func (s *Server) account(_ http.ResponseWriter, r *http.Request) (any, error) {
	a, err := address(r)
	if err != nil {
		return nil, err
	}
	pending, err := boolParam(r, "pending")
	if err != nil {
		return nil, err
	}
	bal, h, err := s.c.Balance(r.Context(), a)
	if err != nil {
		return nil, err
	}
	acc, err := s.c.Account(r.Context(), a, pending)
	if err != nil {
		return nil, err
	}
	return AccountResponse{Address: a, Balance: bal, NextSequence: acc.NextSequence, UsedAhead: acc.UsedAhead, Height: h, Pending: pending}, nil
}

// BalanceResponse answers GET /accounts/{address}/balance.
type BalanceResponse struct {
	Address wire.Address `json:"address"`
	Amount  wire.Coin    `json:"amount"`
	Height  int64        `json:"height"`
	// Proof, with ?prove=true: an ICS23 proof (protobuf, base64) that the
	// key holds the value in the state at Height, whose root is the app
	// hash in the header at Height+1. Check it against a header you verify.
	Proof *StoreProof `json:"proof,omitempty"`
}

// StoreProof is a raw state proof.
type StoreProof struct {
	Key   string `json:"key"`   // base64
	Value string `json:"value"` // base64; empty when the key is absent
	ICS23 string `json:"ics23"` // base64 protobuf CommitmentProof
	Type  string `json:"type"`
}

func (s *Server) balance(_ http.ResponseWriter, r *http.Request) (any, error) {
	a, err := address(r)
	if err != nil {
		return nil, err
	}
	prove, err := boolParam(r, "prove")
	if err != nil {
		return nil, err
	}
	if !prove {
		bal, h, err := s.c.Balance(r.Context(), a)
		return BalanceResponse{Address: a, Amount: bal, Height: h}, err
	}
	key := client.BalanceKey(a)
	res, err := s.c.RPC().ABCIQueryWithOptions(r.Context(), ledger.QueryStore, key, rpcclient.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, err
	}
	q := res.Response
	if q.Code != 0 {
		return nil, coded(q.Codespace, q.Code, q.Log)
	}
	out := BalanceResponse{Address: a, Amount: wire.UVAI(ledger.Uint64(q.Value)), Height: q.Height}
	if q.ProofOps != nil && len(q.ProofOps.Ops) == 1 {
		op := q.ProofOps.Ops[0]
		enc := base64.StdEncoding
		out.Proof = &StoreProof{Key: enc.EncodeToString(key), Value: enc.EncodeToString(q.Value), ICS23: enc.EncodeToString(op.Data), Type: op.Type}
	}
	return out, nil
}

// SubmitResponse answers POST /txs.
type SubmitResponse struct {
	Hash string `json:"hash"`
	// Result is set with ?wait=true.
	Result *client.TxResult `json:"result,omitempty"`
}

func (s *Server) readTx(r *http.Request) ([]byte, error) {
	env, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, coded(ledger.Codespace, ledger.ErrTxTooLarge.Code, fmt.Sprintf("request body over %d bytes", mbe.Limit))
		}
		return nil, badRequest("failed to read the request body: " + err.Error())
	}
	if len(env) == 0 {
		return nil, badRequest("empty body: POST a signed transaction envelope (see the wire package)")
	}
	return env, nil
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) (any, error) {
	env, err := s.readTx(r)
	if err != nil {
		return nil, err
	}
	wait, err := boolParam(r, "wait")
	if err != nil {
		return nil, err
	}
	hash, err := s.c.Broadcast(r.Context(), env)
	if err != nil {
		return nil, err
	}
	if !wait {
		// Resubmitting a committed transaction is harmless (the node's
		// cache drops it); say what became of it.
		if res, err := s.c.Tx(r.Context(), hash); err == nil {
			return SubmitResponse{Hash: hash, Result: res}, nil
		}
		writeJSON(w, http.StatusAccepted, SubmitResponse{Hash: hash})
		return nil, nil
	}
	var timeout uint64
	if tx, err := wire.Decode(env, 0); err == nil {
		timeout = tx.Body.TimeoutHeight
	}
	ctx, cancel := context.WithTimeout(r.Context(), 50*time.Second)
	defer cancel()
	res, err := s.c.WaitTx(ctx, hash, timeout)
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, coded(res.Codespace, res.Code, res.Log)
	}
	return SubmitResponse{Hash: hash, Result: res}, nil
}

func (s *Server) estimate(_ http.ResponseWriter, r *http.Request) (any, error) {
	env, err := s.readTx(r)
	if err != nil {
		return nil, err
	}
	gas, fee, err := s.c.Estimate(r.Context(), env)
	if err != nil {
		return nil, err
	}
	return map[string]any{"gas": gas, "fee": fee}, nil
}

func (s *Server) tx(_ http.ResponseWriter, r *http.Request) (any, error) {
	h := r.PathValue("hash")
	if len(strings.TrimPrefix(strings.ToLower(h), "0x")) != 64 {
		return nil, badRequest(fmt.Sprintf("invalid transaction hash %q: want 64 hex digits", h))
	}
	return s.c.Tx(r.Context(), h)
}
