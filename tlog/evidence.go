package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cometbft/cometbft/light"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/logs"
)

// EvidenceVersion names the format of Evidence.
const EvidenceVersion = "vai/tlog-evidence/v1"

// Evidence is what vai puts in a tlog-proof's extra data: the entry, and
// the chain's evidence that it witnessed the proof's checkpoint. The state
// at Height holds the log's record and, as its latest witnessed
// checkpoint, the proof's checkpoint; ICS23 proofs show both against the
// app hash of the header at Height+1, and LightBlocks are a chain of
// light blocks from the chain's first block to that header, each verified
// from the one before (CometBFT's skipping verification), so that the
// genesis validators are the root of trust.
type Evidence struct {
	Version         string   `json:"version"`
	Entry           []byte   `json:"entry"`
	ChainID         string   `json:"chain_id"`
	Name            string   `json:"name"`
	Height          int64    `json:"height"`
	LogValue        []byte   `json:"log_value"`
	LogProof        []byte   `json:"log_proof"`
	CheckpointValue []byte   `json:"checkpoint_value"`
	CheckpointProof []byte   `json:"checkpoint_proof"`
	LightBlocks     [][]byte `json:"light_blocks"`
	// Disclosure opens one committed field of an agent action entry.
	Disclosure *Disclosure `json:"disclosure,omitempty"`
}

// EncodeLightBlock encodes a light block for Evidence.
func EncodeLightBlock(lb *types.LightBlock) ([]byte, error) {
	pb, err := lb.ToProto()
	if err != nil {
		return nil, err
	}
	return pb.Marshal()
}

func decodeLightBlock(b []byte, chainID string) (*types.LightBlock, error) {
	var pb cmtproto.LightBlock
	if err := pb.Unmarshal(b); err != nil {
		return nil, err
	}
	lb, err := types.LightBlockFromProto(&pb)
	if err != nil {
		return nil, err
	}
	if err := lb.ValidateBasic(chainID); err != nil {
		return nil, err
	}
	return lb, nil
}

// VerifyOptions say where trust in the chain comes from.
type VerifyOptions struct {
	// Genesis anchors offline verification: the first light block must be
	// signed by its validators.
	Genesis *types.GenesisDoc
	// Header, if set, returns the light-client-verified header at a height
	// (online verification); the evidence's light blocks are then only
	// compared with it.
	Header func(ctx context.Context, height int64) (*types.LightBlock, error)
}

// Verified is what a verified proof file shows.
type Verified struct {
	Name        string    `json:"name"`
	Origin      string    `json:"origin"`
	Purpose     string    `json:"purpose"`
	Index       uint64    `json:"index"`
	Size        uint64    `json:"size"`
	Root        []byte    `json:"root"`
	Entry       []byte    `json:"entry"`
	ChainID     string    `json:"chain_id"`
	Height      int64     `json:"height"`
	HeaderTime  time.Time `json:"header_time"`
	AppHash     string    `json:"app_hash"`
	TrustSource string    `json:"trust_source"`
	// Disclosed is set for a disclosure: the field and its value.
	Disclosed *Disclosure `json:"disclosed,omitempty"`
}

// Verify checks a proof file: the entry's inclusion in the checkpoint,
// the operator's signature on it, and the chain's witnessing of it, down
// to the validators' signatures. Every failure wraps ErrVerify.
func Verify(ctx context.Context, p *ProofFile, o VerifyOptions) (*Verified, error) {
	fail := func(format string, args ...any) (*Verified, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrVerify}, args...)...)
	}
	var ev Evidence
	if err := decodeStrict(p.Extra, &ev); err != nil || ev.Version != EvidenceVersion {
		return fail("the proof carries no vai evidence (%s): %v", EvidenceVersion, err)
	}
	if len(ev.LightBlocks) == 0 {
		return fail("no light blocks")
	}
	// 1. The header at Height+1, trusted from genesis or a light client.
	hdr, source, err := trustedHeader(ctx, &ev, o)
	if err != nil {
		return fail("%v", err)
	}
	if hdr.Height != ev.Height+1 {
		return fail("the evidence ends at header %d, the state is at %d", hdr.Height, ev.Height)
	}
	// 2. The log's record and its witnessed checkpoint in that state.
	for _, kv := range []struct {
		what         string
		key, v, prof []byte
	}{
		{"log record", logs.LogKey(ev.Name), ev.LogValue, ev.LogProof},
		{"witnessed checkpoint", logs.CheckpointKey(ev.Name), ev.CheckpointValue, ev.CheckpointProof},
	} {
		if len(kv.v) == 0 {
			return fail("%s of log %s: no value", kv.what, ev.Name)
		}
		kp := client.KeyProof{Key: kv.key, Value: kv.v, Height: ev.Height, Proof: kv.prof}
		if err := kp.Verify(hdr.AppHash); err != nil {
			return fail("%s of log %s: %v", kv.what, ev.Name, err)
		}
	}
	var rec logs.Log
	if err := json.Unmarshal(ev.LogValue, &rec); err != nil {
		return fail("log record: %v", err)
	}
	var wc logs.Checkpoint
	if err := json.Unmarshal(ev.CheckpointValue, &wc); err != nil {
		return fail("witnessed checkpoint: %v", err)
	}
	if wc.Note != string(p.Checkpoint) {
		return fail("the proof's checkpoint is not the one the chain witnessed at height %d", ev.Height)
	}
	// 3. The operator's signature on the checkpoint.
	v, err := note.NewVerifier(rec.OperatorKey)
	if err != nil {
		return fail("registered operator key: %v", err)
	}
	cp, err := ParseCheckpoint(p.Checkpoint, rec.Origin, v)
	if err != nil {
		return nil, err
	}
	// 4. The entry's inclusion.
	if p.Index >= cp.Size {
		return fail("entry %d is not in a tree of %d entries", p.Index, cp.Size)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(ev.Entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leaf, p.Proof, cp.Root); err != nil {
		return fail("entry %d of log %s is not included in the witnessed tree of %d entries: %v", p.Index, ev.Name, cp.Size, err)
	}
	out := &Verified{Name: ev.Name, Origin: rec.Origin, Purpose: rec.Purpose, Index: p.Index, Size: cp.Size, Root: cp.Root,
		Entry: ev.Entry, ChainID: ev.ChainID, Height: ev.Height, HeaderTime: hdr.Time, AppHash: hdr.AppHash.String(), TrustSource: source}
	if d := ev.Disclosure; d != nil {
		if err := d.Check(ev.Entry); err != nil {
			return nil, err
		}
		out.Disclosed = d
	}
	return out, nil
}

// trustedHeader returns the evidence's last header once trusted.
func trustedHeader(ctx context.Context, ev *Evidence, o VerifyOptions) (*types.LightBlock, string, error) {
	blocks := make([]*types.LightBlock, len(ev.LightBlocks))
	for i, b := range ev.LightBlocks {
		lb, err := decodeLightBlock(b, ev.ChainID)
		if err != nil {
			return nil, "", fmt.Errorf("light block %d: %v", i, err)
		}
		blocks[i] = lb
	}
	last := blocks[len(blocks)-1]
	if o.Header != nil {
		lb, err := o.Header(ctx, last.Height)
		if err != nil {
			return nil, "", err
		}
		if !bytes.Equal(lb.Hash(), last.Hash()) {
			return nil, "", fmt.Errorf("header %d in the proof is not the chain's (%X, the light client verified %X)", last.Height, last.Hash(), lb.Hash())
		}
		return lb, "light client", nil
	}
	g := o.Genesis
	if g == nil {
		return nil, "", errors.New("offline verification needs the chain's genesis")
	}
	if g.ChainID != ev.ChainID {
		return nil, "", fmt.Errorf("the proof is for chain %q, the genesis for %q", ev.ChainID, g.ChainID)
	}
	first := blocks[0]
	initial := max(g.InitialHeight, 1)
	if first.Height != initial {
		return nil, "", fmt.Errorf("the light blocks start at %d, not at the first block %d", first.Height, initial)
	}
	vals := make([]*types.Validator, len(g.Validators))
	for i, v := range g.Validators {
		vals[i] = types.NewValidator(v.PubKey, v.Power)
	}
	gvs := types.NewValidatorSet(vals)
	if !bytes.Equal(first.ValidatorsHash, gvs.Hash()) {
		return nil, "", errors.New("the first block's validators are not the genesis validators")
	}
	if err := gvs.VerifyCommitLight(ev.ChainID, first.Commit.BlockID, first.Height, first.Commit); err != nil {
		return nil, "", fmt.Errorf("the first block is not signed by the genesis validators: %v", err)
	}
	trusted := first
	for _, lb := range blocks[1:] {
		if lb.Height <= trusted.Height {
			return nil, "", fmt.Errorf("light blocks out of order at %d", lb.Height)
		}
		// Offline, the evidence is checked as of its own time: the
		// trusting period guards live clients against long-range attacks,
		// which a signature chain from genesis settles for this purpose.
		now := lb.Time.Add(time.Second)
		if err := light.Verify(trusted.SignedHeader, trusted.ValidatorSet, lb.SignedHeader, lb.ValidatorSet,
			100*365*24*time.Hour, now, 10*time.Second, light.DefaultTrustLevel); err != nil {
			return nil, "", fmt.Errorf("header %d from header %d: %v", lb.Height, trusted.Height, err)
		}
		trusted = lb
	}
	return trusted, "genesis", nil
}
