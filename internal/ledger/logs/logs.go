// Package logs is the ledger module that witnesses verifiable logs
// (DESIGN D12): it registers logs (origin, operator key, purpose) and
// accepts a log's checkpoint only when it is signed by the log's operator
// and comes with a valid RFC 6962 consistency proof from the checkpoint it
// witnessed last. A log therefore cannot show two histories once the chain
// has seen one of them: a smaller tree, a forked root or a forged proof is
// refused with its own code.
//
// State (under "logs/"): l/<name> the log's record, o/<origin> the name
// holding an origin, c/<name> the latest witnessed checkpoint. Records are
// deterministic JSON; LogKey and CheckpointKey give the full state keys for
// proven reads.
package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

// Name is the module's name, key prefix and codespace.
const Name = "logs"

// Errors. Append only.
var (
	ErrLogNotFound    = ledger.Register(Name, 2, ledger.KindNotFound, "log not registered")
	ErrLogExists      = ledger.Register(Name, 3, ledger.KindConflict, "log already registered")
	ErrOriginTaken    = ledger.Register(Name, 4, ledger.KindConflict, "origin already registered")
	ErrInvalidLog     = ledger.Register(Name, 5, ledger.KindInvalid, "invalid log registration")
	ErrBadSignature   = ledger.Register(Name, 6, ledger.KindUnauthorized, "checkpoint not signed by the log's operator")
	ErrBadCheckpoint  = ledger.Register(Name, 7, ledger.KindInvalid, "malformed checkpoint")
	ErrWrongOrigin    = ledger.Register(Name, 8, ledger.KindInvalid, "checkpoint of another log")
	ErrSmallerTree    = ledger.Register(Name, 9, ledger.KindConflict, "checkpoint smaller than the witnessed one")
	ErrForkedRoot     = ledger.Register(Name, 10, ledger.KindConflict, "checkpoint forks the witnessed history")
	ErrInvalidProof   = ledger.Register(Name, 11, ledger.KindInvalid, "consistency proof does not verify")
	ErrNotNewer       = ledger.Register(Name, 12, ledger.KindConflict, "checkpoint already witnessed")
	ErrInvalidWitness = ledger.Register(Name, 13, ledger.KindInvalid, "invalid witness message")
)

// Gas and limits.
const (
	GasRegister      = 20_000
	GasWitness       = 30_000
	GasPerProofHash  = 500
	MaxCheckpoint    = 4096
	MaxProofHashes   = 128
	MaxOriginLength  = 256
	logPrefix        = "l/"
	originPrefix     = "o/"
	checkpointPrefix = "c/"
)

// Purposes.
var purposes = map[string]bool{"inference": true, "training": true, "agent": true, "custom": true}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// LogKey is the full state key of a log's record (JSON Log).
func LogKey(name string) []byte { return []byte(Name + "/" + logPrefix + name) }

// CheckpointKey is the full state key of a log's latest witnessed
// checkpoint (JSON Checkpoint).
func CheckpointKey(name string) []byte { return []byte(Name + "/" + checkpointPrefix + name) }

// Log is a registered log.
type Log struct {
	Name   string `json:"name"`
	Origin string `json:"origin"`
	// OperatorKey is the operator's note verifier key; its name is Origin.
	OperatorKey string       `json:"operator_key"`
	Purpose     string       `json:"purpose"`
	Owner       wire.Address `json:"owner"`
	Height      int64        `json:"height"`
}

// Checkpoint is a witnessed checkpoint.
type Checkpoint struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	// Note is the signed checkpoint exactly as submitted.
	Note   string `json:"note"`
	Height int64  `json:"height"`
}

// Module is the logs ledger module.
type Module struct{}

var _ ledger.Module = (*Module)(nil)

// New returns the module.
func New() *Module { return &Module{} }

// Name implements ledger.Module.
func (*Module) Name() string { return Name }

// --- messages ---

// MsgRegister registers a log owned by the signer.
type MsgRegister struct {
	Name        string `json:"name"`
	Origin      string `json:"origin"`
	OperatorKey string `json:"operator_key"`
	Purpose     string `json:"purpose"`
}

// Validate implements ledger.Msg.
func (m *MsgRegister) Validate() error {
	if !nameRE.MatchString(m.Name) {
		return ErrInvalidLog.Wrapf("name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", m.Name)
	}
	if !purposes[m.Purpose] {
		return ErrInvalidLog.Wrapf("purpose %q: want inference, training, agent or custom", m.Purpose)
	}
	if m.Origin == "" || len(m.Origin) > MaxOriginLength || !utf8.ValidString(m.Origin) || strings.ContainsAny(m.Origin, "\n+ \t") {
		return ErrInvalidLog.Wrapf("origin %q: want 1-%d characters without spaces, newlines or '+'", m.Origin, MaxOriginLength)
	}
	v, err := note.NewVerifier(m.OperatorKey)
	if err != nil {
		return ErrInvalidLog.Wrapf("operator key: %v", err)
	}
	if v.Name() != m.Origin {
		return ErrInvalidLog.Wrapf("operator key is named %q, the origin is %q", v.Name(), m.Origin)
	}
	return nil
}

// MsgWitness submits a log's checkpoint with a consistency proof from the
// checkpoint the chain witnessed last (empty for the first one). Anyone
// may submit: the operator's signature is what counts.
type MsgWitness struct {
	Name       string   `json:"name"`
	Checkpoint string   `json:"checkpoint"`
	Proof      [][]byte `json:"proof,omitempty"`
}

// Validate implements ledger.Msg.
func (m *MsgWitness) Validate() error {
	if !nameRE.MatchString(m.Name) {
		return ErrInvalidWitness.Wrapf("name %q", m.Name)
	}
	if len(m.Checkpoint) == 0 || len(m.Checkpoint) > MaxCheckpoint {
		return ErrInvalidWitness.Wrapf("checkpoint of %d bytes, want 1-%d", len(m.Checkpoint), MaxCheckpoint)
	}
	if len(m.Proof) > MaxProofHashes {
		return ErrInvalidWitness.Wrapf("proof of %d hashes, at most %d", len(m.Proof), MaxProofHashes)
	}
	for i, h := range m.Proof {
		if len(h) != rfc6962.DefaultHasher.Size() {
			return ErrInvalidWitness.Wrapf("proof hash %d is %d bytes, want 32", i, len(h))
		}
	}
	return nil
}

// Msgs implements ledger.Module.
func (m *Module) Msgs() []ledger.MsgType {
	return []ledger.MsgType{
		ledger.Handler("logs/register", GasRegister, m.register),
		ledger.GasFunc(ledger.Handler("logs/witness_checkpoint", 0, m.witness), func(msg *MsgWitness) uint64 {
			return GasWitness + GasPerProofHash*uint64(len(msg.Proof))
		}),
	}
}

// GetLog returns a registered log.
func (m *Module) GetLog(ctx *ledger.Context, name string) (*Log, error) {
	b := ctx.Store(Name).Get([]byte(logPrefix + name))
	if b == nil {
		return nil, ErrLogNotFound.Wrapf("%s", name)
	}
	var l Log
	if err := ledger.DecodeJSON(b, &l); err != nil {
		return nil, ledger.ErrInternal.Wrapf("log %s: %v", name, err)
	}
	return &l, nil
}

// Witnessed returns a log's latest witnessed checkpoint, or nil.
func (m *Module) Witnessed(ctx *ledger.Context, name string) (*Checkpoint, error) {
	b := ctx.Store(Name).Get([]byte(checkpointPrefix + name))
	if b == nil {
		return nil, nil
	}
	var c Checkpoint
	if err := ledger.DecodeJSON(b, &c); err != nil {
		return nil, ledger.ErrInternal.Wrapf("checkpoint of %s: %v", name, err)
	}
	return &c, nil
}

func (m *Module) register(ctx *ledger.Context, msg *MsgRegister) error {
	s := ctx.Store(Name)
	if s.Has([]byte(logPrefix + msg.Name)) {
		return ErrLogExists.Wrapf("%s", msg.Name)
	}
	if other := s.Get([]byte(originPrefix + msg.Origin)); other != nil {
		return ErrOriginTaken.Wrapf("origin %q is log %s's", msg.Origin, other)
	}
	l := Log{Name: msg.Name, Origin: msg.Origin, OperatorKey: msg.OperatorKey, Purpose: msg.Purpose, Owner: ctx.Signer(), Height: ctx.Height}
	m.put(ctx, &l)
	ctx.Emit("logs.register", ledger.AI("name", l.Name), ledger.A("origin", l.Origin), ledger.A("purpose", l.Purpose), ledger.AI("owner", l.Owner.String()))
	return nil
}

func (m *Module) put(ctx *ledger.Context, l *Log) {
	s := ctx.Store(Name)
	s.Set([]byte(logPrefix+l.Name), ledger.MustEncodeJSON(l))
	s.Set([]byte(originPrefix+l.Origin), []byte(l.Name))
}

// ParseCheckpoint opens a signed checkpoint of log l: it must carry the
// operator's signature and name l's origin. It returns the size and root.
func ParseCheckpoint(l *Log, raw string) (size uint64, root []byte, err error) {
	v, err := note.NewVerifier(l.OperatorKey)
	if err != nil {
		return 0, nil, ledger.ErrInternal.Wrapf("registered operator key of %s: %v", l.Name, err)
	}
	n, err := note.Open([]byte(raw), note.VerifierList(v))
	if err != nil {
		if _, ok := err.(*note.UnverifiedNoteError); ok {
			return 0, nil, ErrBadSignature.Wrapf("log %s: no valid signature by %s", l.Name, v.Name())
		}
		if _, ok := err.(*note.InvalidSignatureError); ok {
			return 0, nil, ErrBadSignature.Wrapf("log %s: invalid signature by %s", l.Name, v.Name())
		}
		return 0, nil, ErrBadCheckpoint.Wrapf("%v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return 0, nil, ErrBadCheckpoint.Wrapf("want origin, size and root lines")
	}
	if lines[0] != l.Origin {
		return 0, nil, ErrWrongOrigin.Wrapf("origin %q, log %s has %q", lines[0], l.Name, l.Origin)
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return 0, nil, ErrBadCheckpoint.Wrapf("size %q", lines[1])
	}
	root, err = decodeBase64(lines[2])
	if err != nil || len(root) != rfc6962.DefaultHasher.Size() {
		return 0, nil, ErrBadCheckpoint.Wrapf("root hash %q", lines[2])
	}
	return size, root, nil
}

func (m *Module) witness(ctx *ledger.Context, msg *MsgWitness) error {
	l, err := m.GetLog(ctx, msg.Name)
	if err != nil {
		return err
	}
	size, root, err := ParseCheckpoint(l, msg.Checkpoint)
	if err != nil {
		return err
	}
	prev, err := m.Witnessed(ctx, l.Name)
	if err != nil {
		return err
	}
	var size0 uint64
	root0 := rfc6962.DefaultHasher.EmptyRoot()
	if prev != nil {
		size0, root0 = prev.Size, prev.Root
	}
	switch {
	case prev != nil && size < size0:
		return ErrSmallerTree.Wrapf("log %s: size %d, witnessed %d", l.Name, size, size0)
	case prev != nil && size == size0:
		if !bytes.Equal(root, root0) {
			return ErrForkedRoot.Wrapf("log %s: size %d with root %x, witnessed root %x", l.Name, size, root, root0)
		}
		return ErrNotNewer.Wrapf("log %s: size %d", l.Name, size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size0, size, msg.Proof, root0, root); err != nil {
		if forked(size0, size, msg.Proof, root0, root) {
			return ErrForkedRoot.Wrapf("log %s: the proof shows that tree %d's first %d entries are not the ones witnessed (root %x)", l.Name, size, size0, root0)
		}
		return ErrInvalidProof.Wrapf("log %s: from size %d to %d: %v", l.Name, size0, size, err)
	}
	c := Checkpoint{Size: size, Root: root, Note: msg.Checkpoint, Height: ctx.Height}
	ctx.Store(Name).Set([]byte(checkpointPrefix+l.Name), ledger.MustEncodeJSON(c))
	ctx.Emit("logs.witness", ledger.AI("name", l.Name), ledger.A("size", strconv.FormatUint(size, 10)), ledger.A("root", fmt.Sprintf("%x", root)))
	return nil
}

// --- genesis ---

// Genesis is the module's genesis state.
type Genesis struct {
	Logs []GenesisLog `json:"logs"`
}

// GenesisLog is a log and its latest witnessed checkpoint.
type GenesisLog struct {
	Log       Log         `json:"log"`
	Witnessed *Checkpoint `json:"witnessed,omitempty"`
}

// DefaultGenesis implements ledger.Module.
func (*Module) DefaultGenesis() json.RawMessage {
	return ledger.MustEncodeJSON(Genesis{Logs: []GenesisLog{}})
}

// InitGenesis implements ledger.Module.
func (m *Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	var g Genesis
	if len(raw) > 0 {
		if err := ledger.DecodeJSON(raw, &g); err != nil {
			return err
		}
	}
	for _, gl := range g.Logs {
		l := gl.Log
		reg := MsgRegister{Name: l.Name, Origin: l.Origin, OperatorKey: l.OperatorKey, Purpose: l.Purpose}
		if err := reg.Validate(); err != nil {
			return fmt.Errorf("log %s: %w", l.Name, err)
		}
		s := ctx.Store(Name)
		if s.Has([]byte(logPrefix+l.Name)) || s.Has([]byte(originPrefix+l.Origin)) {
			return fmt.Errorf("log %s or origin %s listed twice", l.Name, l.Origin)
		}
		m.put(ctx, &l)
		if c := gl.Witnessed; c != nil {
			size, root, err := ParseCheckpoint(&l, c.Note)
			if err != nil {
				return fmt.Errorf("log %s: witnessed checkpoint: %w", l.Name, err)
			}
			if size != c.Size || !bytes.Equal(root, c.Root) {
				return fmt.Errorf("log %s: witnessed checkpoint does not match its size and root", l.Name)
			}
			s.Set([]byte(checkpointPrefix+l.Name), ledger.MustEncodeJSON(c))
		}
	}
	return nil
}

// ExportGenesis implements ledger.Module.
func (m *Module) ExportGenesis(ctx *ledger.Context) (json.RawMessage, error) {
	g := Genesis{Logs: []GenesisLog{}}
	var err error
	m.walk(ctx, "", func(l *Log) bool {
		gl := GenesisLog{Log: *l}
		if gl.Witnessed, err = m.Witnessed(ctx, l.Name); err != nil {
			return false
		}
		g.Logs = append(g.Logs, gl)
		return true
	})
	if err != nil {
		return nil, err
	}
	return ledger.EncodeJSON(g)
}

// walk visits the logs in name order, after startAfter.
func (m *Module) walk(ctx *ledger.Context, startAfter string, fn func(*Log) bool) {
	start := []byte(logPrefix)
	if startAfter != "" {
		start = append([]byte(logPrefix+startAfter), 0)
	}
	it := ctx.Store(Name).Iterator(start, ledger.PrefixEnd([]byte(logPrefix)))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var l Log
		if ledger.DecodeJSON(it.Value(), &l) != nil {
			continue // reported by the invariant
		}
		if !fn(&l) {
			return
		}
	}
}

// --- queries ---

// LogResponse answers "/logs/log".
type LogResponse struct {
	Log       Log         `json:"log"`
	Witnessed *Checkpoint `json:"witnessed,omitempty"`
}

// Query implements ledger.Module: "log" ({"name"}) and "logs"
// ({"start_after", "limit"}).
func (m *Module) Query(ctx *ledger.Context, path string, req []byte) (any, error) {
	switch path {
	case "log":
		var r struct {
			Name string `json:"name"`
		}
		if err := ledger.DecodeJSON(req, &r); err != nil {
			return nil, ledger.ErrInvalidQuery.Wrapf("%v", err)
		}
		l, err := m.GetLog(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		c, err := m.Witnessed(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		return LogResponse{Log: *l, Witnessed: c}, nil
	case "logs":
		var r struct {
			StartAfter string `json:"start_after,omitzero"`
			Limit      int    `json:"limit,omitzero"`
		}
		if len(req) > 0 {
			if err := ledger.DecodeJSON(req, &r); err != nil {
				return nil, ledger.ErrInvalidQuery.Wrapf("%v", err)
			}
		}
		if r.Limit <= 0 || r.Limit > 1000 {
			r.Limit = 100
		}
		out := []LogResponse{}
		var err error
		m.walk(ctx, r.StartAfter, func(l *Log) bool {
			lr := LogResponse{Log: *l}
			if lr.Witnessed, err = m.Witnessed(ctx, l.Name); err != nil {
				return false
			}
			out = append(out, lr)
			return len(out) < r.Limit
		})
		return out, err
	}
	return nil, ledger.ErrUnknownQuery.Wrapf("logs/%s", path)
}

// --- invariants ---

// Invariants implements ledger.Module: every witnessed checkpoint belongs
// to a registered log and parses with its key, and the origin index
// matches the records.
func (m *Module) Invariants() []ledger.Invariant {
	return []ledger.Invariant{{Name: "records", Check: m.checkRecords}}
}

func (m *Module) checkRecords(ctx *ledger.Context) error {
	s := ctx.Store(Name)
	logs := 0
	it := s.Iterator([]byte(logPrefix), ledger.PrefixEnd([]byte(logPrefix)))
	for ; it.Valid(); it.Next() {
		var l Log
		if err := ledger.DecodeJSON(it.Value(), &l); err != nil {
			it.Close()
			return fmt.Errorf("record %s: %v", it.Key(), err)
		}
		if got := string(s.Get([]byte(originPrefix + l.Origin))); got != l.Name {
			it.Close()
			return fmt.Errorf("origin %s indexes log %q, want %s", l.Origin, got, l.Name)
		}
		logs++
	}
	it.Close()
	origins := 0
	it = s.Iterator([]byte(originPrefix), ledger.PrefixEnd([]byte(originPrefix)))
	for ; it.Valid(); it.Next() {
		origins++
	}
	it.Close()
	if origins != logs {
		return fmt.Errorf("%d origins indexed for %d logs", origins, logs)
	}
	it = s.Iterator([]byte(checkpointPrefix), ledger.PrefixEnd([]byte(checkpointPrefix)))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		name := string(it.Key()[len(checkpointPrefix):])
		l, err := m.GetLog(ctx, name)
		if err != nil {
			return fmt.Errorf("checkpoint of unregistered log %s", name)
		}
		var c Checkpoint
		if err := ledger.DecodeJSON(it.Value(), &c); err != nil {
			return fmt.Errorf("checkpoint of %s: %v", name, err)
		}
		size, root, err := ParseCheckpoint(l, c.Note)
		if err != nil || size != c.Size || !bytes.Equal(root, c.Root) {
			return fmt.Errorf("checkpoint of %s does not match its note: %v", name, err)
		}
	}
	return nil
}
