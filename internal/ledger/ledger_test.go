package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/wire"
)

func TestSendPaysFeeIntoPool(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	from, to := c.Keys[0], ledgertest.Addr(ledgertest.Key(50))
	res := c.Block(c.Tx(from, c.Send(to, 2_500)))
	if r := res.Txs[0]; !r.OK() {
		t.Fatalf("send failed: %d %s", r.Code, r.Log)
	}
	if got := c.Balance(to); got != 2_500 {
		t.Errorf("recipient balance = %d, want 2500", got)
	}
	if got := c.Balance(ledgertest.Addr(from)); got != 10_000_000-2_500-1_000 {
		t.Errorf("sender balance = %d, want %d", got, 10_000_000-2_500-1_000)
	}
	var s bank.SupplyResponse
	c.Query("/bank/supply", struct{}{}, &s)
	if s.FeePool.Amount != 1_000 || s.Supply.Amount != 4*10_000_000 {
		t.Errorf("supply = %+v", s)
	}
	var transfer bool
	for _, ev := range res.Txs[0].Events {
		if ev.Type == "transfer" {
			for _, a := range ev.Attrs {
				if a.Key == "recipient" && a.Value == to.String() && a.Index {
					transfer = true
				}
			}
		}
	}
	if !transfer {
		t.Errorf("no indexed transfer event to the recipient in %+v", res.Txs[0].Events)
	}
}

// twin runs the same genesis on two chains: one gets a transaction, the
// other an empty block. Equal app hashes prove the transaction changed
// nothing at all.
type twin struct{ a, b *ledgertest.Chain }

func newTwin(t *testing.T) twin {
	return twin{ledgertest.New(t, ledgertest.Options{}), ledgertest.New(t, ledgertest.Options{})}
}

func TestBadTransactionsAreRejectedAndChangeNothing(t *testing.T) {
	t.Parallel()
	to := ledgertest.Addr(ledgertest.Key(50))
	type build func(c *ledgertest.Chain) []byte
	resign := func(c *ledgertest.Chain, k ed25519.PrivateKey, mut func(*wire.Body)) []byte {
		b := c.Body(k, c.Send(to, 10))
		mut(b)
		return c.Sign(k, b)
	}
	tests := []struct {
		name     string
		tx       build
		wantCode *ledger.Error
	}{
		{"malformed json", func(*ledgertest.Chain) []byte { return []byte(`{"payloadType":`) }, ledger.ErrTxMalformed},
		{"unknown envelope field", func(c *ledgertest.Chain) []byte {
			return bytes.Replace(c.Tx(c.Keys[0], c.Send(to, 1)), []byte(`{"payloadType"`), []byte(`{"x":0,"payloadType"`), 1)
		}, ledger.ErrTxMalformed},
		{"trailing bytes", func(c *ledgertest.Chain) []byte { return append(c.Tx(c.Keys[0], c.Send(to, 1)), "xx"...) }, ledger.ErrTxMalformed},
		{"oversized", func(c *ledgertest.Chain) []byte {
			return resign(c, c.Keys[0], func(b *wire.Body) {
				for range 40 {
					b.Msgs = append(b.Msgs, c.Send(to, 1))
				}
				b.Memo = strings.Repeat("m", 500)
				for range 8 {
					b.Msgs = append(b.Msgs, c.Msg("bank/multi_send", bank.MsgMultiSend{Outputs: manyOutputs(to, 100)}))
				}
			})
		}, ledger.ErrTxTooLarge},
		{"wrong chain id", func(c *ledgertest.Chain) []byte {
			return resign(c, c.Keys[0], func(b *wire.Body) { b.ChainID = "other-chain" })
		}, ledger.ErrWrongChain},
		{"bad signature", func(c *ledgertest.Chain) []byte {
			env := c.Tx(c.Keys[0], c.Send(to, 1))
			i := bytes.Index(env, []byte(`"sig":"`)) + 7
			env[i] ^= 'A' ^ 'B' // one character of the base64 signature
			if env[i] != 'A' && env[i] != 'B' {
				env[i] = 'C'
			}
			return env
		}, ledger.ErrSignature},
		{"signature by another key", func(c *ledgertest.Chain) []byte {
			env := c.Tx(c.Keys[0], c.Send(to, 1))
			tx, _ := wire.Decode(env, 0)
			forged := ed25519.Sign(c.Keys[1], wire.PAE(wire.PayloadType, tx.Payload))
			return bytes.Replace(env, []byte(b64(tx.Sig)), []byte(b64(forged)), 1)
		}, ledger.ErrSignature},
		{"stale sequence", func(c *ledgertest.Chain) []byte {
			return resign(c, c.Keys[1], func(b *wire.Body) { b.Sequence = 0 }) // key 1 used 0 in setup
		}, ledger.ErrSequenceUsed},
		{"sequence too far ahead", func(c *ledgertest.Chain) []byte {
			return resign(c, c.Keys[0], func(b *wire.Body) { b.Sequence = 1000 })
		}, ledger.ErrSequenceTooHigh},
		{"expired timeout height", func(c *ledgertest.Chain) []byte {
			return resign(c, c.Keys[0], func(b *wire.Body) { b.TimeoutHeight = 1 })
		}, ledger.ErrTxExpired},
		{"fee below minimum", func(c *ledgertest.Chain) []byte {
			return resign(c, c.Keys[0], func(b *wire.Body) { b.Fee = wire.UVAI(1) })
		}, ledger.ErrInsufficientFee},
		{"zero amount", func(c *ledgertest.Chain) []byte { return c.Tx(c.Keys[0], c.Send(to, 0)) }, bank.ErrInvalidAmount},
		{"negative amount", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], wire.Msg{Type: "bank/send", Value: []byte(`{"to":"` + to.String() + `","amount":"-5uvai"}`)})
		}, ledger.ErrInvalidMsg},
		{"overflowing amount", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], wire.Msg{Type: "bank/send", Value: []byte(`{"to":"` + to.String() + `","amount":"18446744073709551616uvai"}`)})
		}, ledger.ErrInvalidMsg},
		{"overflowing multi-send total", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], c.Msg("bank/multi_send", bank.MsgMultiSend{Outputs: []bank.Output{
				{To: to, Amount: wire.UVAI(1 << 63)}, {To: to, Amount: wire.UVAI(1 << 63)}}}))
		}, bank.ErrOverflow},
		{"unknown denomination", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], wire.Msg{Type: "bank/send", Value: []byte(`{"to":"` + to.String() + `","amount":"5atom"}`)})
		}, ledger.ErrInvalidMsg},
		{"invalid address", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], wire.Msg{Type: "bank/send", Value: []byte(`{"to":"vai1notanaddress","amount":"5uvai"}`)})
		}, ledger.ErrInvalidMsg},
		{"unknown message type", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], wire.Msg{Type: "bank/steal", Value: []byte(`{}`)})
		}, ledger.ErrUnknownMsg},
		{"unknown message field", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], wire.Msg{Type: "bank/send", Value: []byte(`{"to":"` + to.String() + `","amount":"5uvai","from":"x"}`)})
		}, ledger.ErrInvalidMsg},
		{"insufficient funds for amount plus fee", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], c.Send(to, 10_000_000-500))
		}, bank.ErrInsufficientFunds},
		{"cannot pay the fee", func(c *ledgertest.Chain) []byte {
			poor := ledgertest.Key(77)
			return c.Tx(poor, c.Send(to, 1))
		}, ledger.ErrCannotPayFee},
		{"send to the fee pool", func(c *ledgertest.Chain) []byte {
			return c.Tx(c.Keys[0], c.Send(wire.ModuleAddress(bank.FeePool), 5))
		}, bank.ErrBlockedRecipient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tw := newTwin(t)
			// Setup: key 1 uses sequence 0 on both chains, and both are at height 2.
			for _, c := range []*ledgertest.Chain{tw.a, tw.b} {
				c.Block(c.Tx(c.Keys[1], c.Send(to, 1)))
				c.Block()
			}
			tx := tt.tx(tw.a)
			check := tw.a.L.CheckTx(tx)
			if check.Code != tt.wantCode.Code || check.Codespace != tt.wantCode.Codespace {
				t.Fatalf("CheckTx = %s/%d %q, want %s/%d (%s)", check.Codespace, check.Code, check.Log, tt.wantCode.Codespace, tt.wantCode.Code, tt.wantCode.Desc)
			}
			if check.Log == "" {
				t.Error("CheckTx gave no message")
			}
			info := ledger.BlockInfo{Height: 3, Time: tw.a.Time.Add(1e9)}
			if chosen, err := tw.a.L.PrepareProposal(info, [][]byte{tx}, 1<<30); err != nil || len(chosen) != 0 {
				t.Errorf("PrepareProposal kept the bad transaction (%v)", err)
			}
			if ok, _ := tw.a.L.ProcessProposal(info, [][]byte{tx}); ok {
				t.Error("ProcessProposal accepted a block with the bad transaction")
			}
			res := tw.a.Block(tx).Txs[0]
			if res.Code != tt.wantCode.Code || res.Codespace != tt.wantCode.Codespace {
				t.Fatalf("FinalizeBlock = %s/%d %q, want %s/%d", res.Codespace, res.Code, res.Log, tt.wantCode.Codespace, tt.wantCode.Code)
			}
			empty := tw.b.Block()
			_, hashA := tw.a.L.Info()
			if tt.wantCode.Codespace == bank.Name && tt.wantCode != bank.ErrOverflow && tt.wantCode != bank.ErrInvalidAmount {
				// Passed the ante checks, failed in its message: the fee and
				// the sequence are spent, the transfer is not.
				if bytes.Equal(hashA, empty.AppHash) {
					t.Error("a transaction that failed in its message did not pay its fee")
				}
				if got := tw.a.Balance(to); got != 1 {
					t.Errorf("recipient balance = %d, want 1 (unchanged)", got)
				}
				return
			}
			if !bytes.Equal(hashA, empty.AppHash) {
				t.Errorf("state changed: app hash %X, an empty block gives %X", hashA, empty.AppHash)
			}
		})
	}
}

func manyOutputs(to wire.Address, n int) []bank.Output {
	out := make([]bank.Output, n)
	for i := range out {
		out[i] = bank.Output{To: to, Amount: wire.UVAI(1)}
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestSequenceWindowToleratesReordering(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	k := c.Keys[0]
	to := ledgertest.Addr(c.Keys[1])
	tx0, tx1, tx2 := c.Tx(k, c.Send(to, 1)), c.Tx(k, c.Send(to, 2)), c.Tx(k, c.Send(to, 3))
	// Sequence 2 arrives first, then 1, then 0: all execute.
	res := c.Block(tx2, tx1)
	for i, r := range res.Txs {
		if !r.OK() {
			t.Fatalf("tx %d: %s", i, r.Log)
		}
	}
	var acc ledger.AccountInfo
	c.Query(ledger.QueryAccount, map[string]any{"address": ledgertest.Addr(k)}, &acc)
	if acc.NextSequence != 0 || len(acc.UsedAhead) != 2 {
		t.Errorf("account = %+v, want next 0 with 1 and 2 used ahead", acc)
	}
	if r := c.Block(tx0).Txs[0]; !r.OK() {
		t.Fatalf("tx0 after its successors: %s", r.Log)
	}
	acc = ledger.AccountInfo{}
	c.Query(ledger.QueryAccount, map[string]any{"address": ledgertest.Addr(k)}, &acc)
	if acc.NextSequence != 3 || len(acc.UsedAhead) != 0 {
		t.Errorf("account = %+v, want next 3", acc)
	}
	// Each replay fails.
	for i, tx := range [][]byte{tx0, tx1, tx2} {
		if r := c.Block(tx).Txs[0]; r.Code != ledger.ErrSequenceUsed.Code {
			t.Errorf("replay of tx %d: code %d %s, want sequence used", i, r.Code, r.Log)
		}
	}
	if got := c.Balance(to); got != 10_000_000+6 {
		t.Errorf("recipient balance = %d, want each send once", got)
	}
}

func TestAccountWindowModel(t *testing.T) {
	t.Parallel()
	// Compare the bitmap window with a plain set of used sequences.
	var a ledger.Account
	used := map[uint64]bool{}
	order := []uint64{5, 3, 0, 1, 64, 2, 4, 6, 70, 7, 65, 8}
	for _, s := range order {
		err := a.Check(s, 64)
		wantOK := !used[s] && s >= lowestFree(used) && s-lowestFree(used) <= 64
		if (err == nil) != wantOK {
			t.Fatalf("Check(%d) on %+v = %v, model says ok=%v", s, a, err, wantOK)
		}
		if err == nil {
			a = a.Use(s)
			used[s] = true
		}
		if a.Next != lowestFree(used) {
			t.Fatalf("after %d: Next = %d, want %d", s, a.Next, lowestFree(used))
		}
		for _, u := range a.UsedAhead() {
			if !used[u] {
				t.Fatalf("bitmap marks %d used", u)
			}
		}
	}
}

func lowestFree(used map[uint64]bool) uint64 {
	var n uint64
	for used[n] {
		n++
	}
	return n
}

func TestCheckTxSeesPendingTransactions(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	k := c.Keys[0]
	to := ledgertest.Addr(c.Keys[1])
	c.Block()
	a := c.Tx(k, c.Send(to, 6_000_000))
	b := c.Tx(k, c.Send(to, 6_000_000))
	if r := c.L.CheckTx(a); !r.OK() {
		t.Fatalf("first: %s", r.Log)
	}
	if r := c.L.CheckTx(b); r.Code != bank.ErrInsufficientFunds.Code {
		t.Fatalf("second overdrawing send admitted: %d %s", r.Code, r.Log)
	}
	if r := c.L.CheckTx(a); r.Code != ledger.ErrSequenceUsed.Code {
		t.Fatalf("same tx twice: %d %s", r.Code, r.Log)
	}
	var acc ledger.AccountInfo
	c.Query(ledger.QueryAccount, map[string]any{"address": ledgertest.Addr(k), "pending": true}, &acc)
	if acc.NextSequence != 1 {
		t.Errorf("pending next sequence = %d, want 1", acc.NextSequence)
	}
	// After the block commits, the mempool state is rebuilt from it.
	c.Block(a)
	if r := c.L.CheckTx(b); r.Code != bank.ErrInsufficientFunds.Code {
		t.Fatalf("after commit: %d %s", r.Code, r.Log)
	}
}

func TestProposalsDropFailingTransactions(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	to := ledgertest.Addr(c.Keys[1])
	c.Block()
	good1 := c.Tx(c.Keys[0], c.Send(to, 1))
	overdraw := c.Tx(c.Keys[0], c.Send(to, 50_000_000))
	good2 := c.Tx(c.Keys[2], c.Send(to, 1))
	chosen, res := c.Propose(good1, overdraw, good2, []byte("junk"))
	if len(chosen) != 2 || !bytes.Equal(chosen[0], good1) || !bytes.Equal(chosen[1], good2) {
		t.Fatalf("PrepareProposal chose %d txs, want the two good ones", len(chosen))
	}
	for _, r := range res.Txs {
		if !r.OK() {
			t.Errorf("chosen tx failed: %s", r.Log)
		}
	}
	// Another node's proposal with a failing transaction is rejected.
	info := ledger.BlockInfo{Height: c.Height + 1, Time: c.Time.Add(1e9)}
	bad := c.Tx(c.Keys[3], c.Send(to, 50_000_000))
	if ok, err := c.L.ProcessProposal(info, [][]byte{c.Tx(c.Keys[3], c.Send(to, 1)), bad}); ok || err != nil {
		t.Errorf("ProcessProposal = %v, %v; want rejection", ok, err)
	}
}

func TestStoreProofs(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	to := ledgertest.Addr(ledgertest.Key(60))
	c.Block(c.Tx(c.Keys[0], c.Send(to, 100)))
	h, appHash := c.L.Info()
	res, err := c.L.Query(ledger.QueryStore, bank.BalanceKey(to), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Height != h || ledger.Uint64(res.Value) != 100 {
		t.Fatalf("store query = %d %x", res.Height, res.Value)
	}
	if !ledger.VerifyStoreProof(appHash, res.Proof, res.Key, res.Value) {
		t.Fatal("membership proof does not verify")
	}
	if ledger.VerifyStoreProof(appHash, res.Proof, res.Key, ledger.PutUint64(101)) {
		t.Fatal("membership proof verifies a wrong value")
	}
	// Absence is provable too.
	absent := bank.BalanceKey(ledgertest.Addr(ledgertest.Key(61)))
	res, err = c.L.Query(ledger.QueryStore, absent, 0, true)
	if err != nil || res.Value != nil {
		t.Fatalf("absent key: %v %x", err, res.Value)
	}
	if !ledger.VerifyStoreProof(appHash, res.Proof, absent, nil) {
		t.Fatal("non-membership proof does not verify")
	}
	// An old height is still answerable and proves against its own root.
	c.Block(c.Tx(c.Keys[0], c.Send(to, 5)))
	old, err := c.L.Query(ledger.QueryStore, bank.BalanceKey(to), h, true)
	if err != nil || ledger.Uint64(old.Value) != 100 || !ledger.VerifyStoreProof(appHash, old.Proof, old.Key, old.Value) {
		t.Fatalf("historic query: %v %x", err, old.Value)
	}
	if _, err := c.L.Query(ledger.QueryStore, absent, 99, false); err == nil {
		t.Error("query of a future height succeeded")
	}
}

func TestRestartResumesState(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	to := ledgertest.Addr(c.Keys[1])
	c.Block(c.Tx(c.Keys[0], c.Send(to, 7)))
	h, hash := c.L.Info()
	c.Reopen()
	h2, hash2 := c.L.Info()
	if h2 != h || !bytes.Equal(hash, hash2) {
		t.Fatalf("after reopen: %d %X, want %d %X", h2, hash2, h, hash)
	}
	if c.L.ChainID() != ledgertest.ChainID {
		t.Errorf("chain id after reopen = %q", c.L.ChainID())
	}
	if r := c.Block(c.Tx(c.Keys[0], c.Send(to, 1))).Txs[0]; !r.OK() {
		t.Fatalf("tx after reopen: %s", r.Log)
	}
}

func TestGenesisExportImport(t *testing.T) {
	t.Parallel()
	c := ledgertest.New(t, ledgertest.Options{})
	to := ledgertest.Addr(ledgertest.Key(70))
	c.Block(c.Tx(c.Keys[0], c.Send(to, 123)))
	app, _, err := c.L.ExportGenesis()
	if err != nil {
		t.Fatal(err)
	}
	d := ledgertest.New(t, ledgertest.Options{Genesis: app})
	d.Block()
	for _, a := range []wire.Address{to, ledgertest.Addr(c.Keys[0]), wire.ModuleAddress(bank.FeePool)} {
		if x, y := c.Balance(a), d.Balance(a); x != y {
			t.Errorf("balance of %s: exported %d, imported %d", a, x, y)
		}
	}
	bad := map[string][]byte{
		"unknown section":   []byte(`{"nope":{}}`),
		"duplicate balance": ledger.MustEncodeJSON(map[string]any{"bank": bank.Genesis{Balances: []bank.GenesisBalance{{Address: to, Amount: wire.UVAI(1)}, {Address: to, Amount: wire.UVAI(1)}}}}),
		"unknown field":     []byte(`{"bank":{"balances":[],"x":1}}`),
	}
	for name, g := range bad {
		fresh := freshLedger(t)
		if _, err := fresh.InitChain("x", c.Time, 1, g); err == nil {
			t.Errorf("%s: InitChain accepted it", name)
		}
	}
}
