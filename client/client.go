// Package client talks to a vai node: it reads state (optionally with proofs
// checked against light-client-verified headers), builds, signs and submits
// transactions, and waits for them to commit.
//
// A Client wraps a CometBFT RPC client, so the same code works over HTTP
// (Dial) or in-process (New with rpc/client/local).
//
//	c, err := client.Dial("http://127.0.0.1:26657")
//	res, err := c.Send(ctx, key, client.TxOptions{Wait: true}, msg)
//
// Transaction results carry the ledger's error codes: a *TxError says which
// codespace and code rejected a transaction, and why.
package client

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	json "github.com/go-json-experiment/json"

	"github.com/vai-dev/vai/wire"
)

// DefaultNode is the RPC address of a local node.
const DefaultNode = "http://127.0.0.1:26657"

// Client is a connection to a node.
type Client struct {
	rpc     rpcclient.Client
	chainID string
}

// New wraps an RPC client.
func New(rpc rpcclient.Client) *Client { return &Client{rpc: rpc} }

// Dial connects to a node's RPC over HTTP.
func Dial(url string) (*Client, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	c, err := rpchttp.NewWithTimeout(url, "/websocket", 30)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to %s: %w", url, err)
	}
	return New(c), nil
}

// RPC returns the underlying CometBFT client.
func (c *Client) RPC() rpcclient.Client { return c.rpc }

// Errors.
var (
	// ErrTxNotFound: the node does not know the transaction (yet).
	ErrTxNotFound = errors.New("transaction not found")
	// ErrNotIncluded: the transaction's timeout height passed without it
	// being included; it can never be, so its sequence may be reused.
	ErrNotIncluded = errors.New("transaction not included before its timeout height")
)

// TxError is a transaction rejected by the mempool or failed in a block.
type TxError struct {
	Hash      string
	Height    int64 // 0 if rejected before inclusion
	Code      uint32
	Codespace string
	Log       string
}

func (e *TxError) Error() string {
	where := "rejected"
	if e.Height > 0 {
		where = fmt.Sprintf("failed at height %d", e.Height)
	}
	return fmt.Sprintf("transaction %s %s: %s (code %s/%d)", e.Hash, where, e.Log, e.Codespace, e.Code)
}

// QueryError is a query the node answered with an error code.
type QueryError struct {
	Path      string
	Code      uint32
	Codespace string
	Log       string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("query %s: %s (code %s/%d)", e.Path, e.Log, e.Codespace, e.Code)
}

// Validator is one member of the validator set.
type Validator struct {
	Address     string `json:"address"`
	PubKey      []byte `json:"pub_key"`
	VotingPower int64  `json:"voting_power"`
}

// Status is a node's view of the chain.
type Status struct {
	ChainID           string      `json:"chain_id"`
	NodeID            string      `json:"node_id"`
	Moniker           string      `json:"moniker"`
	LatestBlockHeight int64       `json:"latest_block_height"`
	LatestBlockTime   time.Time   `json:"latest_block_time"`
	LatestAppHash     string      `json:"latest_app_hash"`
	CatchingUp        bool        `json:"catching_up"`
	Validators        []Validator `json:"validators"`
}

// Status returns the node's status and the current validator set.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	out := &Status{
		ChainID: st.NodeInfo.Network, NodeID: string(st.NodeInfo.DefaultNodeID), Moniker: st.NodeInfo.Moniker,
		LatestBlockHeight: st.SyncInfo.LatestBlockHeight, LatestBlockTime: st.SyncInfo.LatestBlockTime,
		LatestAppHash: st.SyncInfo.LatestAppHash.String(), CatchingUp: st.SyncInfo.CatchingUp,
	}
	c.chainID = out.ChainID
	page, per := 1, 100
	for {
		vs, err := c.rpc.Validators(ctx, nil, &page, &per)
		if err != nil {
			return nil, fmt.Errorf("validators: %w", err)
		}
		for _, v := range vs.Validators {
			out.Validators = append(out.Validators, Validator{Address: v.Address.String(), PubKey: v.PubKey.Bytes(), VotingPower: v.VotingPower})
		}
		if len(out.Validators) >= vs.Total || len(vs.Validators) == 0 {
			break
		}
		page++
	}
	return out, nil
}

// ChainID returns the chain id (asking the node once).
func (c *Client) ChainID(ctx context.Context) (string, error) {
	if c.chainID != "" {
		return c.chainID, nil
	}
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("status: %w", err)
	}
	c.chainID = st.NodeInfo.Network
	return c.chainID, nil
}

// Query runs an ABCI query returning JSON into out, at height (0: latest),
// and returns the height it was answered at.
func (c *Client) Query(ctx context.Context, path string, req, out any, height int64) (int64, error) {
	var data []byte
	if req != nil {
		var err error
		if data, err = json.Marshal(req, json.Deterministic(true)); err != nil {
			return 0, err
		}
	}
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, data, rpcclient.ABCIQueryOptions{Height: height})
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return 0, &QueryError{Path: path, Code: r.Code, Codespace: r.Codespace, Log: r.Log}
	}
	if out != nil {
		if err := json.Unmarshal(r.Value, out); err != nil {
			return 0, fmt.Errorf("query %s: decode answer: %w", path, err)
		}
	}
	return r.Height, nil
}

// Account is an account's replay state.
type Account struct {
	Address      wire.Address `json:"address"`
	NextSequence uint64       `json:"next_sequence"`
	UsedAhead    []uint64     `json:"used_ahead,omitempty"`
	Pending      bool         `json:"pending,omitzero"`
}

// FreeSequence returns the lowest sequence neither committed nor used by a
// transaction in the node's mempool.
func (a Account) FreeSequence() uint64 { return a.NextSequence }

// Account returns an account's sequence state; pending includes the node's
// mempool.
func (c *Client) Account(ctx context.Context, addr wire.Address, pending bool) (*Account, error) {
	var a Account
	if _, err := c.Query(ctx, "/ledger/account", map[string]any{"address": addr, "pending": pending}, &a, 0); err != nil {
		return nil, err
	}
	return &a, nil
}

// Balance returns an address's balance at the latest height.
func (c *Client) Balance(ctx context.Context, addr wire.Address) (wire.Coin, int64, error) {
	var b struct {
		Address wire.Address `json:"address"`
		Amount  wire.Coin    `json:"amount"`
	}
	h, err := c.Query(ctx, "/bank/balance", map[string]any{"address": addr}, &b, 0)
	return b.Amount, h, err
}

// Estimate returns the gas and the least fee of a signed transaction.
func (c *Client) Estimate(ctx context.Context, env []byte) (gas uint64, fee wire.Coin, err error) {
	res, err := c.rpc.ABCIQuery(ctx, "/ledger/estimate", env)
	if err != nil {
		return 0, fee, fmt.Errorf("estimate: %w", err)
	}
	if r := res.Response; r.Code != 0 {
		return 0, fee, &QueryError{Path: "/ledger/estimate", Code: r.Code, Codespace: r.Codespace, Log: r.Log}
	}
	var e struct {
		Gas uint64    `json:"gas"`
		Fee wire.Coin `json:"fee"`
	}
	if err := json.Unmarshal(res.Response.Value, &e); err != nil {
		return 0, fee, err
	}
	return e.Gas, e.Fee, nil
}

// TxResult is a committed transaction's outcome.
type TxResult struct {
	Hash      string  `json:"hash"`
	Height    int64   `json:"height"`
	Code      uint32  `json:"code"`
	Codespace string  `json:"codespace,omitempty"`
	Log       string  `json:"log,omitempty"`
	Gas       int64   `json:"gas"`
	Events    []Event `json:"events,omitempty"`
}

// Event is an event a transaction emitted.
type Event struct {
	Type  string            `json:"type"`
	Attrs map[string]string `json:"attributes"`
}

// Err returns a *TxError if the transaction failed.
func (r *TxResult) Err() error {
	if r.Code == 0 {
		return nil
	}
	return &TxError{Hash: r.Hash, Height: r.Height, Code: r.Code, Codespace: r.Codespace, Log: r.Log}
}

// Broadcast submits a signed transaction and returns its hash once the node
// admitted it to its mempool (a *TxError if it did not). Admission does not
// guarantee inclusion: use WaitTx.
func (c *Client) Broadcast(ctx context.Context, env []byte) (string, error) {
	res, err := c.rpc.BroadcastTxSync(ctx, env)
	hash := TxHash(env)
	if err != nil {
		if strings.Contains(err.Error(), "tx already exists in cache") {
			return hash, nil // submitted before: wait for it like any other
		}
		return hash, fmt.Errorf("broadcast: %w", err)
	}
	if res.Code != 0 {
		return hash, &TxError{Hash: hash, Code: res.Code, Codespace: res.Codespace, Log: res.Log}
	}
	return hash, nil
}

// TxHash is the hash CometBFT indexes a transaction by.
func TxHash(env []byte) string {
	h := wire.Hash(env)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

// Tx looks a committed transaction up by hash (hex).
func (c *Client) Tx(ctx context.Context, hash string) (*TxResult, error) {
	h, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(hash), "0x"))
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("invalid transaction hash %q: want 64 hex digits", hash)
	}
	res, err := c.rpc.Tx(ctx, h, false)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, fmt.Errorf("%w: %s", ErrTxNotFound, strings.ToUpper(hex.EncodeToString(h)))
		}
		return nil, fmt.Errorf("tx %s: %w", hash, err)
	}
	r := &TxResult{Hash: strings.ToUpper(hex.EncodeToString(h)), Height: res.Height, Code: res.TxResult.Code,
		Codespace: res.TxResult.Codespace, Log: res.TxResult.Log, Gas: res.TxResult.GasUsed}
	for _, ev := range res.TxResult.Events {
		e := Event{Type: ev.Type, Attrs: map[string]string{}}
		for _, a := range ev.Attributes {
			e.Attrs[a.Key] = a.Value
		}
		r.Events = append(r.Events, e)
	}
	return r, nil
}

// WaitTx waits until the transaction is committed and returns its result
// (check Err for failure). If timeoutHeight is not zero and a block above
// it commits without the transaction, it returns ErrNotIncluded.
func (c *Client) WaitTx(ctx context.Context, hash string, timeoutHeight uint64) (*TxResult, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// Read the height first: if the tx is absent at a height above its
		// timeout, it can never be included.
		var height int64
		if timeoutHeight != 0 {
			st, err := c.rpc.Status(ctx)
			if err == nil {
				height = st.SyncInfo.LatestBlockHeight
			}
		}
		r, err := c.Tx(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrTxNotFound) {
			return nil, err
		}
		if timeoutHeight != 0 && height > int64(timeoutHeight) {
			return nil, fmt.Errorf("%w: %s (timeout height %d, chain at %d)", ErrNotIncluded, hash, timeoutHeight, height)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", hash, ctx.Err())
		case <-tick.C:
		}
	}
}

// TxOptions shape a transaction built by Send.
type TxOptions struct {
	// Fee to pay; zero means the least fee the node's estimate asks for.
	Fee wire.Coin
	// Memo is free text recorded with the transaction.
	Memo string
	// TimeoutBlocks sets the timeout height this many blocks above the
	// latest (default 100; a negative value sets none).
	TimeoutBlocks int64
	// Sequence, if set, is used instead of the account's next free one.
	Sequence *uint64
	// Wait for the transaction to commit.
	Wait bool
}

// Sent is what Send returns.
type Sent struct {
	Hash          string
	Sequence      uint64
	Fee           wire.Coin
	TimeoutHeight uint64
	// Result is set when TxOptions.Wait was.
	Result *TxResult
}

// Sign builds and signs a transaction of msgs from key: chain id from the
// node, the lowest free sequence of the signer (including its mempool), a
// timeout height, and the estimated fee unless one is given.
func (c *Client) Sign(ctx context.Context, key ed25519.PrivateKey, o TxOptions, msgs ...wire.Msg) ([]byte, *wire.Body, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, nil, err
	}
	addr := wire.AddressFromPubKey(key.Public().(ed25519.PublicKey))
	body := &wire.Body{ChainID: chainID, Memo: o.Memo, Msgs: msgs}
	if o.Sequence != nil {
		body.Sequence = *o.Sequence
	} else {
		acc, err := c.Account(ctx, addr, true)
		if err != nil {
			return nil, nil, err
		}
		body.Sequence = acc.FreeSequence()
	}
	if o.TimeoutBlocks >= 0 {
		tb := o.TimeoutBlocks
		if tb == 0 {
			tb = 100
		}
		st, err := c.rpc.Status(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("status: %w", err)
		}
		body.TimeoutHeight = uint64(st.SyncInfo.LatestBlockHeight + tb)
	}
	body.Fee = o.Fee
	if o.Fee.IsZero() {
		// Estimate on a transaction at least as long as the final one.
		body.Fee = wire.UVAI(1<<63 - 1)
		probe, err := wire.Sign(body, key)
		if err != nil {
			return nil, nil, err
		}
		_, fee, err := c.Estimate(ctx, probe)
		if err != nil {
			return nil, nil, err
		}
		body.Fee = fee
	}
	env, err := wire.Sign(body, key)
	if err != nil {
		return nil, nil, err
	}
	return env, body, nil
}

// Send signs msgs from key, broadcasts them and, with o.Wait, waits for the
// result (a failed transaction returns its *TxError and the result).
func (c *Client) Send(ctx context.Context, key ed25519.PrivateKey, o TxOptions, msgs ...wire.Msg) (*Sent, error) {
	env, body, err := c.Sign(ctx, key, o, msgs...)
	if err != nil {
		return nil, err
	}
	s := &Sent{Sequence: body.Sequence, Fee: body.Fee, TimeoutHeight: body.TimeoutHeight}
	if s.Hash, err = c.Broadcast(ctx, env); err != nil {
		return s, err
	}
	if !o.Wait {
		return s, nil
	}
	if s.Result, err = c.WaitTx(ctx, s.Hash, body.TimeoutHeight); err != nil {
		return s, err
	}
	return s, s.Result.Err()
}
