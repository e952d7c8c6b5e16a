package bank_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/wire"
)

func ctx() (*ledger.Context, *bank.Module) {
	return ledger.NewContext(ledger.NewMemKV(), "t", 1, time.Unix(0, 0), ledger.ModeDeliver), bank.New("escrow")
}

func addr(i int) wire.Address { return ledgertest.Addr(ledgertest.Key(i)) }

func TestSupplyInvariantCatchesDrift(t *testing.T) {
	t.Parallel()
	c, b := ctx()
	if err := b.Mint(c, addr(1), 500); err != nil {
		t.Fatal(err)
	}
	inv := b.Invariants()[0]
	if err := inv.Check(c); err != nil {
		t.Fatalf("consistent state: %v", err)
	}
	// Corrupt a balance behind the keeper's back: the invariant must notice.
	c.Store(bank.Name).Set(append([]byte("b/"), addr(2).Bytes()...), ledger.PutUint64(1))
	if err := inv.Check(c); err == nil || !strings.Contains(err.Error(), "supply is 500") {
		t.Fatalf("invariant missed a uvai minted from nothing: %v", err)
	}
}

func TestMintAndTransferOverflow(t *testing.T) {
	t.Parallel()
	c, b := ctx()
	if err := b.Mint(c, addr(1), math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if err := b.Mint(c, addr(2), 1); err == nil {
		t.Fatal("supply overflowed")
	}
	if err := b.Transfer(c, addr(1), addr(2), 0); err == nil {
		t.Error("zero transfer accepted")
	}
	if err := b.Transfer(c, addr(2), addr(1), 1); err == nil {
		t.Error("transfer from an empty account accepted")
	}
	if err := b.Transfer(c, addr(1), addr(1), 5); err != nil || b.Balance(c, addr(1)) != math.MaxUint64 {
		t.Errorf("self transfer: %v, balance %d", err, b.Balance(c, addr(1)))
	}
	if err := b.Burn(c, addr(1), math.MaxUint64); err != nil || b.Supply(c) != 0 {
		t.Errorf("burn all: %v, supply %d", err, b.Supply(c))
	}
	if err := b.Invariants()[0].Check(c); err != nil {
		t.Fatal(err)
	}
}

func TestMultiSendIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ch := ledgertest.New(t, ledgertest.Options{Funds: 1_000_000})
	from := ch.Keys[0]
	a, b := addr(100), addr(101)
	msg := ch.Msg("bank/multi_send", bank.MsgMultiSend{Outputs: []bank.Output{
		{To: a, Amount: wire.UVAI(600_000)}, {To: b, Amount: wire.UVAI(600_000)}}})
	if r := ch.Block(ch.Tx(from, msg)).Txs[0]; r.Code != bank.ErrInsufficientFunds.Code {
		t.Fatalf("overdrawing multi-send: %d %s", r.Code, r.Log)
	}
	if ch.Balance(a) != 0 || ch.Balance(b) != 0 {
		t.Fatal("a failed multi-send paid some outputs")
	}
	msg = ch.Msg("bank/multi_send", bank.MsgMultiSend{Outputs: []bank.Output{
		{To: a, Amount: wire.UVAI(100)}, {To: b, Amount: wire.UVAI(200)}, {To: a, Amount: wire.UVAI(1)}}})
	if r := ch.Block(ch.Tx(from, msg)).Txs[0]; !r.OK() {
		t.Fatal(r.Log)
	}
	if ch.Balance(a) != 101 || ch.Balance(b) != 200 {
		t.Errorf("balances %d %d, want 101 200", ch.Balance(a), ch.Balance(b))
	}
	// Gas grows with the outputs.
	one, _ := ledgerGas(t, ch, 1)
	ten, _ := ledgerGas(t, ch, 10)
	// Nine more outputs: nine times the per-output gas, plus their bytes.
	if d := ten - one; d < 9*bank.GasPerOutput || d > 9*bank.GasPerOutput+9*100*10 {
		t.Errorf("gas of 10 outputs %d, of 1 output %d", ten, one)
	}
}

func ledgerGas(t *testing.T, ch *ledgertest.Chain, outputs int) (uint64, uint64) {
	t.Helper()
	var outs []bank.Output
	for i := range outputs {
		outs = append(outs, bank.Output{To: addr(200 + i), Amount: wire.UVAI(1)})
	}
	env := ch.Sign(ch.Keys[1], &wire.Body{ChainID: ledgertest.ChainID, Fee: wire.UVAI(1), Msgs: []wire.Msg{ch.Msg("bank/multi_send", bank.MsgMultiSend{Outputs: outs})}})
	gas, fee, err := ch.L.EstimateGas(env)
	if err != nil {
		t.Fatal(err)
	}
	return gas, fee
}

func TestModuleAccountsAreNotPlainRecipients(t *testing.T) {
	t.Parallel()
	ch := ledgertest.New(t, ledgertest.Options{ModuleAccounts: []string{"escrow"}})
	for _, m := range []string{"escrow", bank.FeePool} {
		r := ch.Block(ch.Tx(ch.Keys[0], ch.Send(wire.ModuleAddress(m), 5))).Txs[0]
		if r.Code != bank.ErrBlockedRecipient.Code {
			t.Errorf("send to %s: %d %s", m, r.Code, r.Log)
		}
	}
	// Keepers move funds in and out of module accounts.
	c, b := ctx()
	b.Mint(c, addr(1), 10)
	if err := b.SendToModule(c, addr(1), "escrow", 7); err != nil {
		t.Fatal(err)
	}
	if err := b.SendFromModule(c, "escrow", addr(2), 8); err == nil {
		t.Fatal("a module paid out more than it holds")
	}
}

func TestBalancesQueryPages(t *testing.T) {
	t.Parallel()
	ch := ledgertest.New(t, ledgertest.Options{Accounts: 7})
	ch.Block()
	var page1, page2 []bank.BalanceResponse
	ch.Query("/bank/balances", map[string]any{"limit": 4}, &page1)
	ch.Query("/bank/balances", map[string]any{"limit": 4, "start_after": page1[3].Address}, &page2)
	if len(page1) != 4 || len(page2) != 3 {
		t.Fatalf("pages of %d and %d, want 4 and 3", len(page1), len(page2))
	}
	seen := map[wire.Address]bool{}
	for _, p := range append(page1, page2...) {
		if seen[p.Address] {
			t.Fatalf("%s on both pages", p.Address)
		}
		seen[p.Address] = true
	}
}
