package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

// Statement types of a training run (DESIGN D11).
const (
	InTotoStatementV1  = "https://in-toto.io/Statement/v1"
	SLSAProvenanceV1   = "https://slsa.dev/provenance/v1"
	InTotoPayloadType  = "application/vnd.in-toto+json"
	TrainingBuildType  = "https://vai.dev/training/v1"
	DatasetURIPrefix   = "vai:dataset/"
	ModelURIPrefix     = "vai:model/"
	CodeDependencyName = "code"
)

// slsaStatement is the part of an SLSA Provenance v1 statement the ledger
// reads. Other fields may be present (SLSA is extensible) and are kept in
// the statement, which the content store holds.
type slsaStatement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate struct {
		BuildDefinition struct {
			BuildType          string `json:"buildType"`
			ExternalParameters struct {
				Hyperparameters jsontext.Value `json:"hyperparameters"`
			} `json:"externalParameters"`
			ResolvedDependencies []struct {
				URI    string            `json:"uri"`
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
	} `json:"predicate"`
}

// ParsedRun is what a run statement says, checked for form.
type ParsedRun struct {
	Checkpoint        ID
	Datasets          []ID
	Base              ID
	HyperparamsDigest string
	CodeURI           string
	CodeDigest        string
}

// ParseRunStatement reads the facts of an SLSA Provenance v1 training
// statement: its subject is the checkpoint's manifest identity; its
// resolved dependencies name datasets (vai:dataset/<id>), at most one base
// model (vai:model/<id>) and the code (name "code", a URI and a digest);
// its external parameters hold the hyper-parameters, whose digest is the
// SHA-256 of their RFC 8785 form.
func ParseRunStatement(b []byte) (*ParsedRun, error) {
	var s slsaStatement
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, ErrRun.Wrapf("statement: %v", err)
	}
	if s.Type != InTotoStatementV1 || s.PredicateType != SLSAProvenanceV1 {
		return nil, ErrRun.Wrapf("not an in-toto v1 statement of SLSA provenance v1 (_type %q, predicateType %q)", s.Type, s.PredicateType)
	}
	if s.Predicate.BuildDefinition.BuildType != TrainingBuildType {
		return nil, ErrRun.Wrapf("buildType %q, want %q", s.Predicate.BuildDefinition.BuildType, TrainingBuildType)
	}
	if len(s.Subject) != 1 {
		return nil, ErrRun.Wrapf("%d subjects, want the one checkpoint", len(s.Subject))
	}
	ck, err := ParseID("sha256:" + s.Subject[0].Digest["sha256"])
	if err != nil {
		return nil, ErrRun.Wrapf("subject: %v", err)
	}
	r := &ParsedRun{Checkpoint: ck, Datasets: []ID{}}
	hp := s.Predicate.BuildDefinition.ExternalParameters.Hyperparameters
	if len(hp) == 0 {
		return nil, ErrRun.Wrapf("externalParameters.hyperparameters missing")
	}
	canon := hp.Clone()
	if err := canon.Canonicalize(); err != nil {
		return nil, ErrRun.Wrapf("hyperparameters: %v", err)
	}
	sum := sha256.Sum256(canon)
	r.HyperparamsDigest = "sha256:" + hex.EncodeToString(sum[:])
	for _, d := range s.Predicate.BuildDefinition.ResolvedDependencies {
		switch {
		case strings.HasPrefix(d.URI, DatasetURIPrefix):
			id, err := ParseID(strings.TrimPrefix(d.URI, DatasetURIPrefix))
			if err != nil {
				return nil, ErrRun.Wrapf("dependency %q: %v", d.URI, err)
			}
			r.Datasets = append(r.Datasets, id)
		case strings.HasPrefix(d.URI, ModelURIPrefix):
			id, err := ParseID(strings.TrimPrefix(d.URI, ModelURIPrefix))
			if err != nil {
				return nil, ErrRun.Wrapf("dependency %q: %v", d.URI, err)
			}
			if r.Base != "" {
				return nil, ErrRun.Wrapf("more than one base model")
			}
			r.Base = id
		case d.Name == CodeDependencyName:
			if r.CodeURI != "" {
				return nil, ErrRun.Wrapf("more than one code dependency")
			}
			r.CodeURI = d.URI
			for _, alg := range []string{"gitCommit", "sha1", "sha256"} {
				if v := d.Digest[alg]; v != "" {
					r.CodeDigest = alg + ":" + v
					break
				}
			}
		}
	}
	if r.CodeURI == "" || r.CodeDigest == "" {
		return nil, ErrRun.Wrapf("no code dependency (name %q with a uri and a gitCommit, sha1 or sha256 digest)", CodeDependencyName)
	}
	if len(r.CodeURI) > MaxTextBytes {
		return nil, ErrRun.Wrapf("code uri longer than %d bytes", MaxTextBytes)
	}
	if err := checkRefs("datasets", r.Datasets, MaxParents); err != nil {
		return nil, err
	}
	return r, nil
}

func (m *Module) recordRun(ctx *ledger.Context, msg *MsgRecordRun) error {
	id := RunID(msg.Statement)
	if r, ok := GetRun(ctx, id); ok {
		return existsError("training run", id, r.Trainer, r.Registered)
	}
	pub := ctx.Tx.Body.PubKey
	if !wire.VerifySignature(pub, wire.PAE(InTotoPayloadType, msg.Statement), msg.Signature) {
		return ErrRun.Wrapf("the signature is not the signer's over the statement's DSSE PAE (%s)", InTotoPayloadType)
	}
	p, err := ParseRunStatement(msg.Statement)
	if err != nil {
		return err
	}
	for _, d := range p.Datasets {
		if err := usableDataset(ctx, d); err != nil {
			return err
		}
	}
	if p.Base != "" {
		if _, ok := GetModel(ctx, p.Base); !ok {
			return ErrNotFound.Wrapf("base model %s", p.Base)
		}
	}
	r := Run{ID: id, Trainer: ctx.Signer(), TrainerKey: bytes.Clone(pub), StatementCID: msg.StatementCID, Signature: msg.Signature, Checkpoint: p.Checkpoint,
		Datasets: p.Datasets, Base: p.Base, HyperparamsDigest: p.HyperparamsDigest, CodeURI: p.CodeURI, CodeDigest: p.CodeDigest,
		AttestationCID: msg.AttestationCID, Registered: stamp(ctx)}
	put(ctx, pRun+string(id), r)
	index(ctx, r.Trainer, id, append(slices.Clone(r.Datasets), r.Base)...)
	ctx.Emit("run_recorded", ledger.AI("id", string(id)), ledger.AI("trainer", r.Trainer.String()), ledger.AI("checkpoint", string(r.Checkpoint)))
	return nil
}

// RunSpec describes a training run for BuildRunStatement.
type RunSpec struct {
	// Checkpoint is the manifest identity of the trained checkpoint, and
	// CheckpointName a name for it.
	Checkpoint     ID
	CheckpointName string
	Datasets       []ID
	Base           ID
	// Hyperparameters is any JSON value.
	Hyperparameters jsontext.Value
	CodeURI         string
	// CodeCommit is a git commit (gitCommit digest).
	CodeCommit string
	// Metrics, if set, is a JSON value recorded as a byproduct.
	Metrics jsontext.Value
	Trainer wire.Address
	// Started and Finished are RFC 3339 times, optional.
	Started, Finished string
}

// BuildRunStatement writes the SLSA Provenance v1 statement of a training
// run, as ParseRunStatement reads it.
func BuildRunStatement(s RunSpec) ([]byte, error) {
	type digest map[string]string
	type dep struct {
		URI    string `json:"uri"`
		Name   string `json:"name"`
		Digest digest `json:"digest"`
	}
	deps := []dep{}
	for _, d := range s.Datasets {
		deps = append(deps, dep{URI: DatasetURIPrefix + string(d), Name: "dataset", Digest: digest{"sha256": strings.TrimPrefix(string(d), "sha256:")}})
	}
	if s.Base != "" {
		deps = append(deps, dep{URI: ModelURIPrefix + string(s.Base), Name: "base-model", Digest: digest{"sha256": strings.TrimPrefix(string(s.Base), "sha256:")}})
	}
	deps = append(deps, dep{URI: s.CodeURI, Name: CodeDependencyName, Digest: digest{"gitCommit": s.CodeCommit}})
	hp := s.Hyperparameters
	if len(hp) == 0 {
		hp = jsontext.Value("{}")
	}
	metadata := map[string]string{}
	if s.Started != "" {
		metadata["startedOn"] = s.Started
	}
	if s.Finished != "" {
		metadata["finishedOn"] = s.Finished
	}
	type byproduct struct {
		Name      string         `json:"name"`
		MediaType string         `json:"mediaType"`
		Content   jsontext.Value `json:"content"`
	}
	byproducts := []byproduct{}
	if len(s.Metrics) > 0 {
		byproducts = append(byproducts, byproduct{Name: "metrics", MediaType: "application/json", Content: s.Metrics})
	}
	st := map[string]any{
		"_type":         InTotoStatementV1,
		"predicateType": SLSAProvenanceV1,
		"subject":       []any{map[string]any{"name": s.CheckpointName, "digest": digest{"sha256": strings.TrimPrefix(string(s.Checkpoint), "sha256:")}}},
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType":            TrainingBuildType,
				"externalParameters":   map[string]any{"hyperparameters": hp},
				"resolvedDependencies": deps,
			},
			"runDetails": map[string]any{
				"builder":    map[string]any{"id": "vai:trainer/" + s.Trainer.String()},
				"metadata":   metadata,
				"byproducts": byproducts,
			},
		},
	}
	return json.Marshal(st, json.Deterministic(true))
}
