// Package bank is the ledger module that holds money: balances in uvai, the
// total supply, transfers (send, multi-send), transaction fees into the fee
// pool, and the accounts other modules keep escrow, stakes and bonds in.
//
// Every amount is a uint64 of uvai with checked arithmetic. Funds a module
// holds (a job's escrow, a provider's stake, the fee pool) are balances of
// that module's account (wire.ModuleAddress), so one invariant covers them
// all: the sum of all balances equals the total supply (DESIGN D6). Each
// module that holds funds adds its own invariant that its records add up to
// its account's balance.
package bank

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

// Name is the module's name, its key prefix and its codespace.
const Name = "bank"

// FeePool is the module account that receives transaction fees.
const FeePool = "fee_pool"

// Errors. Append only.
var (
	ErrInsufficientFunds = ledger.Register(Name, 2, ledger.KindInsufficient, "insufficient funds")
	ErrInvalidAmount     = ledger.Register(Name, 3, ledger.KindInvalid, "invalid amount")
	ErrInvalidRecipient  = ledger.Register(Name, 4, ledger.KindInvalid, "invalid recipient")
	ErrOverflow          = ledger.Register(Name, 5, ledger.KindInvalid, "amount overflow")
	ErrTooManyOutputs    = ledger.Register(Name, 6, ledger.KindInvalid, "too many outputs")
	ErrBlockedRecipient  = ledger.Register(Name, 7, ledger.KindUnauthorized, "recipient is a module account")
)

// Gas of the bank's messages.
const (
	GasSend       = 5_000
	GasPerOutput  = 4_000
	MaxOutputs    = 100
	balancePrefix = "b/"
	supplyKey     = "supply"
)

// Keeper is the bank's Go API, for the ledger core and other modules.
type Keeper struct {
	// blocked are module accounts users may not send to directly (funds
	// there must be accounted for by their module).
	blocked map[wire.Address]string
}

// Module is the bank ledger module.
type Module struct {
	*Keeper
}

var (
	_ ledger.Module       = (*Module)(nil)
	_ ledger.FeeCollector = (*Keeper)(nil)
)

// New returns the bank module. moduleAccounts names the module accounts
// that plain transfers may not pay into.
func New(moduleAccounts ...string) *Module {
	k := &Keeper{blocked: map[wire.Address]string{}}
	for _, n := range append([]string{FeePool}, moduleAccounts...) {
		k.blocked[wire.ModuleAddress(n)] = n
	}
	return &Module{Keeper: k}
}

// Name implements ledger.Module.
func (*Module) Name() string { return Name }

// BalanceKey is the full state key of an address's balance (for proofs).
// The stored value is the balance as 8 big-endian bytes; absent means 0.
func BalanceKey(addr wire.Address) []byte {
	return append([]byte(Name+"/"+balancePrefix), addr[:]...)
}

func balKey(addr wire.Address) []byte { return append([]byte(balancePrefix), addr[:]...) }

// Balance returns an address's balance.
func (k *Keeper) Balance(ctx *ledger.Context, addr wire.Address) uint64 {
	return ledger.Uint64(ctx.Store(Name).Get(balKey(addr)))
}

func (k *Keeper) setBalance(ctx *ledger.Context, addr wire.Address, amt uint64) {
	s := ctx.Store(Name)
	if amt == 0 {
		s.Delete(balKey(addr))
		return
	}
	s.Set(balKey(addr), ledger.PutUint64(amt))
}

// Supply returns the total supply.
func (k *Keeper) Supply(ctx *ledger.Context) uint64 {
	return ledger.Uint64(ctx.Store(Name).Get([]byte(supplyKey)))
}

// Transfer moves amount from one address to another, or fails without
// changing anything.
func (k *Keeper) Transfer(ctx *ledger.Context, from, to wire.Address, amount uint64) error {
	if err := k.move(ctx, from, to, amount); err != nil {
		return err
	}
	if from != to {
		ctx.Emit("transfer",
			ledger.AI("sender", from.String()),
			ledger.AI("recipient", to.String()),
			ledger.A("amount", wire.UVAI(amount).String()))
	}
	return nil
}

// move is Transfer without the event.
func (k *Keeper) move(ctx *ledger.Context, from, to wire.Address, amount uint64) error {
	if amount == 0 {
		return ErrInvalidAmount.Wrapf("amount must be positive")
	}
	fb := k.Balance(ctx, from)
	if fb < amount {
		return ErrInsufficientFunds.Wrapf("%s has %s, needs %s", from, wire.UVAI(fb), wire.UVAI(amount))
	}
	if from == to {
		return nil
	}
	tb := k.Balance(ctx, to)
	nb, carry := bits.Add64(tb, amount, 0)
	if carry != 0 {
		return ErrOverflow.Wrapf("balance of %s would overflow", to)
	}
	k.setBalance(ctx, from, fb-amount)
	k.setBalance(ctx, to, nb)
	return nil
}

// SendToModule moves funds from an account into a module's account.
func (k *Keeper) SendToModule(ctx *ledger.Context, from wire.Address, module string, amount uint64) error {
	return k.Transfer(ctx, from, wire.ModuleAddress(module), amount)
}

// SendFromModule moves funds out of a module's account.
func (k *Keeper) SendFromModule(ctx *ledger.Context, module string, to wire.Address, amount uint64) error {
	return k.Transfer(ctx, wire.ModuleAddress(module), to, amount)
}

// Mint creates amount in to's balance, raising the supply.
func (k *Keeper) Mint(ctx *ledger.Context, to wire.Address, amount uint64) error {
	s, carry := bits.Add64(k.Supply(ctx), amount, 0)
	if carry != 0 {
		return ErrOverflow.Wrapf("supply would overflow")
	}
	b := k.Balance(ctx, to) // cannot overflow: balance <= supply
	k.setBalance(ctx, to, b+amount)
	ctx.Store(Name).Set([]byte(supplyKey), ledger.PutUint64(s))
	ctx.Emit("mint", ledger.AI("recipient", to.String()), ledger.A("amount", wire.UVAI(amount).String()))
	return nil
}

// Burn destroys amount from from's balance, lowering the supply.
func (k *Keeper) Burn(ctx *ledger.Context, from wire.Address, amount uint64) error {
	b := k.Balance(ctx, from)
	if b < amount {
		return ErrInsufficientFunds.Wrapf("%s has %s, burning %s", from, wire.UVAI(b), wire.UVAI(amount))
	}
	k.setBalance(ctx, from, b-amount)
	ctx.Store(Name).Set([]byte(supplyKey), ledger.PutUint64(k.Supply(ctx)-amount))
	ctx.Emit("burn", ledger.AI("sender", from.String()), ledger.A("amount", wire.UVAI(amount).String()))
	return nil
}

// CollectFee implements ledger.FeeCollector. The transaction's "tx" event
// already records the fee, so it emits no transfer event.
func (k *Keeper) CollectFee(ctx *ledger.Context, payer wire.Address, amount uint64) error {
	return k.move(ctx, payer, feePoolAddr, amount)
}

var feePoolAddr = wire.ModuleAddress(FeePool)

// Balances walks every non-zero balance in address order.
func (k *Keeper) Balances(ctx *ledger.Context, fn func(wire.Address, uint64) bool) {
	it := ctx.Store(Name).Iterator([]byte(balancePrefix), ledger.PrefixEnd([]byte(balancePrefix)))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var a wire.Address
		copy(a[:], it.Key()[len(balancePrefix):])
		if !fn(a, ledger.Uint64(it.Value())) {
			return
		}
	}
}

// --- messages ---

// MsgSend sends amount from the signer to To.
type MsgSend struct {
	To     wire.Address `json:"to"`
	Amount wire.Coin    `json:"amount"`
}

// Validate implements ledger.Msg.
func (m *MsgSend) Validate() error {
	if m.To.IsZero() {
		return ErrInvalidRecipient.Wrapf("missing recipient")
	}
	if m.Amount.IsZero() {
		return ErrInvalidAmount.Wrapf("amount must be positive")
	}
	return nil
}

// Output is one recipient of a multi-send.
type Output struct {
	To     wire.Address `json:"to"`
	Amount wire.Coin    `json:"amount"`
}

// MsgMultiSend sends from the signer to several recipients at once: all or
// nothing.
type MsgMultiSend struct {
	Outputs []Output `json:"outputs"`
}

// Validate implements ledger.Msg.
func (m *MsgMultiSend) Validate() error {
	if len(m.Outputs) == 0 {
		return ErrInvalidAmount.Wrapf("no outputs")
	}
	if len(m.Outputs) > MaxOutputs {
		return ErrTooManyOutputs.Wrapf("%d outputs, at most %d", len(m.Outputs), MaxOutputs)
	}
	var total uint64
	for i, o := range m.Outputs {
		if o.To.IsZero() {
			return ErrInvalidRecipient.Wrapf("output %d: missing recipient", i)
		}
		if o.Amount.IsZero() {
			return ErrInvalidAmount.Wrapf("output %d: amount must be positive", i)
		}
		var carry uint64
		total, carry = bits.Add64(total, o.Amount.Amount, 0)
		if carry != 0 {
			return ErrOverflow.Wrapf("outputs add up to more than %d uvai", uint64(math.MaxUint64))
		}
	}
	return nil
}

// Msgs implements ledger.Module.
func (m *Module) Msgs() []ledger.MsgType {
	return []ledger.MsgType{
		ledger.Handler("bank/send", GasSend, m.send),
		ledger.GasFunc(ledger.Handler("bank/multi_send", 0, m.multiSend), func(msg *MsgMultiSend) uint64 {
			return GasSend + GasPerOutput*uint64(len(msg.Outputs))
		}),
	}
}

func (k *Keeper) checkRecipient(to wire.Address) error {
	if name, ok := k.blocked[to]; ok {
		return ErrBlockedRecipient.Wrapf("%s is the %s module account", to, name)
	}
	return nil
}

func (m *Module) send(ctx *ledger.Context, msg *MsgSend) error {
	if err := m.checkRecipient(msg.To); err != nil {
		return err
	}
	return m.Transfer(ctx, ctx.Signer(), msg.To, msg.Amount.Amount)
}

func (m *Module) multiSend(ctx *ledger.Context, msg *MsgMultiSend) error {
	from := ctx.Signer()
	var total uint64
	for _, o := range msg.Outputs {
		if err := m.checkRecipient(o.To); err != nil {
			return err
		}
		total += o.Amount.Amount // Validate ruled out overflow
	}
	if b := m.Balance(ctx, from); b < total {
		return ErrInsufficientFunds.Wrapf("%s has %s, outputs total %s", from, wire.UVAI(b), wire.UVAI(total))
	}
	for _, o := range msg.Outputs {
		if err := m.Transfer(ctx, from, o.To, o.Amount.Amount); err != nil {
			return err // the transaction's writes are discarded
		}
	}
	return nil
}

// --- genesis ---

// Genesis is the bank's genesis state.
type Genesis struct {
	Balances []GenesisBalance `json:"balances"`
}

// GenesisBalance is one account's starting balance.
type GenesisBalance struct {
	Address wire.Address `json:"address"`
	Amount  wire.Coin    `json:"amount"`
}

// DefaultGenesis implements ledger.Module.
func (*Module) DefaultGenesis() json.RawMessage {
	return ledger.MustEncodeJSON(Genesis{Balances: []GenesisBalance{}})
}

// InitGenesis implements ledger.Module: it mints each balance.
func (m *Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	var g Genesis
	if err := ledger.DecodeJSON(raw, &g); err != nil {
		return err
	}
	seen := map[wire.Address]bool{}
	for _, b := range g.Balances {
		if seen[b.Address] {
			return fmt.Errorf("address %s listed twice", b.Address)
		}
		seen[b.Address] = true
		if b.Amount.IsZero() {
			continue
		}
		if err := m.Mint(ctx, b.Address, b.Amount.Amount); err != nil {
			return err
		}
	}
	return nil
}

// ExportGenesis implements ledger.Module.
func (m *Module) ExportGenesis(ctx *ledger.Context) (json.RawMessage, error) {
	g := Genesis{Balances: []GenesisBalance{}}
	m.Balances(ctx, func(a wire.Address, amt uint64) bool {
		g.Balances = append(g.Balances, GenesisBalance{Address: a, Amount: wire.UVAI(amt)})
		return true
	})
	return ledger.EncodeJSON(g)
}

// --- queries ---

// BalanceResponse answers "/bank/balance".
type BalanceResponse struct {
	Address wire.Address `json:"address"`
	Amount  wire.Coin    `json:"amount"`
}

// SupplyResponse answers "/bank/supply".
type SupplyResponse struct {
	Supply  wire.Coin `json:"supply"`
	FeePool wire.Coin `json:"fee_pool"`
}

// Query implements ledger.Module: "balance" ({"address"}), "supply",
// "balances" ({"start_after", "limit"}).
func (m *Module) Query(ctx *ledger.Context, path string, req []byte) (any, error) {
	switch path {
	case "balance":
		var r struct {
			Address wire.Address `json:"address"`
		}
		if err := ledger.DecodeJSON(req, &r); err != nil {
			return nil, ledger.ErrInvalidQuery.Wrapf("%v", err)
		}
		return BalanceResponse{Address: r.Address, Amount: wire.UVAI(m.Balance(ctx, r.Address))}, nil
	case "supply":
		return SupplyResponse{Supply: wire.UVAI(m.Supply(ctx)), FeePool: wire.UVAI(m.Balance(ctx, wire.ModuleAddress(FeePool)))}, nil
	case "balances":
		var r struct {
			StartAfter *wire.Address `json:"start_after,omitzero"`
			Limit      int           `json:"limit,omitzero"`
		}
		if len(req) > 0 {
			if err := ledger.DecodeJSON(req, &r); err != nil {
				return nil, ledger.ErrInvalidQuery.Wrapf("%v", err)
			}
		}
		if r.Limit <= 0 || r.Limit > 1000 {
			r.Limit = 100
		}
		out := []BalanceResponse{}
		m.Balances(ctx, func(a wire.Address, amt uint64) bool {
			if r.StartAfter != nil && strings.Compare(string(a[:]), string(r.StartAfter[:])) <= 0 {
				return true
			}
			out = append(out, BalanceResponse{Address: a, Amount: wire.UVAI(amt)})
			return len(out) < r.Limit
		})
		return out, nil
	}
	return nil, ledger.ErrUnknownQuery.Wrapf("bank/%s", path)
}

// --- invariants ---

// Invariants implements ledger.Module: balances add up to the supply.
func (m *Module) Invariants() []ledger.Invariant {
	return []ledger.Invariant{{Name: "supply", Check: m.checkSupply}}
}

func (m *Module) checkSupply(ctx *ledger.Context) error {
	var sum uint64
	var overflow bool
	m.Balances(ctx, func(_ wire.Address, amt uint64) bool {
		var c uint64
		sum, c = bits.Add64(sum, amt, 0)
		overflow = overflow || c != 0
		return true
	})
	if s := m.Supply(ctx); overflow || sum != s {
		return fmt.Errorf("balances add up to %d uvai (overflow %v), supply is %d uvai", sum, overflow, s)
	}
	return nil
}
