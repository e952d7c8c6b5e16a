package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtmath "github.com/cometbft/cometbft/libs/math"
	"github.com/cometbft/cometbft/light"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// BundleVersion names the audit bundle format.
const BundleVersion = "vai-audit/v1"

// Bundle is a self-contained audit bundle: the records of one record's
// whole lineage with their ICS23 proofs at one height, the chain of signed
// headers and validator sets from a trust root to the header that commits
// to that state, and the manifests and run statements the records name.
// VerifyBundle checks all of it without a network.
type Bundle struct {
	Version string      `json:"version"`
	ChainID string      `json:"chain_id"`
	Root    registry.ID `json:"root"`
	// Genesis validators, when the header chain starts at the first block:
	// its commit is then checked against them.
	GenesisValidators []GenesisValidator `json:"genesis_validators,omitempty"`
	// Headers are light blocks (protobuf, base64), trust root first; the
	// last is the header at Height+1.
	Headers [][]byte `json:"headers"`
	// Height is the state height of every proof.
	Height int64        `json:"height"`
	Facts  []BundleFact `json:"facts"`
	Blobs  []BundleBlob `json:"blobs"`
}

// GenesisValidator is a validator of the genesis file.
type GenesisValidator struct {
	PubKey []byte `json:"pub_key"` // ed25519
	Power  int64  `json:"power"`
}

// BundleFact is one proven state key.
type BundleFact struct {
	Key    []byte `json:"key"`
	Value  []byte `json:"value,omitempty"`
	Prefix []byte `json:"absent_prefix,omitempty"`
	Proof  []byte `json:"proof"`
}

// BundleBlob is a manifest or run statement from the content store.
type BundleBlob struct {
	For  registry.ID `json:"for"`
	Kind string      `json:"kind"` // manifest or statement
	Data []byte      `json:"data"`
}

// Export builds the audit bundle of id. v must be a verifier whose trust
// root is where the auditor's trust starts (the genesis, for a chain
// whose genesis the auditor has): its header chain goes in the bundle.
func (c *Client) Export(ctx context.Context, v *client.Verifier, genesis *types.GenesisDoc, id registry.ID) (*Bundle, error) {
	l, err := c.Lineage(ctx, id)
	if err != nil {
		return nil, err
	}
	facts, err := c.ProveLineage(ctx, l, 0)
	if err != nil {
		return nil, err
	}
	h := facts[0].Proof.Height
	lb, err := c.Chain.WaitHeader(ctx, v, h+1)
	if err != nil {
		return nil, err
	}
	chainID, err := c.Chain.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Version: BundleVersion, ChainID: chainID, Root: id, Height: h}
	for _, f := range facts {
		if err := f.Check(lb.AppHash); err != nil {
			return nil, fmt.Errorf("the node's proof of %s does not verify: %w", f.Fact, err)
		}
		b.Facts = append(b.Facts, BundleFact{Key: f.Proof.Key, Value: f.Proof.Value, Prefix: f.Prefix, Proof: f.Proof.Proof})
	}
	trace, err := v.Trace()
	if err != nil {
		return nil, err
	}
	for _, t := range trace {
		normalizeProposer(t.ValidatorSet)
		pb, err := t.ToProto()
		if err != nil {
			return nil, err
		}
		raw, err := pb.Marshal()
		if err != nil {
			return nil, err
		}
		b.Headers = append(b.Headers, raw)
	}
	if genesis != nil && len(trace) > 0 && trace[0].Height == genesis.InitialHeight {
		for _, gv := range genesis.Validators {
			b.GenesisValidators = append(b.GenesisValidators, GenesisValidator{PubKey: gv.PubKey.Bytes(), Power: gv.Power})
		}
	}
	for _, n := range l.Nodes {
		switch n.Kind {
		case "dataset", "model":
			content := n.Dataset
			var cidStr string
			if content != nil {
				cidStr = n.Dataset.ManifestCID
			} else {
				cidStr = n.Model.ManifestCID
			}
			data, err := c.GetBlob(ctx, cidStr, 256<<20)
			if err != nil {
				return nil, fmt.Errorf("manifest of %s: %w", n.ID, err)
			}
			b.Blobs = append(b.Blobs, BundleBlob{For: n.ID, Kind: "manifest", Data: data})
		case "run":
			data, err := c.GetBlob(ctx, n.Run.StatementCID, registry.MaxStatement)
			if err != nil {
				return nil, fmt.Errorf("statement of run %s: %w", n.ID, err)
			}
			b.Blobs = append(b.Blobs, BundleBlob{For: n.ID, Kind: "statement", Data: data})
		}
	}
	return b, nil
}

// Encode writes a bundle as indented JSON.
func (b *Bundle) Encode() ([]byte, error) {
	return json.Marshal(b, json.Deterministic(true), jsontext.WithIndent(" "))
}

// BundleReport is what an audit bundle proves.
type BundleReport struct {
	ChainID string      `json:"chain_id"`
	Root    registry.ID `json:"root"`
	Height  int64       `json:"height"`
	// TrustRoot is the hash of the first header of the chain of headers;
	// Pinned says whether it was checked against --trust.
	TrustRoot   string `json:"trust_root"`
	TrustHeight int64  `json:"trust_height"`
	FromGenesis bool   `json:"from_genesis"`
	Pinned      bool   `json:"pinned"`
	// Lineage is rebuilt from the proven records alone.
	Lineage  *registry.Lineage `json:"lineage"`
	Licences []string          `json:"licences"`
	Checks   int               `json:"checks"`
}

// ErrBundle is wrapped by every reason a bundle fails to verify.
var ErrBundle = errors.New("audit bundle does not verify")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBundle, fmt.Sprintf(format, args...))
}

// VerifyBundle checks a bundle with no network: each header follows from
// the one before (the first from the genesis validators when the bundle
// has them), trust (if given: the first header's hash) is pinned, every
// record is proven against the last header's app hash, the lineage is
// complete, manifests are the preimages of their identities and match
// their Merkle commitments, and run statements carry their trainer's
// signature.
func VerifyBundle(data []byte, trust string) (*BundleReport, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b, json.RejectUnknownMembers(true)); err != nil {
		return nil, bad("not a bundle: %v", err)
	}
	if b.Version != BundleVersion {
		return nil, bad("version %q, want %q", b.Version, BundleVersion)
	}
	// One bundle, one spelling: every byte is either checked below or
	// fixed by the encoding, so any changed byte fails.
	canon, err := b.Encode()
	if err != nil {
		return nil, bad("%v", err)
	}
	if !bytes.Equal(bytes.TrimSuffix(data, []byte("\n")), canon) {
		return nil, bad("not in canonical form: a byte was changed or the file was re-encoded")
	}
	rep := &BundleReport{ChainID: b.ChainID, Root: b.Root, Height: b.Height}
	last, err := verifyHeaders(&b, rep)
	if err != nil {
		return nil, err
	}
	if trust != "" {
		if !strings.EqualFold(strings.TrimPrefix(trust, "0x"), rep.TrustRoot) {
			return nil, bad("the headers start from %s, not the trusted %s", rep.TrustRoot, trust)
		}
		rep.Pinned = true
	}
	if last.Height != b.Height+1 {
		return nil, bad("the last header is at %d; the proofs need the header at %d", last.Height, b.Height+1)
	}
	// Every fact against the last header's app hash.
	state := map[string][]byte{}
	absent := map[string]bool{}
	for _, f := range b.Facts {
		kp := &client.KeyProof{Key: f.Key, Value: f.Value, Height: b.Height, Proof: f.Proof}
		cp, err := kp.Commitment()
		if err != nil {
			return nil, bad("key %q: %v", f.Key, err)
		}
		if re, err := cp.Marshal(); err != nil || !bytes.Equal(re, f.Proof) {
			return nil, bad("key %q: the proof is not in canonical protobuf form", f.Key)
		}
		fact := Fact{Fact: string(f.Key), Proof: kp, Prefix: f.Prefix}
		if err := fact.Check(last.AppHash); err != nil {
			return nil, bad("key %q: %v", f.Key, err)
		}
		if f.Prefix != nil {
			absent[string(f.Prefix)] = true
		} else {
			state[string(f.Key)] = f.Value
		}
		rep.Checks++
	}
	// Rebuild the lineage from the proven records.
	l, err := rebuildLineage(&b, state, absent)
	if err != nil {
		return nil, err
	}
	rep.Lineage = l
	rep.Licences = Licences(l)
	// Blobs: manifests and statements.
	blobs := map[registry.ID]BundleBlob{}
	for _, bl := range b.Blobs {
		blobs[bl.For] = bl
	}
	for _, n := range l.Nodes {
		bl, ok := blobs[n.ID]
		switch n.Kind {
		case "dataset", "model":
			if !ok || bl.Kind != "manifest" {
				return nil, bad("no manifest for %s %s", n.Kind, n.ID)
			}
			c := n.Model
			var content registry.Content
			if c != nil {
				content = c.Content
			} else {
				content = n.Dataset.Content
			}
			if _, err := checkManifest(n.ID, content, bl.Data); err != nil {
				return nil, bad("%v", err)
			}
		case "run":
			if !ok || bl.Kind != "statement" {
				return nil, bad("no statement for run %s", n.ID)
			}
			r := n.Run
			if registry.RunID(bl.Data) != r.ID {
				return nil, bad("the statement of run %s has digest %s", r.ID, registry.RunID(bl.Data))
			}
			if wire.AddressFromPubKey(r.TrainerKey) != r.Trainer {
				return nil, bad("run %s: the trainer key is not %s's", r.ID, r.Trainer)
			}
			if !wire.VerifySignature(r.TrainerKey, wire.PAE(registry.InTotoPayloadType, bl.Data), r.Signature) {
				return nil, bad("run %s: the statement's signature does not verify", r.ID)
			}
			p, err := registry.ParseRunStatement(bl.Data)
			if err != nil {
				return nil, bad("run %s: %v", r.ID, err)
			}
			if p.Checkpoint != r.Checkpoint || !slices.Equal(p.Datasets, r.Datasets) || p.Base != r.Base || p.HyperparamsDigest != r.HyperparamsDigest {
				return nil, bad("run %s: the statement says other than the record", r.ID)
			}
		}
		rep.Checks++
	}
	return rep, nil
}

// verifyHeaders checks the chain of light blocks and returns the last.
func verifyHeaders(b *Bundle, rep *BundleReport) (*types.LightBlock, error) {
	if len(b.Headers) == 0 {
		return nil, bad("no headers")
	}
	var prev *types.LightBlock
	for i, raw := range b.Headers {
		var pb cmtproto.LightBlock
		if err := pb.Unmarshal(raw); err != nil {
			return nil, bad("header %d: %v", i, err)
		}
		if re, err := pb.Marshal(); err != nil || !bytes.Equal(re, raw) {
			return nil, bad("header %d: not in canonical protobuf form", i)
		}
		lb, err := types.LightBlockFromProto(&pb)
		if err != nil {
			return nil, bad("header %d: %v", i, err)
		}
		if err := lb.ValidateBasic(b.ChainID); err != nil {
			return nil, bad("header %d (height %d): %v", i, lb.Height, err)
		}
		// Proposer priorities are not part of the validators hash: the
		// bundle holds them normalised, so they cannot change unseen.
		if !proposerNormalized(lb.ValidatorSet) {
			return nil, bad("header %d: validator set not in normal form", i)
		}
		// Every signature, not just enough of them: none may change unseen.
		if err := lb.ValidatorSet.VerifyCommit(b.ChainID, lb.Commit.BlockID, lb.Height, lb.Commit); err != nil {
			return nil, bad("header %d (height %d): %v", i, lb.Height, err)
		}
		if prev == nil {
			rep.TrustRoot, rep.TrustHeight = strings.ToUpper(hex.EncodeToString(lb.Hash())), lb.Height
			if len(b.GenesisValidators) > 0 {
				if err := checkGenesisCommit(b, lb); err != nil {
					return nil, err
				}
				rep.FromGenesis = true
			}
		} else {
			// Archived proofs outlive any trusting period: what matters is
			// that each header follows from the one before.
			now := lb.Time.Add(time.Second)
			err := light.Verify(prev.SignedHeader, prev.ValidatorSet, lb.SignedHeader, lb.ValidatorSet,
				100*365*24*time.Hour, now, time.Minute, cmtmath.Fraction{Numerator: 1, Denominator: 3})
			if err != nil {
				return nil, bad("header at height %d does not follow from the one at %d: %v", lb.Height, prev.Height, err)
			}
		}
		prev = lb
	}
	return prev, nil
}

func checkGenesisCommit(b *Bundle, lb *types.LightBlock) error {
	var vals []*types.Validator
	for _, gv := range b.GenesisValidators {
		pk, err := edPubKey(gv.PubKey)
		if err != nil {
			return bad("genesis validator: %v", err)
		}
		vals = append(vals, types.NewValidator(pk, gv.Power))
	}
	vs := types.NewValidatorSet(vals)
	if !bytes.Equal(lb.ValidatorsHash, vs.Hash()) {
		return bad("the first header's validators are not the genesis validators")
	}
	if err := vs.VerifyCommitLight(b.ChainID, lb.Commit.BlockID, lb.Height, lb.Commit); err != nil {
		return bad("the first header is not signed by the genesis validators: %v", err)
	}
	return nil
}

// rebuildLineage decodes the proven records and checks the lineage is
// whole: every reference has its proven record, every record its flags
// (or their proven absence).
func rebuildLineage(b *Bundle, state map[string][]byte, absent map[string]bool) (*registry.Lineage, error) {
	l := &registry.Lineage{Root: b.Root, Status: registry.RecordStatus{Flags: []registry.Flag{}, Withdrawn: []registry.Withdrawn{}}}
	seen := map[registry.ID]bool{b.Root: true}
	queue := []registry.ID{b.Root}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		n := registry.Node{ID: id}
		var refs []registry.Edge
		if v, ok := state[key("dataset", id)]; ok {
			var d registry.Dataset
			if err := ledger.DecodeJSON(v, &d); err != nil || d.ID != id {
				return nil, bad("dataset %s: bad record", id)
			}
			n.Kind, n.Dataset = "dataset", &d
			for _, p := range d.Parents {
				refs = append(refs, registry.Edge{From: id, To: p, Rel: "parent"})
			}
			if d.Withdrawn != nil {
				l.Status.Withdrawn = append(l.Status.Withdrawn, registry.Withdrawn{Dataset: id, Tombstone: *d.Withdrawn})
			}
		} else if v, ok := state[key("model", id)]; ok {
			var m registry.Model
			if err := ledger.DecodeJSON(v, &m); err != nil || m.ID != id {
				return nil, bad("model %s: bad record", id)
			}
			n.Kind, n.Model = "model", &m
			if m.Base != "" {
				refs = append(refs, registry.Edge{From: id, To: m.Base, Rel: "base"})
			}
			for _, d := range m.Datasets {
				refs = append(refs, registry.Edge{From: id, To: d, Rel: "dataset"})
			}
			if m.Run != "" {
				refs = append(refs, registry.Edge{From: id, To: m.Run, Rel: "run"})
			}
		} else if v, ok := state[key("run", id)]; ok {
			var r registry.Run
			if err := ledger.DecodeJSON(v, &r); err != nil || r.ID != id {
				return nil, bad("run %s: bad record", id)
			}
			n.Kind, n.Run = "run", &r
			for _, d := range r.Datasets {
				refs = append(refs, registry.Edge{From: id, To: d, Rel: "dataset"})
			}
			if r.Base != "" {
				refs = append(refs, registry.Edge{From: id, To: r.Base, Rel: "base"})
			}
		} else {
			return nil, bad("the lineage names %s, but the bundle proves no record of it", id)
		}
		if n.Kind != "run" {
			prefix := string(flagPrefix(id))
			flags := 0
			for k, v := range state {
				if strings.HasPrefix(k, prefix) {
					var f registry.Flag
					if err := ledger.DecodeJSON(v, &f); err != nil || f.Record != id {
						return nil, bad("flag %q: bad record", k)
					}
					n.Flags = append(n.Flags, f)
					flags++
				}
			}
			if flags == 0 && !absent[prefix] {
				return nil, bad("the bundle proves neither flags nor their absence for %s", id)
			}
			slices.SortFunc(n.Flags, func(a, b registry.Flag) int { return strings.Compare(string(a.Hash), string(b.Hash)) })
			l.Status.Flags = append(l.Status.Flags, n.Flags...)
		}
		l.Nodes = append(l.Nodes, n)
		for _, e := range refs {
			l.Edges = append(l.Edges, e)
			if !seen[e.To] {
				seen[e.To] = true
				queue = append(queue, e.To)
			}
		}
	}
	return l, nil
}

func key(kind string, id registry.ID) string {
	k, _ := registry.StateKey(kind, string(id))
	return string(k)
}

// Digest is the SHA-256 of a bundle, to name it.
func Digest(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func edPubKey(b []byte) (cmted25519.PubKey, error) {
	if len(b) != cmted25519.PubKeySize {
		return nil, fmt.Errorf("a validator key is %d bytes of ed25519, got %d", cmted25519.PubKeySize, len(b))
	}
	return cmted25519.PubKey(b), nil
}

// normalizeProposer gives a validator set the one form the bundle uses:
// every proposer priority zero and the first validator as proposer (neither
// is covered by the validators hash).
func normalizeProposer(vs *types.ValidatorSet) {
	for _, v := range vs.Validators {
		v.ProposerPriority = 0
	}
	if len(vs.Validators) > 0 {
		vs.Proposer = vs.Validators[0].Copy()
	}
}

func proposerNormalized(vs *types.ValidatorSet) bool {
	for _, v := range vs.Validators {
		if v.ProposerPriority != 0 {
			return false
		}
	}
	p := vs.Proposer
	return p != nil && len(vs.Validators) > 0 && p.ProposerPriority == 0 &&
		bytes.Equal(p.Address, vs.Validators[0].Address) && p.VotingPower == vs.Validators[0].VotingPower &&
		p.PubKey.Equals(vs.Validators[0].PubKey)
}
