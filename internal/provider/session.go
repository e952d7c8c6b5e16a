package provider

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/manifest"
	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/wire"
)

// Sessions: buyers call the provider directly over HTTP, each call signed
// with the buyer's key; the provider answers with the output and a signed
// receipt, keeps every record on disk (synced before the receipt leaves),
// and settles the records in batches under a Merkle root.
//
//	GET  /v1/sessions/{id}        {"session": …, "next_seq": N}
//	POST /v1/sessions/{id}/calls  [Call, …] → [Receipt, …]

// Call is one signed request of a session.
type Call struct {
	Seq   uint64 `json:"seq"`
	Input []byte `json:"input"`
	// Sig is the buyer's signature of market.CallRequestBytes(session,
	// seq, SHA-256(input)).
	Sig []byte `json:"sig"`
}

// Receipt answers a call: the record the provider will settle, signed,
// and the output whose digest the record carries.
type Receipt struct {
	Record []byte `json:"record"`
	Sig    []byte `json:"sig"`
	Output []byte `json:"output"`
}

// SessionInfo answers GET /v1/sessions/{id}.
type SessionInfo struct {
	Session market.Session `json:"session"`
	NextSeq uint64         `json:"next_seq"`
}

// SessionConfig configures a SessionServer.
type SessionConfig struct {
	Daemon *Daemon
	// BatchSize: settle once this many calls are waiting; BatchEvery: at
	// least this often.
	BatchSize  int
	BatchEvery time.Duration
	// MaxCallsPerRequest bounds a request (default 4096).
	MaxCallsPerRequest int
}

// SessionServer serves sessions and settles their calls.
type SessionServer struct {
	cfg SessionConfig
	d   *Daemon
	dir string

	mu       sync.Mutex
	sessions map[uint64]*sessionState
	// Batches counts batches settled, Calls calls served.
	Batches, Calls int
}

type sessionState struct {
	mu      sync.Mutex
	info    market.Session
	exec    *vairt.Executor
	digest  string
	file    *os.File
	next    uint64   // next sequence number to accept
	settled uint64   // calls claimed by batches on the chain
	pending [][]byte // records [settled, next)
	allowed uint64   // calls the deposit pays for, in total
	failed  error
}

// NewSessionServer prepares a session server for a daemon.
func NewSessionServer(cfg SessionConfig) (*SessionServer, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchEvery <= 0 {
		cfg.BatchEvery = 5 * time.Second
	}
	if cfg.MaxCallsPerRequest <= 0 {
		cfg.MaxCallsPerRequest = 4096
	}
	dir := filepath.Join(cfg.Daemon.store.dir, "sessions")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &SessionServer{cfg: cfg, d: cfg.Daemon, dir: dir, sessions: map[uint64]*sessionState{}}, nil
}

// Handler is the HTTP API.
func (s *SessionServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sessions/{id}", s.info)
	mux.HandleFunc("POST /v1/sessions/{id}/calls", s.calls)
	return mux
}

// ListenAndServe serves on addr and settles batches until ctx ends, then
// settles what is waiting.
func (s *SessionServer) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener.
func (s *SessionServer) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	done := make(chan struct{})
	go func() {
		s.batcher(ctx)
		close(done)
	}()
	err := srv.Serve(ln)
	<-done // the calls waiting are settled before Serve returns
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": fmt.Sprintf(format, args...)}})
}

func (s *SessionServer) info(w http.ResponseWriter, r *http.Request) {
	st, code, err := s.session(r.Context(), r.PathValue("id"))
	if err != nil {
		httpError(w, code, "%v", err)
		return
	}
	st.mu.Lock()
	out := SessionInfo{Session: st.info, NextSeq: st.next}
	st.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// session loads a session's state: from the chain the first time, with
// the records this provider kept on disk.
func (s *SessionServer) session(ctx context.Context, idText string) (*sessionState, int, error) {
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("session id %q", idText)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.sessions[id]; ok {
		return st, 0, nil
	}
	var info market.Session
	if _, err := s.d.cfg.Chain.Query(ctx, "/market/session", map[string]any{"id": id}, &info, 0); err != nil {
		return nil, http.StatusNotFound, err
	}
	if info.Provider != s.d.addr {
		return nil, http.StatusNotFound, fmt.Errorf("session %d is with %s, not this provider", id, info.Provider)
	}
	if info.State != market.SessionOpen {
		return nil, http.StatusGone, fmt.Errorf("session %d is %s", id, info.State)
	}
	var offer market.Offer
	if _, err := s.d.cfg.Chain.Query(ctx, "/market/offer", map[string]any{"model": info.Model}, &offer, 0); err != nil {
		return nil, http.StatusBadGateway, err
	}
	if offer.Format != "vaim" {
		return nil, http.StatusNotImplemented, fmt.Errorf("sessions serve vaim models; %s is %s", info.Model, offer.Format)
	}
	exec := s.d.cfg.Runner.Cached(offer.ArtifactDigest)
	if exec == nil {
		art, err := s.d.artifact(ctx, &market.Job{Model: info.Model}, &offer)
		if err != nil {
			return nil, http.StatusBadGateway, err
		}
		if exec, err = s.d.cfg.Runner.Load(art, offer.ArtifactDigest); err != nil {
			return nil, http.StatusBadGateway, err
		}
	}
	st := &sessionState{info: info, exec: exec, digest: offer.ArtifactDigest, settled: info.Calls}
	if err := s.recover(st); err != nil {
		return nil, http.StatusInternalServerError, err
	}
	st.allowed = info.Calls + info.Deposit.Amount/(info.ModelPrice.Amount+info.ComputePrice.Amount)
	s.sessions[id] = st
	return st, 0, nil
}

// recover reads a session's records file: every record this provider
// answered, in order. Those past the chain's count are still to settle.
func (s *SessionServer) recover(st *sessionState) error {
	path := filepath.Join(s.dir, strconv.FormatUint(st.info.ID, 10)+".jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	var good int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var n uint64
	for sc.Scan() {
		line := sc.Bytes()
		var r market.CallRecord
		if json.Unmarshal(line, &r) != nil || r.Seq != n {
			break // a torn last line: it was never acknowledged
		}
		if n >= st.settled {
			st.pending = append(st.pending, bytes.Clone(line))
		}
		n++
		good += int64(len(line)) + 1
	}
	if err := f.Truncate(good); err != nil {
		return err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return err
	}
	if n < st.settled {
		return fmt.Errorf("session %d: the chain has %d calls settled, the records file only %d", st.info.ID, st.settled, n)
	}
	st.file, st.next = f, n
	return nil
}

func (s *SessionServer) calls(w http.ResponseWriter, r *http.Request) {
	st, code, err := s.session(r.Context(), r.PathValue("id"))
	if err != nil {
		httpError(w, code, "%v", err)
		return
	}
	var calls []Call
	dec := json.NewDecoder(io.LimitReader(r.Body, 256<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&calls); err != nil {
		httpError(w, http.StatusBadRequest, "a JSON array of calls: %v", err)
		return
	}
	if len(calls) == 0 || len(calls) > s.cfg.MaxCallsPerRequest {
		httpError(w, http.StatusBadRequest, "1 to %d calls per request", s.cfg.MaxCallsPerRequest)
		return
	}
	out, code, err := s.serve(st, calls)
	if err != nil {
		httpError(w, code, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// serve runs a request's calls in order, under the session's lock (calls
// are sequenced), writes their records durably and signs the receipts.
func (s *SessionServer) serve(st *sessionState, calls []Call) ([]Receipt, int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failed != nil {
		return nil, http.StatusGone, st.failed
	}
	if st.next+uint64(len(calls)) > st.allowed {
		return nil, http.StatusPaymentRequired, fmt.Errorf("session %d's deposit pays for %d calls; %d are taken", st.info.ID, st.allowed, st.next)
	}
	out := make([]Receipt, len(calls))
	var buf bytes.Buffer
	for i, c := range calls {
		seq := st.next + uint64(i)
		if c.Seq != seq {
			return nil, http.StatusConflict, fmt.Errorf("call %d of the request is numbered %d; the session's next call is %d", i, c.Seq, seq)
		}
		in := Digest(c.Input)
		if !wire.VerifySignature(st.info.BuyerKey, market.CallRequestBytes(st.info.ID, seq, in), c.Sig) {
			return nil, http.StatusUnauthorized, fmt.Errorf("call %d: not signed by the session's buyer", seq)
		}
		o, err := Run(st.exec, st.digest, c.Input)
		if err != nil {
			o = (&Output{Model: "sha256:" + st.digest, Input: hex.EncodeToString(in), Error: err.Error()}).Encode()
		}
		if s.d.cfg.Fault == FaultWrongOutput {
			o = append([]byte("tampered:"), o...)
		}
		id, _, err := cas.Sum(bytes.NewReader(o))
		if err != nil {
			return nil, http.StatusInternalServerError, err
		}
		rec := (&market.CallRecord{Session: st.info.ID, Seq: seq, Model: st.info.Model, InputDigest: in, OutputDigest: Digest(o),
			OutputCID: id.String(), BuyerSig: c.Sig}).Encode()
		buf.Write(rec)
		buf.WriteByte('\n')
		out[i] = Receipt{Record: rec, Sig: ed25519.Sign(s.d.cfg.Key, market.ReceiptBytes(rec)), Output: o}
	}
	// The records are on disk before any receipt leaves.
	if _, err := st.file.Write(buf.Bytes()); err != nil {
		return nil, http.StatusInternalServerError, err
	}
	if err := st.file.Sync(); err != nil {
		return nil, http.StatusInternalServerError, err
	}
	for _, rc := range out {
		st.pending = append(st.pending, rc.Record)
	}
	st.next += uint64(len(calls))
	s.mu.Lock()
	s.Calls += len(calls)
	s.mu.Unlock()
	return out, 0, nil
}

// batcher settles waiting calls: when a session has BatchSize waiting, or
// every BatchEvery.
func (s *SessionServer) batcher(ctx context.Context) {
	tick := time.NewTicker(min(s.cfg.BatchEvery, 200*time.Millisecond))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			// Settle what is waiting before going.
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			s.SettleAll(sctx, 1)
			cancel()
			return
		case <-tick.C:
		}
		minCalls := s.cfg.BatchSize
		if time.Since(last) >= s.cfg.BatchEvery {
			minCalls, last = 1, time.Now()
		}
		if err := s.SettleAll(ctx, minCalls); err != nil && ctx.Err() == nil {
			s.d.log.Warn("settling batches", "err", err)
		}
	}
}

// SettleAll settles every session with at least minCalls waiting, in one
// transaction.
func (s *SessionServer) SettleAll(ctx context.Context, minCalls int) error {
	s.mu.Lock()
	var ready []*sessionState
	for _, st := range s.sessions {
		ready = append(ready, st)
	}
	s.mu.Unlock()
	type claim struct {
		st    *sessionState
		count uint64
	}
	var claims []claim
	var msgs []wire.Msg
	for _, st := range ready {
		st.mu.Lock()
		recs := st.pending
		from := st.settled
		st.mu.Unlock()
		if len(recs) < minCalls || len(recs) == 0 {
			continue
		}
		recs = recs[:min(len(recs), market.MaxBatchCalls)]
		if s.d.cfg.Fault == FaultAlterBatch {
			var r market.CallRecord
			if err := json.Unmarshal(recs[0], &r); err == nil {
				r.OutputDigest = Digest([]byte("altered"))
				recs = append([][]byte{r.Encode()}, recs[1:]...)
			}
		}
		leaves := make([][]byte, len(recs))
		var blob bytes.Buffer
		for i, r := range recs {
			leaves[i] = market.LeafHash(r)
			blob.Write(r)
			blob.WriteByte('\n')
		}
		cid, err := s.d.cfg.Blobs.PutBlob(ctx, blob.Bytes())
		if err != nil {
			return err
		}
		m, err := wire.NewMsg("market/settle_batch", market.MsgSettleBatch{Session: st.info.ID, From: from, Count: uint64(len(recs)),
			Root: manifest.NewTree(leaves).Root(), RecordsCID: cid})
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		claims = append(claims, claim{st, uint64(len(recs))})
	}
	if len(msgs) == 0 {
		return nil
	}
	res, err := s.d.sendMsgs(ctx, msgs)
	if err != nil {
		return err
	}
	if res.Code != 0 {
		// Re-read the sessions from the chain next time.
		s.mu.Lock()
		for _, c := range claims {
			delete(s.sessions, c.st.info.ID)
			c.st.file.Close()
		}
		s.mu.Unlock()
		return fmt.Errorf("settle batches: %s", res.Log)
	}
	for _, c := range claims {
		c.st.mu.Lock()
		c.st.settled += c.count
		c.st.pending = c.st.pending[c.count:]
		c.st.mu.Unlock()
	}
	s.mu.Lock()
	s.Batches += len(claims)
	s.mu.Unlock()
	return nil
}
