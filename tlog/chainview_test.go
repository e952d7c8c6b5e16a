package tlog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/logs"
	vtlog "github.com/vai-dev/vai/tlog"
)

// provenChain answers proven state reads from an in-memory ledger, as a
// node does, except that lie may rewrite each answer; headers carry the
// ledger's app hashes, as light-client-verified headers would.
type provenChain struct {
	c         *ledgertest.Chain
	appHashes map[int64][]byte // state height -> app hash (in the header after it)
	lie       func(kp *client.KeyProof)
}

func (p *provenChain) ProveKey(_ context.Context, key []byte, height int64) (*client.KeyProof, error) {
	q, err := p.c.L.Query(ledger.QueryStore, key, height, true)
	if err != nil {
		return nil, err
	}
	b, err := q.Proof.Marshal()
	if err != nil {
		return nil, err
	}
	kp := &client.KeyProof{Key: key, Value: q.Value, Height: q.Height, Proof: b}
	if p.lie != nil {
		p.lie(kp)
	}
	return kp, nil
}

func (p *provenChain) header(_ context.Context, h int64) (*types.LightBlock, error) {
	app, ok := p.appHashes[h-1]
	if !ok {
		return nil, fmt.Errorf("no header %d", h)
	}
	return &types.LightBlock{SignedHeader: &types.SignedHeader{Header: &types.Header{ChainID: ledgertest.ChainID, Height: h, AppHash: app}}}, nil
}

func (p *provenChain) block(txs ...[]byte) ledger.TxResult {
	res := p.c.Block(txs...)
	p.appHashes[p.c.Height] = res.AppHash
	if len(res.Txs) == 0 {
		return ledger.TxResult{}
	}
	return res.Txs[0]
}

// `vai log monitor` reads what the chain says of a log through
// ReadChainView: a node's answer that does not match its proof against the
// verified header is refused, whatever it lies about.
func TestReadChainViewRefusesUnprovenAnswers(t *testing.T) {
	const origin = "vai-test/logs/inf"
	skey, vkey, _ := note.GenerateKey(rand.Reader, origin)
	signer, _ := note.NewSigner(skey)
	_, otherKey, _ := note.GenerateKey(rand.Reader, origin)
	root := bytes.Repeat([]byte{1}, 32)
	cp, _ := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n7\n%s\n", origin, base64.StdEncoding.EncodeToString(root))}, signer)

	p := &provenChain{c: ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{logs.New()} }}), appHashes: map[int64][]byte{}}
	c := p.c
	if r := p.block(c.Tx(c.Keys[0], c.Msg("logs/register", logs.MsgRegister{Name: "inf", Origin: origin, OperatorKey: vkey, Purpose: "inference"}))); !r.OK() {
		t.Fatal(r.Log)
	}
	ctx := context.Background()
	view, err := vtlog.ReadChainView(ctx, p, p.header, "inf")
	if err != nil || view.OperatorKey != vkey || view.WitnessedSize != 0 || view.ProvenAt != 1 {
		t.Fatalf("registered, nothing witnessed: %+v %v", view, err)
	}
	if r := p.block(c.Tx(c.Keys[1], c.Msg("logs/witness_checkpoint", logs.MsgWitness{Name: "inf", Checkpoint: string(cp)}))); !r.OK() {
		t.Fatal(r.Log)
	}
	honest, err := vtlog.ReadChainView(ctx, p, p.header, "inf")
	if err != nil || honest.WitnessedSize != 7 || !bytes.Equal(honest.WitnessedRoot, root) || honest.Height != 2 || honest.Origin != origin || honest.ProvenAt != 2 {
		t.Fatalf("honest node: %+v %v", honest, err)
	}
	if _, err := vtlog.ReadChainView(ctx, p, p.header, "nope"); !errors.Is(err, vtlog.ErrNotFound) {
		t.Errorf("a log proven absent: %v", err)
	}

	isCheckpoint := func(kp *client.KeyProof) bool { return bytes.Equal(kp.Key, logs.CheckpointKey("inf")) }
	isRecord := func(kp *client.KeyProof) bool { return bytes.Equal(kp.Key, logs.LogKey("inf")) }
	stale := func(kp *client.KeyProof) {
		old, _ := p.ProveKeyAt(kp.Key, 1)
		*kp = *old
		kp.Height = 2
	}
	lies := []struct {
		name string
		lie  func(*client.KeyProof)
	}{
		{"a smaller witnessed checkpoint", func(kp *client.KeyProof) {
			if isCheckpoint(kp) {
				kp.Value = bytes.Replace(kp.Value, []byte(`"size":7`), []byte(`"size":3`), 1)
			}
		}},
		{"another witnessed root", func(kp *client.KeyProof) {
			if isCheckpoint(kp) {
				kp.Value = bytes.Replace(kp.Value, []byte(`"root":"AQEB`), []byte(`"root":"AgEB`), 1)
			}
		}},
		{"nothing witnessed", func(kp *client.KeyProof) {
			if isCheckpoint(kp) {
				kp.Value = nil
			}
		}},
		{"another operator key", func(kp *client.KeyProof) {
			if isRecord(kp) {
				kp.Value = bytes.Replace(kp.Value, []byte(vkey), []byte(otherKey), 1)
			}
		}},
		{"the log is not registered", func(kp *client.KeyProof) {
			if isRecord(kp) {
				kp.Value = nil
			}
		}},
		{"the proofs swapped", func(kp *client.KeyProof) {
			if isRecord(kp) {
				other, _ := p.ProveKeyAt(logs.CheckpointKey("inf"), 2)
				kp.Proof = other.Proof
			}
		}},
		{"an older state passed off as the latest", func(kp *client.KeyProof) {
			if isCheckpoint(kp) {
				stale(kp)
			}
		}},
		{"an answer for another height", func(kp *client.KeyProof) {
			if isCheckpoint(kp) {
				kp.Height = 1
			}
		}},
		{"the state of another height", func(kp *client.KeyProof) {
			if isCheckpoint(kp) {
				stale(kp)
				kp.Height = 1
			}
		}},
		{"a proof that does not decode", func(kp *client.KeyProof) { kp.Proof = kp.Proof[:len(kp.Proof)/2] }},
	}
	for _, tc := range lies {
		p.lie = tc.lie
		view, err := vtlog.ReadChainView(ctx, p, p.header, "inf")
		if !errors.Is(err, vtlog.ErrVerify) {
			t.Errorf("%s: got %+v, %v; want an error wrapping ErrVerify", tc.name, view, err)
		}
	}
	p.lie = nil

	// A header that is not the chain's (the light client would refuse it,
	// but if it did not) does not vouch for the honest answer either.
	bad := func(ctx context.Context, h int64) (*types.LightBlock, error) {
		lb, err := p.header(ctx, h)
		if err == nil {
			lb.AppHash = bytes.Repeat([]byte{9}, 32)
		}
		return lb, err
	}
	if _, err := vtlog.ReadChainView(ctx, p, bad, "inf"); !errors.Is(err, vtlog.ErrVerify) || !strings.Contains(err.Error(), "does not match app hash") {
		t.Errorf("another header: %v", err)
	}
}

// ProveKeyAt is ProveKey without lies.
func (p *provenChain) ProveKeyAt(key []byte, height int64) (*client.KeyProof, error) {
	lie := p.lie
	p.lie = nil
	defer func() { p.lie = lie }()
	return p.ProveKey(context.Background(), key, height)
}
