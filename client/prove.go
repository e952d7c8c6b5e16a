package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	ics23 "github.com/cosmos/ics23/go"
)

// KeyProof is a raw state value at a height with its ICS23 proof (protobuf
// bytes), checkable against the app hash of the header at Height+1.
type KeyProof struct {
	Key    []byte `json:"key"`
	Value  []byte `json:"value"` // nil: the key is absent
	Height int64  `json:"height"`
	Proof  []byte `json:"proof"`
}

// Commitment decodes the proof.
func (p *KeyProof) Commitment() (*ics23.CommitmentProof, error) {
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(p.Proof); err != nil {
		return nil, fmt.Errorf("decode ICS23 proof of %q: %w", p.Key, err)
	}
	return &cp, nil
}

// Verify checks the proof against an app hash.
func (p *KeyProof) Verify(appHash []byte) error {
	cp, err := p.Commitment()
	if err != nil {
		return err
	}
	if !VerifyProof(appHash, cp, p.Key, p.Value) {
		return fmt.Errorf("the proof of key %q at height %d does not match app hash %X", p.Key, p.Height, appHash)
	}
	// ICS23 checks a non-membership proof by its neighbours only: its own
	// copy of the key is not authenticated, so it must be the key.
	if ne := cp.GetNonexist(); ne != nil && !bytes.Equal(ne.Key, p.Key) {
		return fmt.Errorf("the non-membership proof names key %q, not %q", ne.Key, p.Key)
	}
	return nil
}

// ProveKey reads a raw state key at height (0: the latest) with its proof,
// without checking it.
func (c *Client) ProveKey(ctx context.Context, key []byte, height int64) (*KeyProof, error) {
	res, err := c.rpc.ABCIQueryWithOptions(ctx, "/store", key, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return nil, fmt.Errorf("store query: %w", err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, &QueryError{Path: "/store", Code: r.Code, Codespace: r.Codespace, Log: r.Log}
	}
	if !bytes.Equal(r.Key, key) {
		return nil, errors.New("the node answered for another key")
	}
	if r.ProofOps == nil || len(r.ProofOps.Ops) != 1 || r.ProofOps.Ops[0].Type != ProofOpICS23 {
		return nil, errors.New("the node sent no ICS23 proof")
	}
	return &KeyProof{Key: key, Value: r.Value, Height: r.Height, Proof: r.ProofOps.Ops[0].Data}, nil
}

// NoKeyWithPrefix checks that a non-membership proof of prefix (itself
// absent) also shows that no key starts with it: the proof's right
// neighbour, if any, lies beyond every key with the prefix.
func NoKeyWithPrefix(p *KeyProof, prefix []byte) error {
	if !bytes.Equal(p.Key, prefix) || p.Value != nil {
		return errors.New("not a non-membership proof of the prefix")
	}
	cp, err := p.Commitment()
	if err != nil {
		return err
	}
	ne := cp.GetNonexist()
	if ne == nil {
		return errors.New("not a non-membership proof")
	}
	if r := ne.GetRight(); r != nil && bytes.HasPrefix(r.GetKey(), prefix) {
		return fmt.Errorf("a key with prefix %q exists (%q)", prefix, r.GetKey())
	}
	return nil
}
