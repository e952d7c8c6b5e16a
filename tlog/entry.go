package tlog

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// Entry schemas. Each entry of a log of purpose inference, training or
// agent is one JSON object naming its schema; a blob reference may stand
// in any log for a payload too large for an entry. Versions are part of
// the name: a new version is a new schema, and readers keep every old one.
const (
	SchemaInference = "vai.dev/tlog/inference/v1"
	SchemaTraining  = "vai.dev/tlog/training/v1"
	SchemaAgent     = "vai.dev/tlog/agent-action/v1"
	SchemaBlob      = "vai.dev/tlog/blob/v1"
)

// InferenceRecord is one inference a provider served.
type InferenceRecord struct {
	Schema       string    `json:"schema"`
	ModelID      string    `json:"model_id"`
	InputDigest  string    `json:"input_digest"`
	OutputDigest string    `json:"output_digest"`
	Provider     string    `json:"provider"`
	JobID        string    `json:"job_id,omitempty"`
	Time         time.Time `json:"time"`
	// AttestationCID is the content-store CID of a TEE attestation, if any.
	AttestationCID string `json:"attestation_cid,omitempty"`
}

// TrainingEvent is one event of a training run.
type TrainingEvent struct {
	Schema string    `json:"schema"`
	Run    string    `json:"run"`
	Event  string    `json:"event"` // start, checkpoint, metrics, data, end
	Step   uint64    `json:"step"`
	Time   time.Time `json:"time"`
	// Checkpoint is the manifest identity (sha256:…) of a saved model.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Metrics are decimal strings (no floats in records that must hash
	// the same everywhere).
	Metrics map[string]string `json:"metrics,omitempty"`
	// DataCID points at a larger payload in the content store.
	DataCID string `json:"data_cid,omitempty"`
}

// AgentAction is one action of an AI agent, committed field by field:
// each commitment is sha256:hex(SHA-256(domain || field || 0 || salt ||
// value)) with a fresh 32-byte salt, so one field can be disclosed later
// (Disclosure) without revealing the others.
type AgentAction struct {
	Schema      string           `json:"schema"`
	Agent       string           `json:"agent"`
	ActionID    string           `json:"action_id"`
	Time        time.Time        `json:"time"`
	Commitments AgentCommitments `json:"commitments"`
}

// AgentCommitments are the committed fields of an agent action.
type AgentCommitments struct {
	Prompt   string `json:"prompt"`
	ToolCall string `json:"tool_call"`
	Result   string `json:"result"`
}

// AgentFields are the fields of an agent action that are committed.
var AgentFields = []string{"prompt", "tool_call", "result"}

// BlobRef stands for a payload kept in the content store.
type BlobRef struct {
	Schema    string `json:"schema"`
	CID       string `json:"cid"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

func schemaOf(data []byte) (string, error) {
	var h struct {
		Schema string `json:"schema"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return "", fmt.Errorf("not a JSON object: %v", err)
	}
	return h.Schema, nil
}

// CheckSchema validates an entry for a log of purpose: inference,
// training and agent logs take their schema's records (or blob
// references); custom logs take any bytes.
func CheckSchema(purpose string, data []byte) error {
	if err := CheckEntry(data); err != nil {
		return err
	}
	if purpose == PurposeCustom {
		return nil
	}
	schema, err := schemaOf(data)
	if err != nil {
		return fmt.Errorf("invalid %s entry: %v", purpose, err)
	}
	want := map[string]string{PurposeInference: SchemaInference, PurposeTraining: SchemaTraining, PurposeAgent: SchemaAgent}[purpose]
	var problem string
	switch schema {
	case SchemaBlob:
		var b BlobRef
		if err := decodeStrict(data, &b); err != nil {
			return fmt.Errorf("invalid %s: %v", schema, err)
		}
		if _, err := cid.Parse(b.CID); err != nil || b.Size <= 0 {
			problem = "want a CID and a positive size"
		}
	case want:
		problem, err = checkRecord(schema, data)
		if err != nil {
			return fmt.Errorf("invalid %s: %v", schema, err)
		}
	default:
		return fmt.Errorf("a %s log takes %s or %s entries, not %q", purpose, want, SchemaBlob, schema)
	}
	if problem != "" {
		return fmt.Errorf("invalid %s: %s", schema, problem)
	}
	return nil
}

func checkRecord(schema string, data []byte) (string, error) {
	switch schema {
	case SchemaInference:
		var r InferenceRecord
		if err := decodeStrict(data, &r); err != nil {
			return "", err
		}
		switch {
		case r.ModelID == "" || r.Provider == "":
			return "model_id and provider are required", nil
		case !digestRE.MatchString(r.InputDigest) || !digestRE.MatchString(r.OutputDigest):
			return "input_digest and output_digest must be sha256:<64 hex digits>", nil
		case r.Time.IsZero():
			return "time is required", nil
		case r.AttestationCID != "" && !validCID(r.AttestationCID):
			return "attestation_cid is not a CID", nil
		}
	case SchemaTraining:
		var r TrainingEvent
		if err := decodeStrict(data, &r); err != nil {
			return "", err
		}
		switch {
		case r.Run == "" || r.Time.IsZero():
			return "run and time are required", nil
		case !slices.Contains([]string{"start", "checkpoint", "metrics", "data", "end"}, r.Event):
			return fmt.Sprintf("event %q: want start, checkpoint, metrics, data or end", r.Event), nil
		case r.Checkpoint != "" && !digestRE.MatchString(r.Checkpoint):
			return "checkpoint must be a manifest identity sha256:<64 hex digits>", nil
		case r.DataCID != "" && !validCID(r.DataCID):
			return "data_cid is not a CID", nil
		}
	case SchemaAgent:
		var r AgentAction
		if err := decodeStrict(data, &r); err != nil {
			return "", err
		}
		c := r.Commitments
		switch {
		case r.Agent == "" || r.Time.IsZero():
			return "agent and time are required", nil
		case !digestRE.MatchString(c.Prompt) || !digestRE.MatchString(c.ToolCall) || !digestRE.MatchString(c.Result):
			return "commitments must be sha256:<64 hex digits>", nil
		}
	}
	return "", nil
}

func validCID(s string) bool { _, err := cid.Parse(s); return err == nil }

// Opening is the salt and value behind one commitment.
type Opening struct {
	Salt  []byte          `json:"salt"`
	Value json.RawMessage `json:"value"`
}

// Commit returns the commitment to value of an agent action's field.
func Commit(field string, salt []byte, value json.RawMessage) string {
	h := sha256.New()
	h.Write([]byte(SchemaAgent))
	h.Write([]byte{0})
	h.Write([]byte(field))
	h.Write([]byte{0})
	h.Write(salt)
	h.Write(value)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// AgentDraft is an agent action in the clear, as an agent writes it; Seal
// turns it into the committed entry and the openings to keep.
type AgentDraft struct {
	Agent    string          `json:"agent"`
	ActionID string          `json:"action_id,omitempty"`
	Time     time.Time       `json:"time"`
	Prompt   json.RawMessage `json:"prompt"`
	ToolCall json.RawMessage `json:"tool_call"`
	Result   json.RawMessage `json:"result"`
}

// Seal commits a draft's fields with fresh salts. It returns the entry
// and, by field, the openings its author must keep to disclose them.
func (d *AgentDraft) Seal() ([]byte, map[string]Opening, error) {
	if d.Agent == "" || d.Time.IsZero() {
		return nil, nil, fmt.Errorf("an agent action needs agent and time")
	}
	a := AgentAction{Schema: SchemaAgent, Agent: d.Agent, ActionID: d.ActionID, Time: d.Time.UTC()}
	open := map[string]Opening{}
	for _, f := range []struct {
		name string
		v    json.RawMessage
		dst  *string
	}{{"prompt", d.Prompt, &a.Commitments.Prompt}, {"tool_call", d.ToolCall, &a.Commitments.ToolCall}, {"result", d.Result, &a.Commitments.Result}} {
		if len(f.v) == 0 {
			return nil, nil, fmt.Errorf("an agent action needs %s", f.name)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, f.v); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", f.name, err)
		}
		salt := make([]byte, 32)
		rand.Read(salt)
		open[f.name] = Opening{Salt: salt, Value: b.Bytes()}
		*f.dst = Commit(f.name, salt, b.Bytes())
	}
	entry, err := json.Marshal(a)
	if err != nil {
		return nil, nil, err
	}
	return entry, open, nil
}

// Disclosure reveals one committed field of an agent action entry.
type Disclosure struct {
	Field string `json:"field"`
	Opening
}

// Check verifies the disclosure against the entry's commitment.
func (d *Disclosure) Check(entry []byte) error {
	var a AgentAction
	if err := decodeStrict(entry, &a); err != nil || a.Schema != SchemaAgent {
		return fmt.Errorf("%w: a disclosure needs an %s entry", ErrVerify, SchemaAgent)
	}
	var want string
	switch d.Field {
	case "prompt":
		want = a.Commitments.Prompt
	case "tool_call":
		want = a.Commitments.ToolCall
	case "result":
		want = a.Commitments.Result
	default:
		return fmt.Errorf("%w: unknown field %q (want %s)", ErrVerify, d.Field, strings.Join(AgentFields, ", "))
	}
	if got := Commit(d.Field, d.Salt, d.Value); got != want {
		return fmt.Errorf("%w: the disclosed %s does not match its commitment %s", ErrVerify, d.Field, want)
	}
	return nil
}
