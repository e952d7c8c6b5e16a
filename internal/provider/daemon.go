package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/provenance"
	"github.com/vai-dev/vai/tlog"
	"github.com/vai-dev/vai/wire"
)

// Faults a provider can be told to commit, to demonstrate and test that
// the market catches them. Never set in normal operation.
const (
	FaultNone        = ""
	FaultWrongOutput = "wrong-output" // report a different output than the model gives
	FaultAlterBatch  = "alter-batch"  // settle a session batch whose first record differs from its receipt
)

// Config configures a Daemon.
type Config struct {
	Chain *client.Client
	Blobs *provenance.Client
	Key   ed25519.PrivateKey
	// Dir holds the daemon's state (work records, session records).
	Dir string
	// Poll is how often it looks for work (default 200ms).
	Poll   time.Duration
	Runner *Runner
	Log    *slog.Logger
	// LogName, if set, is an inference log on the node (Blobs.API) that
	// gets a record of every inference served.
	LogName string
	// Fault makes the provider misbehave (FaultWrongOutput).
	Fault string
	// MaxMsgs per transaction (default and at most wire.MaxMsgs).
	MaxMsgs int
	// TimeoutBlocks of its transactions (default 10).
	TimeoutBlocks int64
	// Parallel jobs run at once in a step (default 8), and MaxRun new
	// jobs at most in one step (default 256).
	Parallel, MaxRun int
	// ZK proves zk jobs, by model id.
	ZK map[string]*ZKProver
	// Decrypt opens what was encrypted to this provider's key: granted
	// weights and encrypted inputs (nil: public artifacts and inputs only).
	Decrypt func(ciphertext []byte) ([]byte, error)
}

// Daemon serves the jobs assigned to one provider key.
type Daemon struct {
	cfg   Config
	addr  wire.Address
	store *Store
	log   *slog.Logger
	// txMu orders signing and broadcasting: the next transaction's
	// sequence is read from the node's mempool.
	txMu sync.Mutex
	// Served counts results computed, Sent transactions sent.
	Served, Sent atomic.Int64
}

// New prepares a daemon.
func New(cfg Config) (*Daemon, error) {
	if cfg.Poll == 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.MaxMsgs <= 0 || cfg.MaxMsgs > wire.MaxMsgs {
		cfg.MaxMsgs = wire.MaxMsgs
	}
	if cfg.TimeoutBlocks == 0 {
		cfg.TimeoutBlocks = 10
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.MaxRun <= 0 {
		cfg.MaxRun = 256
	}
	if cfg.Runner == nil {
		cfg.Runner = &Runner{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch cfg.Fault {
	case FaultNone, FaultWrongOutput, FaultAlterBatch:
	default:
		return nil, fmt.Errorf("unknown fault %q", cfg.Fault)
	}
	st, err := OpenStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	addr := wire.AddressFromPubKey(cfg.Key.Public().(ed25519.PublicKey))
	return &Daemon{cfg: cfg, addr: addr, store: st, log: cfg.Log.With("provider", addr.String())}, nil
}

// Address is the provider's address.
func (d *Daemon) Address() wire.Address { return d.addr }

// Run serves until ctx ends.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("serving jobs", "poll", d.cfg.Poll, "fault", d.cfg.Fault)
	for {
		if _, err := d.Step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Warn("step failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.cfg.Poll):
		}
	}
}

type action struct {
	w   *Work
	msg wire.Msg
}

// Step does one round of work: it reads the provider's open assignments,
// runs what is new (in parallel), records the results durably with one
// fsync, and sends the commitments, results, reveals and declines due in
// transactions of up to MaxMsgs messages. It returns how many messages
// were accepted.
func (d *Daemon) Step(ctx context.Context) (int, error) {
	var jobs []market.Job
	height, err := d.cfg.Chain.Query(ctx, "/market/assignments", map[string]any{"provider": d.addr}, &jobs, 0)
	if err != nil {
		return 0, err
	}
	open := map[uint64]bool{}
	var acts []action
	var run []*planned
	seen := map[string]error{}
	for i := range jobs {
		j := &jobs[i]
		open[j.ID] = true
		p, err := d.plan(ctx, j, height, seen)
		if err != nil {
			d.log.Warn("job", "job", j.ID, "err", err)
			continue
		}
		switch {
		case p == nil:
		case p.run:
			if len(run) < d.cfg.MaxRun {
				run = append(run, p) // the rest next step: steps stay short
			}
		default:
			acts = append(acts, p.act)
		}
	}
	// Run the new jobs, then record every result before committing any.
	if len(run) > 0 {
		var wg sync.WaitGroup
		sem := make(chan struct{}, d.cfg.Parallel)
		for _, p := range run {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				p.err = d.execute(ctx, p.job, p.w)
			}()
		}
		wg.Wait()
		var done []*Work
		for _, p := range run {
			if p.err != nil {
				d.log.Warn("job", "job", p.job.ID, "err", p.err)
				continue
			}
			done = append(done, p.w)
		}
		if err := d.store.PutAll(done); err != nil {
			return 0, err
		}
		for _, p := range run {
			if p.err == nil {
				if a, err := d.next(p.job, p.a, p.w); err == nil && a != nil {
					acts = append(acts, *a)
				}
			}
		}
	}
	// Jobs no longer open for this provider are done: forget them.
	var gone []uint64
	for _, id := range d.store.Jobs() {
		if !open[id] {
			if w, _ := d.store.Get(id); w != nil && w.PendingTx != "" && uint64(height) <= w.PendingTimeout {
				continue
			}
			gone = append(gone, id)
		}
	}
	if err := d.store.Delete(gone...); err != nil {
		return 0, err
	}
	return d.send(ctx, acts)
}

// planned is what a step does about one job: an action now, or a run
// first.
type planned struct {
	job *market.Job
	a   *market.Assignment
	w   *Work
	run bool
	act action
	err error
}

// plan decides what to do about one job.
func (d *Daemon) plan(ctx context.Context, j *market.Job, height int64, seen map[string]error) (*planned, error) {
	var a *market.Assignment
	for i := range j.Assignments {
		x := &j.Assignments[i]
		if x.Provider == d.addr && (x.State == market.AsgAssigned || x.State == market.AsgCommitted || x.State == market.AsgRevealed) {
			a = x
		}
	}
	if a == nil {
		return nil, nil
	}
	w, err := d.store.Get(j.ID)
	if err != nil {
		return nil, err
	}
	if w == nil || w.Assigned != a.Assigned {
		w = &Work{Job: j.ID, Assigned: a.Assigned, Role: a.Role, Logged: -1}
	}
	if w.PendingTx != "" {
		pending, err := d.stillPending(ctx, w, height, seen)
		if err != nil || pending {
			return nil, err
		}
	}
	if a.State == market.AsgAssigned && w.Output == nil && w.Failed == "" {
		return &planned{job: j, a: a, w: w, run: true}, nil
	}
	act, err := d.next(j, a, w)
	if err != nil || act == nil {
		return nil, err
	}
	return &planned{job: j, a: a, w: w, act: *act}, nil
}

// next is the message an assignment needs given what the daemon knows.
func (d *Daemon) next(j *market.Job, a *market.Assignment, w *Work) (*action, error) {
	switch a.State {
	case market.AsgAssigned:
		if w.Failed != "" {
			return d.msg(w, "market/decline", market.MsgJobAction{Job: j.ID})
		}
		if a.Role == market.RoleArbiter || j.Mode.Kind == market.ModeRedundant {
			return d.msg(w, "market/commit", market.MsgCommit{Job: j.ID, Commitment: market.Commitment(j.ID, d.addr, w.Output, w.Salt)})
		}
		return d.msg(w, "market/commit", market.MsgCommit{Job: j.ID, Output: w.Output, OutputCID: w.OutputCID, Evidence: w.Evidence})
	case market.AsgCommitted:
		if j.WindowEnd == 0 {
			return nil, nil // others have yet to commit
		}
		if w.Output == nil {
			return nil, fmt.Errorf("job %d: committed, but the opening is not in %s (was the state directory lost?)", j.ID, d.store.dir)
		}
		return d.msg(w, "market/reveal", market.MsgReveal{Job: j.ID, Output: w.Output, OutputCID: w.OutputCID, Salt: w.Salt})
	}
	return nil, nil
}

func (d *Daemon) msg(w *Work, typ string, v any) (*action, error) {
	m, err := wire.NewMsg(typ, v)
	if err != nil {
		return nil, err
	}
	return &action{w: w, msg: m}, nil
}

// stillPending resolves a work record's pending transaction: landed (done,
// whatever its result), expired (free to send again), or maybe still
// coming.
func (d *Daemon) stillPending(ctx context.Context, w *Work, height int64, seen map[string]error) (bool, error) {
	err, ok := seen[w.PendingTx]
	if !ok {
		_, err = d.cfg.Chain.Tx(ctx, w.PendingTx)
		seen[w.PendingTx] = err
	}
	switch {
	case err == nil:
	case errors.Is(err, client.ErrTxNotFound) && uint64(height) > w.PendingTimeout:
	case errors.Is(err, client.ErrTxNotFound):
		return true, nil
	default:
		return true, err
	}
	w.PendingTx, w.PendingTimeout, w.PendingKind = "", 0, ""
	return false, d.store.Put(w)
}

// execute runs a job and sets its result (with a fresh salt) in w, which
// the caller records durably before anything is committed. A failure that is not the input's fault
// (the artifact does not match the offer, the format cannot be served)
// marks the work failed, to be declined; one that may pass (the content
// store is unreachable) is returned to retry.
func (d *Daemon) execute(ctx context.Context, j *market.Job, w *Work) error {
	var offer market.Offer
	if _, err := d.cfg.Chain.Query(ctx, "/market/offer", map[string]any{"model": j.Model}, &offer, 0); err != nil {
		return err
	}
	out, evidence, err := d.result(ctx, j, &offer)
	var decline *declineError
	if errors.As(err, &decline) {
		w.Failed = decline.Error()
		d.log.Warn("declining job", "job", j.ID, "reason", w.Failed)
		return nil
	}
	if err != nil {
		return err
	}
	if d.cfg.Fault == FaultWrongOutput {
		out = append([]byte("tampered:"), out...)
	}
	cid, err := d.cfg.Blobs.PutBlob(ctx, out)
	if err != nil {
		return err
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	w.Output, w.OutputCID, w.Salt, w.Evidence = Digest(out), cid, salt, evidence
	d.Served.Add(1)
	d.log.Info("ran job", "job", j.ID, "model", j.Model, "output", hex.EncodeToString(w.Output), "cid", cid)
	if d.cfg.LogName != "" && w.Logged < 0 {
		idx, err := d.appendRecord(ctx, j, w)
		if err != nil {
			d.log.Warn("inference log", "job", j.ID, "err", err)
		} else {
			w.Logged = int64(idx)
		}
	}
	return nil
}

type declineError struct{ err error }

func (e *declineError) Error() string { return e.err.Error() }

// result computes a job's output document. Errors that are the input's
// fault become part of the (deterministic) output, so redundant providers
// agree on them and the buyer pays for the run it asked for.
func (d *Daemon) result(ctx context.Context, j *market.Job, o *market.Offer) (out, evidence []byte, err error) {
	if !modeAllowed(o.Format, j.Mode) {
		return nil, nil, &declineError{fmt.Errorf("format %s is not served under %s", o.Format, j.Mode)}
	}
	input, err := d.cfg.Blobs.GetBlob(ctx, j.InputCID, 64<<20)
	if err != nil {
		return nil, nil, err
	}
	if j.Encrypted {
		if d.cfg.Decrypt == nil {
			return nil, nil, &declineError{errors.New("the input is encrypted and the daemon has no decryption identity")}
		}
		if input, err = d.cfg.Decrypt(input); err != nil {
			return nil, nil, &declineError{fmt.Errorf("decrypt the input: %w", err)}
		}
	}
	if o.Format == "openai" {
		out, err := d.cfg.Runner.ForwardOpenAI(ctx, string(j.Model), input)
		if err != nil {
			return nil, nil, &declineError{err}
		}
		return out, nil, nil
	}
	e := d.cfg.Runner.Cached(o.ArtifactDigest)
	if e == nil {
		artifact, err := d.artifact(ctx, j, o)
		if err != nil {
			return nil, nil, err
		}
		if e, err = d.cfg.Runner.Load(artifact, o.ArtifactDigest); err != nil {
			return nil, nil, &declineError{err}
		}
	}
	if j.Mode.Kind == market.ModeZK {
		return d.proveJob(ctx, j, o, e, input)
	}
	if !bytes.Equal(Digest(input), j.InputDigest) {
		return (&Output{Model: "sha256:" + o.ArtifactDigest, Input: hex.EncodeToString(Digest(input)), Error: "the input does not match the job's input digest"}).Encode(), nil, nil
	}
	out, err = Run(e, o.ArtifactDigest, input)
	if err != nil {
		return (&Output{Model: "sha256:" + o.ArtifactDigest, Input: hex.EncodeToString(Digest(input)), Error: err.Error()}).Encode(), nil, nil
	}
	return out, nil, nil
}

// artifact fetches a model's artifact: public, or granted to this
// provider (encrypted to its key).
func (d *Daemon) artifact(ctx context.Context, j *market.Job, o *market.Offer) ([]byte, error) {
	if o.PublicCID != "" {
		return d.cfg.Blobs.GetBlob(ctx, o.PublicCID, 1<<30)
	}
	var g market.Grant
	if _, err := d.cfg.Chain.Query(ctx, "/market/grant", map[string]any{"model": j.Model, "provider": d.addr}, &g, 0); err != nil {
		return nil, &declineError{fmt.Errorf("model %s is not public and not granted to this provider", j.Model)}
	}
	if d.cfg.Decrypt == nil {
		return nil, &declineError{errors.New("granted weights are encrypted and the daemon has no decryption identity (--identity)")}
	}
	ct, err := d.cfg.Blobs.GetBlob(ctx, g.CID, 1<<30)
	if err != nil {
		return nil, err
	}
	pt, err := d.cfg.Decrypt(ct)
	if err != nil {
		return nil, &declineError{fmt.Errorf("decrypt granted weights: %w", err)}
	}
	return pt, nil
}

// appendRecord appends the job's inference record to the provider's log
// on the node.
func (d *Daemon) appendRecord(ctx context.Context, j *market.Job, w *Work) (uint64, error) {
	rec := tlog.InferenceRecord{Schema: tlog.SchemaInference, ModelID: string(j.Model), InputDigest: "sha256:" + hex.EncodeToString(j.InputDigest),
		OutputDigest: "sha256:" + hex.EncodeToString(w.Output), Provider: d.addr.String(), JobID: strconv.FormatUint(j.ID, 10), Time: time.Now().UTC()}
	return d.appendEntry(ctx, &rec)
}

func (d *Daemon) appendEntry(ctx context.Context, rec *tlog.InferenceRecord) (uint64, error) {
	body := mustJSON(rec)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.Blobs.API+"/logs/"+url.PathEscape(d.cfg.LogName)+"/entries", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	res, err := d.cfg.Blobs.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var r tlog.AppendResponse
	if err := decodeResponse(res, &r); err != nil {
		return 0, err
	}
	return r.Index, nil
}

var msgIndex = regexp.MustCompile(`^message (\d+) `)

// send broadcasts the actions in transactions of up to MaxMsgs messages,
// each first recorded as pending in its work records (one fsync). It does
// not wait for them: the next steps see them land (stillPending). A
// message the mempool refuses (the node runs every message on admission)
// is dropped, and the rest of its transaction sent again at once; the job
// is re-read next step. It returns how many messages were broadcast.
func (d *Daemon) send(ctx context.Context, acts []action) (int, error) {
	sent := 0
	for len(acts) > 0 {
		n := min(len(acts), d.cfg.MaxMsgs)
		chunk := acts[:n]
		msgs := make([]wire.Msg, len(chunk))
		ws := make([]*Work, len(chunk))
		for i, a := range chunk {
			msgs[i], ws[i] = a.msg, a.w
		}
		d.txMu.Lock()
		env, body, err := d.cfg.Chain.Sign(ctx, d.cfg.Key, client.TxOptions{TimeoutBlocks: d.cfg.TimeoutBlocks}, msgs...)
		if err != nil {
			d.txMu.Unlock()
			return sent, err
		}
		hash := client.TxHash(env)
		for _, w := range ws {
			w.PendingTx, w.PendingTimeout, w.PendingKind = hash, body.TimeoutHeight, "tx"
		}
		if err := d.store.PutAll(ws); err != nil {
			d.txMu.Unlock()
			return sent, err
		}
		_, err = d.cfg.Chain.Broadcast(ctx, env)
		d.txMu.Unlock()
		if err != nil {
			// Refused by the mempool: it will never land.
			d.clearPending(ws)
			var te *client.TxError
			if errors.As(err, &te) {
				if i, ok := failedMsg(te.Log); ok && i < len(chunk) {
					d.log.Debug("message refused", "job", chunk[i].w.Job, "type", chunk[i].msg.Type, "err", te.Log)
					acts = append(acts[:i:i], acts[i+1:]...)
					continue
				}
			}
			return sent, err
		}
		d.Sent.Add(1)
		sent += n
		acts = acts[n:]
	}
	return sent, nil
}

// clearPending forgets a transaction that landed or never will.
func (d *Daemon) clearPending(ws []*Work) {
	for _, w := range ws {
		w.PendingTx, w.PendingTimeout, w.PendingKind = "", 0, ""
	}
	if err := d.store.PutAll(ws); err != nil {
		d.log.Warn("state", "err", err)
	}
}

func failedMsg(log string) (int, bool) {
	m := msgIndex.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

// sendMsgs signs, broadcasts and waits for one transaction of msgs.
func (d *Daemon) sendMsgs(ctx context.Context, msgs []wire.Msg) (*client.TxResult, error) {
	d.txMu.Lock()
	env, body, err := d.cfg.Chain.Sign(ctx, d.cfg.Key, client.TxOptions{TimeoutBlocks: d.cfg.TimeoutBlocks}, msgs...)
	if err == nil {
		_, err = d.cfg.Chain.Broadcast(ctx, env)
	}
	d.txMu.Unlock()
	if err != nil {
		return nil, err
	}
	d.Sent.Add(1)
	return d.cfg.Chain.WaitTx(ctx, client.TxHash(env), body.TimeoutHeight)
}
