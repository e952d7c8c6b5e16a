package tlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/logs"
)

// Prover builds proof files: it reads the log over tlog-tiles (tessera's
// client), and the chain's evidence through a node with a light client.
type Prover struct {
	Chain    *client.Client
	Verifier *client.Verifier
	// Log reads the log's tiles (tessera's HTTPFetcher on /logs/{name}/).
	Log Source
	// Publish, if set, asks the log's server to have a checkpoint covering
	// the entry witnessed when the chain has none yet.
	Publish func(ctx context.Context) error
}

// Prove returns the proof file of entry index of log name, against the
// newest checkpoint the chain witnessed (waiting for one that covers the
// entry, up to ctx's deadline). The proof is verified before it is returned.
func (p *Prover) Prove(ctx context.Context, name string, index uint64, d *Disclosure) (*ProofFile, *Verified, error) {
	ev := &Evidence{Version: EvidenceVersion, Name: name}
	var wc logs.Checkpoint
	published := false
	for {
		kp, err := p.Chain.ProveKey(ctx, logs.CheckpointKey(name), 0)
		if err != nil {
			return nil, nil, err
		}
		if len(kp.Value) > 0 {
			if err := json.Unmarshal(kp.Value, &wc); err != nil {
				return nil, nil, fmt.Errorf("witnessed checkpoint of %s: %w", name, err)
			}
			if wc.Size > index {
				ev.Height, ev.CheckpointValue, ev.CheckpointProof = kp.Height, kp.Value, kp.Proof
				break
			}
		}
		if p.Publish != nil && !published {
			if err := p.Publish(ctx); err != nil {
				return nil, nil, fmt.Errorf("failed to have log %s's checkpoint witnessed: %w", name, err)
			}
			published = true
			continue
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("no checkpoint of log %s covering entry %d is witnessed on the chain (witnessed size %d): %w", name, index, wc.Size, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	kp, err := p.Chain.ProveKey(ctx, logs.LogKey(name), ev.Height)
	if err != nil {
		return nil, nil, err
	}
	if len(kp.Value) == 0 {
		return nil, nil, fmt.Errorf("log %s is not registered", name)
	}
	ev.LogValue, ev.LogProof = kp.Value, kp.Proof
	// The entry and its inclusion proof, from the log's tiles.
	pb, err := tclient.NewProofBuilder(ctx, wc.Size, p.Log.ReadTile)
	if err != nil {
		return nil, nil, err
	}
	incl, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, nil, fmt.Errorf("inclusion proof of entry %d: %w", index, err)
	}
	bundle, err := tclient.GetEntryBundle(ctx, p.Log.ReadEntryBundle, index/layout.EntryBundleWidth, wc.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("entry %d: %w", index, err)
	}
	if i := index % layout.EntryBundleWidth; i < uint64(len(bundle.Entries)) {
		ev.Entry = bundle.Entries[i]
	} else {
		return nil, nil, fmt.Errorf("entry %d is missing from its bundle", index)
	}
	// Light blocks from the first block to the header at Height+1.
	target, err := p.Chain.WaitHeader(ctx, p.Verifier, ev.Height+1)
	if err != nil {
		return nil, nil, err
	}
	first, err := p.Verifier.Header(ctx, 1)
	if err != nil {
		return nil, nil, err
	}
	ev.ChainID = target.ChainID
	path, err := lightPath(ctx, p.Verifier, first, target)
	if err != nil {
		return nil, nil, err
	}
	for _, lb := range path {
		b, err := EncodeLightBlock(lb)
		if err != nil {
			return nil, nil, err
		}
		ev.LightBlocks = append(ev.LightBlocks, b)
	}
	ev.Disclosure = d
	extra, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	pf := &ProofFile{Extra: extra, Index: index, Proof: incl, Checkpoint: []byte(wc.Note)}
	res, err := Verify(ctx, pf, VerifyOptions{Header: p.Verifier.Header})
	if err != nil {
		return nil, nil, fmt.Errorf("the proof built does not verify: %w", err)
	}
	return pf, res, nil
}

// lightPath returns light blocks from first to target, each verifiable
// from the one before with CometBFT's skipping verification (bisecting
// where the validator set changed too much).
func lightPath(ctx context.Context, v *client.Verifier, first, target *types.LightBlock) ([]*types.LightBlock, error) {
	path := []*types.LightBlock{first}
	trusted := first
	pending := []*types.LightBlock{target}
	for len(pending) > 0 {
		next := pending[len(pending)-1]
		err := light.Verify(trusted.SignedHeader, trusted.ValidatorSet, next.SignedHeader, next.ValidatorSet,
			100*365*24*time.Hour, next.Time.Add(time.Second), 10*time.Second, light.DefaultTrustLevel)
		if err == nil {
			if next.Height != trusted.Height {
				path = append(path, next)
			}
			trusted = next
			pending = pending[:len(pending)-1]
			continue
		}
		var untrusted light.ErrNewValSetCantBeTrusted
		if !errors.As(err, &untrusted) || next.Height-trusted.Height < 2 {
			return nil, fmt.Errorf("light blocks %d to %d: %w", trusted.Height, next.Height, err)
		}
		mid, err := v.Header(ctx, (trusted.Height+next.Height)/2)
		if err != nil {
			return nil, err
		}
		pending = append(pending, mid)
	}
	return path, nil
}
