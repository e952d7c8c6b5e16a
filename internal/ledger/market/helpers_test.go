package market_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// world: owner (key 0) owns a model trained on a dataset of two
// contributors (keys 1 and 2, weights 3 and 1); providers are keys 3..;
// the buyer is key 9.
type world struct {
	t         *testing.T
	c         *ledgertest.Chain
	owner     ed25519.PrivateKey
	contrib   []ed25519.PrivateKey
	providers []ed25519.PrivateKey
	buyer     ed25519.PrivateKey
	model     registry.ID
	price     uint64 // provider compute price
	params    market.Params
	// fees paid by each key so far (every transaction pays 1,000 uvai).
	fees map[wire.Address]uint64
}

const modelPrice = 100_000 // uvai per call to the model owner (royalty 25% of it)

func newWorld(t *testing.T, nProviders int, mutate func(*market.Params)) *world {
	t.Helper()
	return newWorldWith(t, nProviders, mutate, nil)
}

func newWorldWith(t *testing.T, nProviders int, mutate func(*market.Params), verifiers map[string]market.ResultVerifier) *world {
	t.Helper()
	p := market.DefaultParams()
	p.VestingBlocks = 2
	if mutate != nil {
		mutate(&p)
	}
	var gen map[string]json.RawMessage
	json.Unmarshal((&market.Module{}).DefaultGenesis(), &gen)
	gen["params"] = ledger.MustEncodeJSON(p)
	c := ledgertest.New(t, ledgertest.Options{
		Accounts:       10,
		Funds:          1_000_000_000,
		ModuleAccounts: []string{registry.Name, market.Name},
		Modules: func(b *bank.Module) []ledger.Module {
			return []ledger.Module{registry.New(b.Keeper), market.New(b.Keeper, verifiers)}
		},
		Genesis: map[string]json.RawMessage{market.Name: ledger.MustEncodeJSON(gen)},
	})
	c.Block()
	w := &world{t: t, c: c, owner: c.Keys[0], contrib: c.Keys[1:3], providers: c.Keys[3 : 3+nProviders], buyer: c.Keys[9], price: 10_000, params: p, fees: map[wire.Address]uint64{}}
	// The dataset and the model (content facts need only be well formed here).
	ds := registry.ID("sha256:" + strings.Repeat("d1", 32))
	w.ok(w.owner, "registry/register_dataset", registry.MsgRegisterDataset{ID: ds, Name: "d", License: "MIT",
		Contributors: []registry.Contributor{{Address: w.addr(w.contrib[0]), Weight: 3}, {Address: w.addr(w.contrib[1]), Weight: 1}},
		Content:      content(ds)})
	w.model = registry.ID("sha256:" + strings.Repeat("e2", 32))
	w.ok(w.owner, "registry/register_model", registry.MsgRegisterModel{ID: w.model, Name: "m", License: "MIT",
		Terms: registry.Terms{Price: wire.UVAI(modelPrice), RoyaltyBps: 2500}, Datasets: []registry.ID{ds}, Content: content(w.model)})
	w.ok(w.owner, "market/offer", market.MsgOffer{Model: w.model, Price: wire.UVAI(modelPrice), ArtifactDigest: strings.Repeat("ab", 32),
		Format: "vaim", PublicCID: "bafkreiexample", Active: true})
	for _, k := range w.providers {
		w.ok(k, "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(200_000_000), Endpoint: "http://p", Modes: []string{"redundant", "optimistic", "tee", "zk"},
			Capacity: 4, Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(w.price)}}})
	}
	return w
}

// content gives a registration well-formed content facts: a raw CID of
// the id's own digest.
func content(id registry.ID) registry.Content {
	return registry.Content{ManifestCID: rawCID(id), HashType: "sha256", Size: 1, Files: 1, MerkleRoot: strings.Repeat("00", 32), Resources: 1}
}

func (w *world) addr(k ed25519.PrivateKey) wire.Address { return ledgertest.Addr(k) }

// signed signs one message, counting its fee.
func (w *world) signed(k ed25519.PrivateKey, typ string, v any) []byte {
	w.t.Helper()
	w.fees[w.addr(k)] += txFee
	return w.c.Tx(k, w.c.Msg(typ, v))
}

const txFee = 1_000

func (w *world) tx(k ed25519.PrivateKey, typ string, v any) ledger.TxResult {
	w.t.Helper()
	return w.c.Block(w.signed(k, typ, v)).Txs[0]
}

func (w *world) ok(k ed25519.PrivateKey, typ string, v any) {
	w.t.Helper()
	if r := w.tx(k, typ, v); !r.OK() {
		w.t.Fatalf("%s: %s/%d %s", typ, r.Codespace, r.Code, r.Log)
	}
}

func (w *world) fails(k ed25519.PrivateKey, typ string, v any, want *ledger.Error) {
	w.t.Helper()
	r := w.tx(k, typ, v)
	if r.Code != want.Code || r.Codespace != want.Codespace {
		w.t.Fatalf("%s: got %s/%d %q, want %s", typ, r.Codespace, r.Code, r.Log, want.Desc)
	}
}

func (w *world) job(id uint64) market.Job {
	w.t.Helper()
	var j market.Job
	w.c.Query("/market/job", map[string]any{"id": id}, &j)
	return j
}

func (w *world) provider(k ed25519.PrivateKey) market.ProviderResponse {
	w.t.Helper()
	var p market.ProviderResponse
	w.c.Query("/market/provider", map[string]any{"address": w.addr(k)}, &p)
	return p
}

func (w *world) submit(mode string, budget uint64) uint64 {
	w.t.Helper()
	m, err := market.ParseMode(mode)
	if err != nil {
		w.t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("input"))
	w.ok(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "bafkreiinput", InputDigest: digest[:], Budget: wire.UVAI(budget), Deadline: 50, Mode: m})
	var jobs []market.Job
	w.c.Query("/market/jobs", map[string]any{"buyer": w.addr(w.buyer)}, &jobs)
	return jobs[len(jobs)-1].ID
}

// key finds the private key of an assigned provider.
func (w *world) key(a wire.Address) ed25519.PrivateKey {
	for _, k := range w.providers {
		if w.addr(k) == a {
			return k
		}
	}
	w.t.Fatalf("%s is not a test provider", a)
	return nil
}

func output(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func salt(a wire.Address) []byte { h := sha256.Sum256(a[:]); return h[:] }

// commitReveal has every assigned executor commit then reveal out(provider).
func (w *world) commitReveal(id uint64, out func(wire.Address) []byte) {
	w.t.Helper()
	j := w.job(id)
	var txs [][]byte
	for _, a := range j.Assignments {
		if a.State == market.AsgAssigned {
			txs = append(txs, w.signed(w.key(a.Provider), "market/commit", market.MsgCommit{Job: id, Commitment: market.Commitment(id, a.Provider, out(a.Provider), salt(a.Provider))}))
		}
	}
	for _, r := range w.c.Block(txs...).Txs {
		if !r.OK() {
			w.t.Fatalf("commit: %s", r.Log)
		}
	}
	j = w.job(id)
	txs = nil
	for _, a := range j.Assignments {
		if a.State == market.AsgCommitted {
			txs = append(txs, w.signed(w.key(a.Provider), "market/reveal", market.MsgReveal{Job: id, Output: out(a.Provider), OutputCID: "bafkreiout", Salt: salt(a.Provider)}))
		}
	}
	for _, r := range w.c.Block(txs...).Txs {
		if !r.OK() {
			w.t.Fatalf("reveal: %s", r.Log)
		}
	}
}

// rawCID is the raw CIDv1 of an identity's digest.
func rawCID(id registry.ID) string {
	d, _ := hex.DecodeString(strings.TrimPrefix(string(id), "sha256:"))
	mhash, _ := mh.Encode(d, mh.SHA2_256)
	return cid.NewCidV1(cid.Raw, mhash).String()
}

// snap is every test key's balance and fees at a point.
type snap struct {
	bal  map[wire.Address]uint64
	fees map[wire.Address]uint64
}

func (w *world) snap() snap {
	w.t.Helper()
	s := snap{bal: map[wire.Address]uint64{}, fees: map[wire.Address]uint64{}}
	for _, k := range w.c.Keys {
		a := w.addr(k)
		s.bal[a] = w.c.Balance(a)
		s.fees[a] = w.fees[a]
	}
	return s
}

// gained is what key k received since s, not counting the fees it paid.
func (w *world) gained(s snap, k ed25519.PrivateKey) int64 {
	w.t.Helper()
	a := w.addr(k)
	return int64(w.c.Balance(a)) - int64(s.bal[a]) + int64(w.fees[a]-s.fees[a])
}

// expect checks what every test key gained since s; keys not listed
// gained nothing.
func (w *world) expect(s snap, want map[string]int64) {
	w.t.Helper()
	names := map[wire.Address]string{w.addr(w.owner): "owner", w.addr(w.contrib[0]): "contrib0", w.addr(w.contrib[1]): "contrib1", w.addr(w.buyer): "buyer"}
	for i, k := range w.providers {
		names[w.addr(k)] = "provider" + string(rune('0'+i))
	}
	for i, k := range w.c.Keys {
		a := w.addr(k)
		n, ok := names[a]
		if !ok {
			n = "key" + string(rune('0'+i))
		}
		if got := w.gained(s, k); got != want[n] {
			w.t.Errorf("%s gained %d uvai, want %d", n, got, want[n])
		}
	}
}

// blocks commits n empty blocks.
func (w *world) blocks(n int) {
	for range n {
		w.c.Block()
	}
}

// supply returns the total supply and the fee pool.
func (w *world) supply() (supply, feePool uint64) {
	w.t.Helper()
	var r bank.SupplyResponse
	w.c.Query("/bank/supply", map[string]any{}, &r)
	return r.Supply.Amount, r.FeePool.Amount
}

func jsonUnmarshal(b []byte, v any) error { return ledger.DecodeJSON(b, v) }
