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
	// MaxMsgs per transaction (default 200).
	MaxMsgs int
	// TimeoutBlocks of its transactions (default 10).
	TimeoutBlocks int64
	// Grants decrypts weights granted to this provider (nil: public
	// artifacts only).
	Grants func(ciphertext []byte) ([]byte, error)
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
	if cfg.MaxMsgs == 0 {
		cfg.MaxMsgs = 200
	}
	if cfg.TimeoutBlocks == 0 {
		cfg.TimeoutBlocks = 10
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
// runs what is new, and sends one transaction with every commitment,
// result, reveal and decline due. It returns how many messages it sent.
func (d *Daemon) Step(ctx context.Context) (int, error) {
	var jobs []market.Job
	height, err := d.cfg.Chain.Query(ctx, "/market/assignments", map[string]any{"provider": d.addr}, &jobs, 0)
	if err != nil {
		return 0, err
	}
	open := map[uint64]bool{}
	var acts []action
	for i := range jobs {
		j := &jobs[i]
		open[j.ID] = true
		act, err := d.plan(ctx, j, height)
		if err != nil {
			d.log.Warn("job", "job", j.ID, "err", err)
			continue
		}
		if act != nil {
			acts = append(acts, *act)
		}
	}
	// Jobs no longer open for this provider are done: forget them.
	if ids, err := d.store.Jobs(); err == nil {
		for _, id := range ids {
			if !open[id] {
				if w, _ := d.store.Get(id); w != nil && w.PendingTx != "" && uint64(height) <= w.PendingTimeout {
					continue
				}
				d.store.Delete(id)
			}
		}
	}
	sent := 0
	for len(acts) > 0 {
		n := min(len(acts), d.cfg.MaxMsgs)
		done, err := d.send(ctx, acts[:n])
		sent += done
		if err != nil {
			return sent, err
		}
		acts = acts[n:]
	}
	return sent, nil
}

// plan decides what to do about one job, running it if needed.
func (d *Daemon) plan(ctx context.Context, j *market.Job, height int64) (*action, error) {
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
		pending, err := d.stillPending(ctx, w, height)
		if err != nil || pending {
			return nil, err
		}
	}
	switch a.State {
	case market.AsgAssigned:
		if w.Output == nil && w.Failed == "" {
			if err := d.execute(ctx, j, w); err != nil {
				return nil, err // transient: retried next step
			}
		}
		if w.Failed != "" {
			return d.msg(w, "market/decline", market.MsgJobAction{Job: j.ID})
		}
		if a.Role == market.RoleArbiter || j.Mode.Kind == market.ModeRedundant {
			return d.msg(w, "market/commit", market.MsgCommit{Job: j.ID, Commitment: market.Commitment(j.ID, d.addr, w.Output, w.Salt)})
		}
		return d.msg(w, "market/commit", market.MsgCommit{Job: j.ID, Output: w.Output, OutputCID: w.OutputCID})
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
func (d *Daemon) stillPending(ctx context.Context, w *Work, height int64) (bool, error) {
	_, err := d.cfg.Chain.Tx(ctx, w.PendingTx)
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

// execute runs a job and records its result durably (with a fresh salt)
// before anything is committed. A failure that is not the input's fault
// (the artifact does not match the offer, the format cannot be served)
// marks the work failed, to be declined; one that may pass (the content
// store is unreachable) is returned to retry.
func (d *Daemon) execute(ctx context.Context, j *market.Job, w *Work) error {
	var offer market.Offer
	if _, err := d.cfg.Chain.Query(ctx, "/market/offer", map[string]any{"model": j.Model}, &offer, 0); err != nil {
		return err
	}
	out, err := d.result(ctx, j, &offer)
	var decline *declineError
	if errors.As(err, &decline) {
		w.Failed = decline.Error()
		d.log.Warn("declining job", "job", j.ID, "reason", w.Failed)
		return d.store.Put(w)
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
	w.Output, w.OutputCID, w.Salt = Digest(out), cid, salt
	if err := d.store.Put(w); err != nil {
		return err
	}
	d.Served.Add(1)
	d.log.Info("ran job", "job", j.ID, "model", j.Model, "output", hex.EncodeToString(w.Output), "cid", cid)
	if d.cfg.LogName != "" && w.Logged < 0 {
		idx, err := d.appendRecord(ctx, j, w)
		if err != nil {
			d.log.Warn("inference log", "job", j.ID, "err", err)
		} else {
			w.Logged = int64(idx)
			d.store.Put(w)
		}
	}
	return nil
}

type declineError struct{ err error }

func (e *declineError) Error() string { return e.err.Error() }

// result computes a job's output document. Errors that are the input's
// fault become part of the (deterministic) output, so redundant providers
// agree on them and the buyer pays for the run it asked for.
func (d *Daemon) result(ctx context.Context, j *market.Job, o *market.Offer) ([]byte, error) {
	if !modeAllowed(o.Format, j.Mode) {
		return nil, &declineError{fmt.Errorf("format %s is not served under %s", o.Format, j.Mode)}
	}
	input, err := d.cfg.Blobs.GetBlob(ctx, j.InputCID, 64<<20)
	if err != nil {
		return nil, err
	}
	if o.Format == "openai" {
		out, err := d.cfg.Runner.ForwardOpenAI(ctx, string(j.Model), input)
		if err != nil {
			return nil, &declineError{err}
		}
		return out, nil
	}
	e := d.cfg.Runner.Cached(o.ArtifactDigest)
	if e == nil {
		artifact, err := d.artifact(ctx, j, o)
		if err != nil {
			return nil, err
		}
		if e, err = d.cfg.Runner.Load(artifact, o.ArtifactDigest); err != nil {
			return nil, &declineError{err}
		}
	}
	if !bytes.Equal(Digest(input), j.InputDigest) {
		return (&Output{Model: "sha256:" + o.ArtifactDigest, Input: hex.EncodeToString(Digest(input)), Error: "the input does not match the job's input digest"}).Encode(), nil
	}
	out, err := Run(e, o.ArtifactDigest, input)
	if err != nil {
		return (&Output{Model: "sha256:" + o.ArtifactDigest, Input: hex.EncodeToString(Digest(input)), Error: err.Error()}).Encode(), nil
	}
	return out, nil
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
	if d.cfg.Grants == nil {
		return nil, &declineError{errors.New("granted weights are encrypted and the daemon has no decryption identity (--identity)")}
	}
	ct, err := d.cfg.Blobs.GetBlob(ctx, g.CID, 1<<30)
	if err != nil {
		return nil, err
	}
	pt, err := d.cfg.Grants(ct)
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

// send signs one transaction of the actions' messages, records it as
// pending in every work record, broadcasts it and waits for it. A message
// the chain refuses is dropped (the next step re-reads the job) and the
// rest sent again.
func (d *Daemon) send(ctx context.Context, acts []action) (int, error) {
	for len(acts) > 0 {
		msgs := make([]wire.Msg, len(acts))
		for i, a := range acts {
			msgs[i] = a.msg
		}
		d.txMu.Lock()
		env, body, err := d.cfg.Chain.Sign(ctx, d.cfg.Key, client.TxOptions{TimeoutBlocks: d.cfg.TimeoutBlocks}, msgs...)
		if err != nil {
			d.txMu.Unlock()
			return 0, err
		}
		hash := client.TxHash(env)
		for _, a := range acts {
			a.w.PendingTx, a.w.PendingTimeout, a.w.PendingKind = hash, body.TimeoutHeight, a.msg.Type
			if err := d.store.Put(a.w); err != nil {
				d.txMu.Unlock()
				return 0, err
			}
		}
		_, err = d.cfg.Chain.Broadcast(ctx, env)
		d.txMu.Unlock()
		if err != nil {
			// Refused by the mempool: it will never land.
			for _, a := range acts {
				a.w.PendingTx, a.w.PendingTimeout, a.w.PendingKind = "", 0, ""
				d.store.Put(a.w)
			}
			var te *client.TxError
			if errors.As(err, &te) {
				if i, ok := failedMsg(te.Log); ok && i < len(acts) {
					d.log.Warn("message refused", "job", acts[i].w.Job, "type", acts[i].msg.Type, "err", te.Log)
					acts = append(acts[:i:i], acts[i+1:]...)
					continue
				}
			}
			return 0, err
		}
		d.Sent.Add(1)
		res, err := d.cfg.Chain.WaitTx(ctx, hash, body.TimeoutHeight)
		if err != nil {
			return 0, err
		}
		for _, a := range acts {
			a.w.PendingTx, a.w.PendingTimeout, a.w.PendingKind = "", 0, ""
			d.store.Put(a.w)
		}
		if res.Code == 0 {
			d.log.Debug("sent", "tx", hash, "msgs", len(acts), "height", res.Height)
			return len(acts), nil
		}
		i, ok := failedMsg(res.Log)
		if !ok || i >= len(acts) {
			return 0, fmt.Errorf("transaction %s failed: %s", hash, res.Log)
		}
		d.log.Warn("message refused", "job", acts[i].w.Job, "type", acts[i].msg.Type, "err", res.Log)
		acts = append(acts[:i:i], acts[i+1:]...)
	}
	return 0, nil
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
