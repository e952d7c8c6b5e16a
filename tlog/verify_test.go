package tlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/google/go-cmp/cmp"

	vtlog "github.com/vai-dev/vai/tlog"
)

// Everything in a proof file that its signatures do not cover (the extra
// data is unauthenticated by the tlog-proof format; vai puts the entry and
// the chain's evidence there) is either checked, so that altering it makes
// verification fail, or not reported as verified: a proof file whose
// changes survive verification reports exactly what the original does.
func TestVerifyRefusesAlteredFields(t *testing.T) {
	orig, _, g := loadFixture(t)
	ctx := context.Background()
	want, err := vtlog.Verify(ctx, orig, vtlog.VerifyOptions{Genesis: g})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i%len(b)] ^= 1; return b }
	edit := func(f func(ev *vtlog.Evidence)) func(*vtlog.ProofFile) {
		return func(p *vtlog.ProofFile) {
			var ev vtlog.Evidence
			if err := json.Unmarshal(p.Extra, &ev); err != nil {
				t.Fatal(err)
			}
			f(&ev)
			p.Extra, _ = json.Marshal(ev)
		}
	}
	replace := func(b []byte, old, new string) []byte {
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%q not in %s", old, b)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	lastBlock := func(ev *vtlog.Evidence) *types.LightBlock {
		var pb cmtproto.LightBlock
		if err := pb.Unmarshal(ev.LightBlocks[len(ev.LightBlocks)-1]); err != nil {
			t.Fatal(err)
		}
		lb, err := types.LightBlockFromProto(&pb)
		if err != nil {
			t.Fatal(err)
		}
		return lb
	}
	intruder := cmted25519.GenPrivKeyFromSecret([]byte("not a validator"))

	refused := []struct {
		name   string
		alter  func(*vtlog.ProofFile)
		reason string
	}{
		// The tlog-proof lines.
		{"index of a neighbour", func(p *vtlog.ProofFile) { p.Index++ }, "not included"},
		{"index beyond the tree", func(p *vtlog.ProofFile) { p.Index = fixtureSize }, "not in a tree of 5"},
		{"inclusion proof hash", func(p *vtlog.ProofFile) { p.Proof[1] = flip(p.Proof[1], 7) }, "not included"},
		{"inclusion proof shortened", func(p *vtlog.ProofFile) { p.Proof = p.Proof[:len(p.Proof)-1] }, "not included"},
		{"checkpoint size", func(p *vtlog.ProofFile) { p.Checkpoint = replace(p.Checkpoint, "\n5\n", "\n6\n") }, "not the one the chain witnessed"},
		{"checkpoint with a cosignature added", func(p *vtlog.ProofFile) {
			p.Checkpoint = append(bytes.Clone(p.Checkpoint), []byte("— witness.example AAAAAAAA\n")...)
		}, "not the one the chain witnessed"},
		{"no extra data", func(p *vtlog.ProofFile) { p.Extra = nil }, "no vai evidence"},
		{"extra data with an unknown member", func(p *vtlog.ProofFile) { p.Extra = replace(p.Extra, "{", `{"verified":true,`) }, "no vai evidence"},
		{"extra data with trailing data", func(p *vtlog.ProofFile) { p.Extra = append(bytes.Clone(p.Extra), `{"entry":"eA=="}`...) }, "no vai evidence"},
		// The evidence, member by member.
		{"evidence version", edit(func(ev *vtlog.Evidence) { ev.Version = "vai/tlog-evidence/v0" }), "no vai evidence"},
		{"entry: another of the log", edit(func(ev *vtlog.Evidence) { ev.Entry = agentEntry(2) }), "not included"},
		{"entry: one bit", edit(func(ev *vtlog.Evidence) { ev.Entry = flip(ev.Entry, 40) }), "not included"},
		{"chain id", edit(func(ev *vtlog.Evidence) { ev.ChainID = "vai-other" }), "light block 0"},
		{"log name", edit(func(ev *vtlog.Evidence) { ev.Name = "agent2" }), "does not match app hash"},
		{"height, earlier", edit(func(ev *vtlog.Evidence) { ev.Height-- }), "ends at header 3"},
		{"height, later", edit(func(ev *vtlog.Evidence) { ev.Height++ }), "ends at header 3"},
		{"log record: purpose", edit(func(ev *vtlog.Evidence) {
			ev.LogValue = replace(ev.LogValue, `"purpose":"agent"`, `"purpose":"custom"`)
		}), "log record of log agent"},
		{"log record: operator key", edit(func(ev *vtlog.Evidence) {
			ev.LogValue = replace(ev.LogValue, `"operator_key":"vai-test/logs/agent+`, `"operator_key":"vai-test/logs/agent+0`)
		}), "log record of log agent"},
		{"log record: proof", edit(func(ev *vtlog.Evidence) { ev.LogProof = flip(ev.LogProof, len(ev.LogProof)-3) }), "log record"},
		{"witnessed checkpoint: size", edit(func(ev *vtlog.Evidence) { ev.CheckpointValue = replace(ev.CheckpointValue, `"size":5`, `"size":6`) }), "witnessed checkpoint of log agent"},
		{"witnessed checkpoint: proof", edit(func(ev *vtlog.Evidence) { ev.CheckpointProof = flip(ev.CheckpointProof, len(ev.CheckpointProof)-3) }), "witnessed checkpoint"},
		{"proofs swapped", edit(func(ev *vtlog.Evidence) { ev.LogProof, ev.CheckpointProof = ev.CheckpointProof, ev.LogProof }), "log record of log agent"},
		{"records swapped", edit(func(ev *vtlog.Evidence) {
			ev.LogValue, ev.CheckpointValue, ev.LogProof, ev.CheckpointProof = ev.CheckpointValue, ev.LogValue, ev.CheckpointProof, ev.LogProof
		}), "log record of log agent"},
		{"light blocks: no first block", edit(func(ev *vtlog.Evidence) { ev.LightBlocks = ev.LightBlocks[1:] }), "start at 3, not at the first block 1"},
		{"light blocks: no last block", edit(func(ev *vtlog.Evidence) { ev.LightBlocks = ev.LightBlocks[:1] }), "ends at header 1"},
		{"light blocks: none", edit(func(ev *vtlog.Evidence) { ev.LightBlocks = nil }), "no light blocks"},
		{"light block: one bit", edit(func(ev *vtlog.Evidence) { ev.LightBlocks[1] = flip(ev.LightBlocks[1], 100) }), "light block 1"},
		{"light block signed by a stranger", edit(func(ev *vtlog.Evidence) {
			lb := lastBlock(ev)
			vs := types.NewValidatorSet([]*types.Validator{types.NewValidator(intruder.PubKey(), 10)})
			forged := signedLightBlock(t, intruder, vs, lb.Height, lb.Time, lb.AppHash)
			ev.LightBlocks[1], _ = vtlog.EncodeLightBlock(forged)
		}), "header 3 from header 1"},
		{"disclosure: value", edit(func(ev *vtlog.Evidence) {
			ev.Disclosure.Value = json.RawMessage(`{"name":"search","args":{"q":"stocks"}}`)
		}), "does not match its commitment"},
		{"disclosure: value respaced", func(p *vtlog.ProofFile) { p.Extra = replace(p.Extra, `{"name":"search"`, `{"name": "search"`) }, "does not match its commitment"},
		{"disclosure: salt", edit(func(ev *vtlog.Evidence) { ev.Disclosure.Salt = flip(ev.Disclosure.Salt, 0) }), "does not match its commitment"},
		{"disclosure: field", edit(func(ev *vtlog.Evidence) { ev.Disclosure.Field = "result" }), "does not match its commitment"},
		{"disclosure: unknown field", edit(func(ev *vtlog.Evidence) { ev.Disclosure.Field = "agent" }), "unknown field"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			p := clone(orig)
			tc.alter(p)
			// Through the file format too: what is refused is what a file can carry.
			back, err := vtlog.ParseProofFile(p.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			res, err := vtlog.Verify(ctx, back, vtlog.VerifyOptions{Genesis: g})
			if !errors.Is(err, vtlog.ErrVerify) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("got %+v, %v; want an error wrapping ErrVerify that says %q", res, err, tc.reason)
			}
		})
	}

	// Changes that verify must not change what is reported.
	kept := []struct {
		name  string
		alter func(*vtlog.ProofFile)
	}{
		{"no disclosure", edit(func(ev *vtlog.Evidence) { ev.Disclosure = nil })},
		{"no disclosure, extra data re-encoded", func(p *vtlog.ProofFile) {
			var m map[string]any
			json.Unmarshal(p.Extra, &m)
			delete(m, "disclosure")
			p.Extra, _ = json.MarshalIndent(m, "", "  ")
		}},
	}
	for _, tc := range kept {
		t.Run(tc.name, func(t *testing.T) {
			p := clone(orig)
			tc.alter(p)
			got, err := vtlog.Verify(ctx, p, vtlog.VerifyOptions{Genesis: g})
			if err != nil {
				t.Fatal(err)
			}
			w := *want
			if strings.HasPrefix(tc.name, "no disclosure") {
				w.Disclosed = nil
			}
			if diff := cmp.Diff(&w, got); diff != "" {
				t.Fatalf("reported (-original +altered):\n%s", diff)
			}
		})
	}
}

// The trust in the chain comes from the genesis offline, and from the
// light client online: a proof is refused by another chain's validators,
// and by a light client that verified another header.
func TestVerifyTrustRoots(t *testing.T) {
	p, _, g := loadFixture(t)
	ctx := context.Background()
	var ev vtlog.Evidence
	if err := json.Unmarshal(p.Extra, &ev); err != nil {
		t.Fatal(err)
	}
	var pb cmtproto.LightBlock
	pb.Unmarshal(ev.LightBlocks[1])
	last, err := types.LightBlockFromProto(&pb)
	if err != nil {
		t.Fatal(err)
	}

	other := *g
	k := cmted25519.GenPrivKeyFromSecret([]byte("another chain"))
	other.Validators = []types.GenesisValidator{{Address: k.PubKey().Address(), PubKey: k.PubKey(), Power: 10}}
	if _, err := vtlog.Verify(ctx, p, vtlog.VerifyOptions{Genesis: &other}); !errors.Is(err, vtlog.ErrVerify) || !strings.Contains(err.Error(), "not the genesis validators") {
		t.Errorf("another chain's genesis: %v", err)
	}
	renamed := *g
	renamed.ChainID = "vai-other"
	if _, err := vtlog.Verify(ctx, p, vtlog.VerifyOptions{Genesis: &renamed}); !errors.Is(err, vtlog.ErrVerify) {
		t.Errorf("another chain id: %v", err)
	}
	if _, err := vtlog.Verify(ctx, p, vtlog.VerifyOptions{}); !errors.Is(err, vtlog.ErrVerify) {
		t.Errorf("no root of trust: %v", err)
	}

	header := func(lb *types.LightBlock) func(context.Context, int64) (*types.LightBlock, error) {
		return func(_ context.Context, h int64) (*types.LightBlock, error) {
			if h != lb.Height {
				return nil, errors.New("unexpected height")
			}
			return lb, nil
		}
	}
	res, err := vtlog.Verify(ctx, p, vtlog.VerifyOptions{Header: header(last)})
	if err != nil || res.TrustSource != "light client" {
		t.Fatalf("online: %+v %v", res, err)
	}
	val := cmted25519.GenPrivKeyFromSecret([]byte("vai tlog fixture validator"))
	fork := signedLightBlock(t, val, last.ValidatorSet, last.Height, last.Time.Add(time.Millisecond), last.AppHash)
	if _, err := vtlog.Verify(ctx, p, vtlog.VerifyOptions{Header: header(fork)}); !errors.Is(err, vtlog.ErrVerify) || !strings.Contains(err.Error(), "is not the chain's") {
		t.Errorf("online, the light client verified another header: %v", err)
	}
}

func clone(p *vtlog.ProofFile) *vtlog.ProofFile {
	c := &vtlog.ProofFile{Extra: bytes.Clone(p.Extra), Index: p.Index, Checkpoint: bytes.Clone(p.Checkpoint)}
	for _, h := range p.Proof {
		c.Proof = append(c.Proof, bytes.Clone(h))
	}
	return c
}
