package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	lightstore "github.com/cometbft/cometbft/light/store"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"
	json "github.com/go-json-experiment/json"
)

// ProofOpICS23 is the proof type the node attaches to store queries.
const ProofOpICS23 = "ics23:iavl"

// TrustRoot is the header a Verifier starts from.
type TrustRoot struct {
	ChainID string `json:"chain_id"`
	Height  int64  `json:"height"`
	Hash    string `json:"hash"`
	// Source says why it is trusted: "genesis" (its commit was checked
	// against the genesis validators), "flag" (given by the user),
	// "first-use" (taken from the node on first use) or "verified" (a
	// later header the light client verified from an earlier root).
	Source string `json:"source"`
}

// VerifierConfig sets up a Verifier.
type VerifierConfig struct {
	// Node is the RPC URL of the node (the light client's primary and,
	// lacking others, its witness).
	Node string
	// Witnesses are further RPC URLs to cross-check headers against.
	Witnesses []string
	ChainID   string
	// TrustFile keeps the latest verified header between runs ("" keeps
	// nothing).
	TrustFile string
	// Genesis, if given, anchors trust: the first block's commit is checked
	// against its validators.
	Genesis *types.GenesisDoc
	// TrustHeight and TrustHash, if given, anchor trust explicitly.
	TrustHeight int64
	TrustHash   []byte
	// TrustingPeriod bounds how old a trusted header may be (default two weeks).
	TrustingPeriod time.Duration
}

// Verifier checks headers with CometBFT's light client.
type Verifier struct {
	cfg   VerifierConfig
	lc    *light.Client
	store lightstore.Store
	Root  TrustRoot
}

// NewVerifier anchors trust (from the trust file, explicit flags, genesis
// or, as a last resort, first use) and starts a light client.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.TrustingPeriod == 0 {
		cfg.TrustingPeriod = 14 * 24 * time.Hour
	}
	if !strings.Contains(cfg.Node, "://") {
		cfg.Node = "http://" + cfg.Node
	}
	root, err := anchor(ctx, cfg)
	if err != nil {
		return nil, err
	}
	primary, err := lighthttp.New(cfg.ChainID, cfg.Node)
	if err != nil {
		return nil, err
	}
	witnesses := []string{cfg.Node}
	if len(cfg.Witnesses) > 0 {
		witnesses = cfg.Witnesses
	}
	var ws []provider.Provider
	for _, w := range witnesses {
		p, err := lighthttp.New(cfg.ChainID, w)
		if err != nil {
			return nil, err
		}
		ws = append(ws, p)
	}
	hash, _ := hex.DecodeString(root.Hash)
	st := lightdb.New(dbm.NewMemDB(), cfg.ChainID)
	lc, err := light.NewClient(ctx, cfg.ChainID,
		light.TrustOptions{Period: cfg.TrustingPeriod, Height: root.Height, Hash: hash},
		primary, ws, st,
		light.SkippingVerification(light.DefaultTrustLevel), light.MaxRetryAttempts(3))
	if err != nil {
		return nil, fmt.Errorf("light client from trusted header %d (%s): %w", root.Height, root.Source, err)
	}
	return &Verifier{cfg: cfg, lc: lc, store: st, Root: root}, nil
}

// Genesis returns the genesis the verifier anchored trust to, if any.
func (v *Verifier) Genesis() *types.GenesisDoc {
	if v.Root.Source != "genesis" {
		return nil
	}
	return v.cfg.Genesis
}

// Trace returns every light block the verifier has verified and kept, from
// its trust root up, in height order: a chain of headers an offline
// verifier can check step by step (light.Verify) from the root.
func (v *Verifier) Trace() ([]*types.LightBlock, error) {
	last, err := v.store.LastLightBlockHeight()
	if err != nil {
		return nil, err
	}
	lb, err := v.store.LightBlock(last)
	if err != nil {
		return nil, err
	}
	out := []*types.LightBlock{lb}
	for lb.Height > v.Root.Height {
		prev, err := v.store.LightBlockBefore(lb.Height)
		if err != nil {
			break
		}
		out = append(out, prev)
		lb = prev
	}
	slices.Reverse(out)
	return out, nil
}

// anchor finds the trust root.
func anchor(ctx context.Context, cfg VerifierConfig) (TrustRoot, error) {
	if cfg.TrustHeight > 0 {
		if len(cfg.TrustHash) == 0 {
			return TrustRoot{}, errors.New("a trust height needs a trust hash")
		}
		return TrustRoot{ChainID: cfg.ChainID, Height: cfg.TrustHeight, Hash: strings.ToUpper(hex.EncodeToString(cfg.TrustHash)), Source: "flag"}, nil
	}
	if cfg.TrustFile != "" {
		if b, err := os.ReadFile(cfg.TrustFile); err == nil {
			var r TrustRoot
			if err := json.Unmarshal(b, &r); err != nil {
				return TrustRoot{}, fmt.Errorf("corrupt trust file %s: %w", cfg.TrustFile, err)
			}
			if r.ChainID != cfg.ChainID {
				return TrustRoot{}, fmt.Errorf("trust file %s is for chain %q, the node serves %q", cfg.TrustFile, r.ChainID, cfg.ChainID)
			}
			return r, nil
		}
	}
	rpc, err := Dial(cfg.Node)
	if err != nil {
		return TrustRoot{}, err
	}
	if cfg.Genesis != nil {
		return anchorGenesis(ctx, rpc.rpc, cfg.Genesis, cfg.ChainID)
	}
	st, err := rpc.rpc.Status(ctx)
	if err != nil {
		return TrustRoot{}, err
	}
	h := st.SyncInfo.LatestBlockHeight
	c, err := rpc.rpc.Commit(ctx, &h)
	if err != nil {
		return TrustRoot{}, err
	}
	return TrustRoot{ChainID: cfg.ChainID, Height: h, Hash: c.SignedHeader.Hash().String(), Source: "first-use"}, nil
}

// anchorGenesis checks the commit of the first block against the genesis
// validators: the root of trust is then the genesis file itself.
func anchorGenesis(ctx context.Context, rpc rpcclient.Client, g *types.GenesisDoc, chainID string) (TrustRoot, error) {
	if g.ChainID != chainID {
		return TrustRoot{}, fmt.Errorf("genesis is for chain %q, the node serves %q", g.ChainID, chainID)
	}
	vals := make([]*types.Validator, len(g.Validators))
	for i, v := range g.Validators {
		vals[i] = types.NewValidator(v.PubKey, v.Power)
	}
	vs := types.NewValidatorSet(vals)
	h := g.InitialHeight
	if h == 0 {
		h = 1
	}
	c, err := rpc.Commit(ctx, &h)
	if err != nil {
		return TrustRoot{}, fmt.Errorf("commit of the first block: %w", err)
	}
	sh := c.SignedHeader
	if err := sh.ValidateBasic(chainID); err != nil {
		return TrustRoot{}, fmt.Errorf("first block: %w", err)
	}
	if !bytes.Equal(sh.ValidatorsHash, vs.Hash()) {
		return TrustRoot{}, errors.New("the first block's validators are not the genesis validators")
	}
	if err := vs.VerifyCommitLight(chainID, sh.Commit.BlockID, sh.Height, sh.Commit); err != nil {
		return TrustRoot{}, fmt.Errorf("the first block is not signed by the genesis validators: %w", err)
	}
	return TrustRoot{ChainID: chainID, Height: sh.Height, Hash: sh.Hash().String(), Source: "genesis"}, nil
}

// Header returns the light block at height, verified from the trust root.
func (v *Verifier) Header(ctx context.Context, height int64) (*types.LightBlock, error) {
	lb, err := v.lc.VerifyLightBlockAtHeight(ctx, height, time.Now())
	if err != nil {
		return nil, fmt.Errorf("verify header %d: %w", height, err)
	}
	v.save(lb)
	return lb, nil
}

// save records the newest verified header as the next run's trust root.
func (v *Verifier) save(lb *types.LightBlock) {
	if v.cfg.TrustFile == "" || lb.Height <= v.Root.Height {
		return
	}
	r := TrustRoot{ChainID: v.cfg.ChainID, Height: lb.Height, Hash: lb.Hash().String(), Source: "verified"}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(v.cfg.TrustFile), 0o700); err != nil {
		return
	}
	tmp := v.cfg.TrustFile + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, v.cfg.TrustFile)
	}
}

// Proven is a state value with its proof and the verified header it was
// checked against.
type Proven struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
	// Height is the state's height; the proof is checked against the app
	// hash in the header at Height+1.
	Height       int64  `json:"height"`
	HeaderHeight int64  `json:"header_height"`
	AppHash      string `json:"app_hash"`
	Verified     bool   `json:"verified"`
	TrustSource  string `json:"trust_source"`
}

// QueryProven reads a raw state key at height (0: latest) with its ICS23
// proof and checks it against the light-client-verified header of the next
// height, waiting up to a few seconds for that header to exist. It returns
// an error if anything fails to verify.
func (c *Client) QueryProven(ctx context.Context, v *Verifier, key []byte, height int64) (*Proven, error) {
	kp, err := c.ProveKey(ctx, key, height)
	if err != nil {
		return nil, err
	}
	lb, err := c.WaitHeader(ctx, v, kp.Height+1)
	if err != nil {
		return nil, err
	}
	p := &Proven{Key: key, Value: kp.Value, Height: kp.Height, HeaderHeight: lb.Height, AppHash: lb.AppHash.String(), TrustSource: v.Root.Source}
	if err := kp.Verify(lb.AppHash); err != nil {
		return p, err
	}
	p.Verified = true
	return p, nil
}

// WaitHeader waits (up to 15 s) for the header at h and verifies it.
func (c *Client) WaitHeader(ctx context.Context, v *Verifier, h int64) (*types.LightBlock, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := c.rpc.Status(ctx)
		if err != nil {
			return nil, err
		}
		if st.SyncInfo.LatestBlockHeight >= h {
			return v.Header(ctx, h)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("header %d did not appear (chain at %d)", h, st.SyncInfo.LatestBlockHeight)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// VerifyProof checks an ICS23 proof that key has value (absent if value is
// nil) in the state whose IAVL root is appHash.
func VerifyProof(appHash []byte, proof *ics23.CommitmentProof, key, value []byte) bool {
	if value == nil {
		return ics23.VerifyNonMembership(ics23.IavlSpec, appHash, proof, key)
	}
	return ics23.VerifyMembership(ics23.IavlSpec, appHash, proof, key, value)
}
