package client

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/vai-dev/vai/wire"
)

// State key layout, for proven reads. These are part of the chain's
// interface: a test holds them equal to the ledger's own.

// BalanceKey is where an address's balance is stored: 8 big-endian bytes of
// uvai, absent when zero.
func BalanceKey(addr wire.Address) []byte { return append([]byte("bank/b/"), addr[:]...) }

// AccountKey is where an account's replay state is stored: 8 big-endian
// bytes of next sequence, then 8 of the used-ahead bitmap.
func AccountKey(addr wire.Address) []byte { return append([]byte("auth/a/"), addr[:]...) }

// LogKey is where a registered log's record is stored (JSON: name,
// origin, operator_key, purpose, owner, height).
func LogKey(name string) []byte { return []byte("logs/l/" + name) }

// LogCheckpointKey is where a log's latest witnessed checkpoint is stored
// (JSON: size, root, note, height).
func LogCheckpointKey(name string) []byte { return []byte("logs/c/" + name) }

// ProvenBalance is a balance with its proof checked.
type ProvenBalance struct {
	Address wire.Address `json:"address"`
	Amount  wire.Coin    `json:"amount"`
	Proof   *Proven      `json:"proof"`
}

// BalanceProven reads a balance with an ICS23 proof checked against a
// light-client-verified header.
func (c *Client) BalanceProven(ctx context.Context, v *Verifier, addr wire.Address) (*ProvenBalance, error) {
	p, err := c.QueryProven(ctx, v, BalanceKey(addr), 0)
	if err != nil {
		return nil, err
	}
	out := &ProvenBalance{Address: addr, Proof: p}
	switch len(p.Value) {
	case 0:
	case 8:
		out.Amount = wire.UVAI(binary.BigEndian.Uint64(p.Value))
	default:
		return nil, fmt.Errorf("balance of %s: malformed stored value %x", addr, p.Value)
	}
	return out, nil
}
