package logs_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/logs"
	"github.com/vai-dev/vai/wire"
)

// A log as the generator knows it: the operator's honest tree holds every
// entry it ever made, witnessed is what the chain accepted so far.
type logModel struct {
	name, origin string
	op           *operator
	registered   bool
	witnessed    uint64
}

// expect is what a generated transaction must do.
type expect struct {
	what string
	log  *logModel
	// ok: it must succeed; otherwise it must fail, with one of codes (of
	// the logs codespace) unless codes is nil.
	ok    bool
	codes []*ledger.Error
	// size and root of a submitted checkpoint.
	size uint64
	root []byte
}

// logsWorld generates random register and witness traffic, valid and
// not, against the state of the chain it runs on.
type logsWorld struct {
	t     *testing.T
	rng   *rand.Rand
	keys  io.Reader
	c     *ledgertest.Chain
	logs  []*logModel
	ghost *operator // a log never registered
	// bad signs messages that fail validation: such a transaction uses no
	// sequence, so it always signs with sequence 0.
	bad  ed25519.PrivateKey
	sent [][]byte
	dups int
}

func newLogsWorld(t *testing.T, seed uint64, c *ledgertest.Chain) *logsWorld {
	var s [32]byte
	s[0] = byte(seed)
	w := &logsWorld{t: t, rng: rand.New(rand.NewPCG(seed, 3)), keys: rand.NewChaCha8(s), c: c, bad: c.Keys[3]}
	for _, name := range []string{"inf", "train", "agent.1", "x-y"} {
		origin := "vai-test/logs/" + name
		w.logs = append(w.logs, &logModel{name: name, origin: origin, op: w.operator(origin)})
	}
	w.ghost = w.operator("vai-test/logs/ghost")
	return w
}

// operator makes an operator whose key comes from the world's seed.
func (w *logsWorld) operator(origin string) *operator {
	skey, vkey, err := note.GenerateKey(w.keys, origin)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		w.t.Fatal(err)
	}
	return &operator{signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (w *logsWorld) signer() ed25519.PrivateKey { return w.c.Keys[w.rng.IntN(3)] }

func (w *logsWorld) witnessTx(name, cp string, proof [][]byte) []byte {
	return w.c.Tx(w.signer(), w.c.Msg("logs/witness_checkpoint", logs.MsgWitness{Name: name, Checkpoint: cp, Proof: proof}))
}

// invalidTx signs a message that fails validation.
func (w *logsWorld) invalidTx(typ string, v any) []byte {
	return w.c.Sign(w.bad, &wire.Body{ChainID: ledgertest.ChainID, Fee: wire.UVAI(1_000), Msgs: []wire.Msg{w.c.Msg(typ, v)}})
}

func (w *logsWorld) randomHash() []byte {
	h := make([]byte, 32)
	for i := range h {
		h[i] = byte(w.rng.Uint32())
	}
	return h
}

// block generates one block's transactions from the state after the last.
func (w *logsWorld) block() ([][]byte, []expect) {
	t, rng := w.t, w.rng
	var txs [][]byte
	var exp []expect
	add := func(tx []byte, e expect) { txs, exp = append(txs, tx), append(exp, e) }
	registering := map[string]bool{}
	honest := map[string]bool{}
	for range rng.IntN(9) {
		l := w.logs[rng.IntN(len(w.logs))]
		if !l.registered {
			// Register it (again, if that is already in this block).
			op := l.op
			e := expect{what: "register", log: l, ok: !registering[l.name]}
			if !e.ok {
				e.what, e.codes = "register again", []*ledger.Error{logs.ErrLogExists}
			}
			registering[l.name] = true
			add(w.c.Tx(w.signer(), w.c.Msg("logs/register", logs.MsgRegister{Name: l.name, Origin: l.origin, OperatorKey: op.vkey, Purpose: "inference"})), e)
			continue
		}
		op := l.op
		switch k := rng.IntN(16); {
		case k < 5 && !honest[l.name]: // honest growth, with its consistency proof
			honest[l.name] = true
			op.grow(1+rng.IntN(40), l.name)
			size := op.tree.Size()
			add(w.witnessTx(l.name, op.at(t, size), op.consistency(t, l.witnessed, size)),
				expect{what: "witness", log: l, ok: true, size: size, root: op.tree.HashAt(size)})
		case k == 5 && l.witnessed > 0: // a checkpoint no newer than the witnessed one
			size := uint64(rng.IntN(int(l.witnessed) + 1))
			add(w.witnessTx(l.name, op.at(t, size), nil), expect{what: "stale", codes: []*ledger.Error{logs.ErrSmallerTree, logs.ErrNotNewer}})
		case k == 6 && l.witnessed > 0: // a fork: the operator signs another history
			fork := testonly.New(rfc6962.DefaultHasher)
			prefix := uint64(rng.IntN(int(l.witnessed)))
			for i := range prefix {
				fork.Append(op.tree.LeafHash(i))
			}
			size := l.witnessed + uint64(rng.IntN(20))
			for fork.Size() < size {
				fork.AppendData([]byte(fmt.Sprintf("forged-%d-%d", fork.Size(), rng.IntN(1000))))
			}
			var proof [][]byte
			if size > l.witnessed {
				var err error
				if proof, err = fork.ConsistencyProof(l.witnessed, size); err != nil {
					t.Fatal(err)
				}
			}
			add(w.witnessTx(l.name, op.checkpoint(t, size, fork.HashAt(size)), proof),
				expect{what: "fork", codes: []*ledger.Error{logs.ErrForkedRoot, logs.ErrInvalidProof, logs.ErrSmallerTree}})
		case k == 7: // a true checkpoint with a forged proof
			if op.tree.Size() == l.witnessed {
				op.grow(1+rng.IntN(5), l.name)
			}
			size := op.tree.Size()
			proof := [][]byte{w.randomHash()}
			if l.witnessed > 0 {
				proof = op.consistency(t, l.witnessed, size)
				proof[rng.IntN(len(proof))] = w.randomHash()
			}
			add(w.witnessTx(l.name, op.at(t, size), proof),
				expect{what: "forged proof", codes: []*ledger.Error{logs.ErrInvalidProof, logs.ErrForkedRoot, logs.ErrSmallerTree, logs.ErrNotNewer}})
		case k == 8: // signed by another key of the same origin
			other := w.operator(l.origin)
			add(w.witnessTx(l.name, other.checkpoint(t, op.tree.Size(), op.tree.Hash()), nil),
				expect{what: "bad signature", codes: []*ledger.Error{logs.ErrBadSignature}})
		case k == 9: // the signed text altered
			cp := op.at(t, op.tree.Size())
			cp = strings.Replace(cp, fmt.Sprintf("\n%d\n", op.tree.Size()), fmt.Sprintf("\n%d\n", op.tree.Size()+1), 1)
			add(w.witnessTx(l.name, cp, nil), expect{what: "tampered", codes: []*ledger.Error{logs.ErrBadSignature}})
		case k == 10: // the operator's signature on another origin
			add(w.witnessTx(l.name, newCP(t, op.signer, "elsewhere", op.tree.Size(), op.tree.Hash()), nil),
				expect{what: "wrong origin", codes: []*ledger.Error{logs.ErrWrongOrigin}})
		case k == 11: // not a note
			junk := base64.StdEncoding.EncodeToString(w.randomHash())
			add(w.witnessTx(l.name, junk, nil), expect{what: "garbage note", codes: []*ledger.Error{logs.ErrBadCheckpoint}})
		case k == 12: // messages that fail validation
			cp := op.at(t, op.tree.Size())
			msgs := []logs.MsgWitness{
				{Name: l.name, Checkpoint: cp, Proof: [][]byte{make([]byte, 31)}},
				{Name: l.name},
				{Name: "Not!A!Name", Checkpoint: cp},
				{Name: l.name, Checkpoint: cp, Proof: make([][]byte, logs.MaxProofHashes+1)},
				{Name: l.name, Checkpoint: strings.Repeat("x", logs.MaxCheckpoint+1)},
			}
			add(w.invalidTx("logs/witness_checkpoint", msgs[rng.IntN(len(msgs))]), expect{what: "invalid witness", codes: []*ledger.Error{logs.ErrInvalidWitness}})
		case k == 13: // a log that was never registered
			w.ghost.grow(1, "ghost")
			add(w.c.Tx(w.signer(), w.c.Msg("logs/witness_checkpoint", logs.MsgWitness{Name: "ghost", Checkpoint: w.ghost.at(t, w.ghost.tree.Size())})),
				expect{what: "unknown log", codes: []*ledger.Error{logs.ErrLogNotFound}})
		case k == 14: // registrations that must fail
			w.dups++
			fresh := w.operator(l.origin)
			switch rng.IntN(4) {
			case 0:
				add(w.c.Tx(w.signer(), w.c.Msg("logs/register", logs.MsgRegister{Name: fmt.Sprintf("dup%d", w.dups), Origin: l.origin, OperatorKey: fresh.vkey, Purpose: "agent"})),
					expect{what: "origin taken", codes: []*ledger.Error{logs.ErrOriginTaken}})
			case 1:
				add(w.c.Tx(w.signer(), w.c.Msg("logs/register", logs.MsgRegister{Name: l.name, Origin: l.origin + "2", OperatorKey: w.operator(l.origin + "2").vkey, Purpose: "agent"})),
					expect{what: "register again", codes: []*ledger.Error{logs.ErrLogExists}})
			case 2:
				add(w.invalidTx("logs/register", logs.MsgRegister{Name: "dup", Origin: "vai-test/logs/dup", OperatorKey: fresh.vkey, Purpose: "agent"}),
					expect{what: "key of another origin", codes: []*ledger.Error{logs.ErrInvalidLog}})
			default:
				add(w.invalidTx("logs/register", logs.MsgRegister{Name: "dup", Origin: l.origin, OperatorKey: fresh.vkey, Purpose: "gossip"}),
					expect{what: "bad purpose", codes: []*ledger.Error{logs.ErrInvalidLog}})
			}
		default: // a replay, or bytes that are no transaction
			if len(w.sent) > 0 && rng.IntN(2) == 0 {
				add(w.sent[rng.IntN(len(w.sent))], expect{what: "replay"})
			} else {
				add([]byte("not a transaction"), expect{what: "garbage"})
			}
		}
	}
	w.sent = append(w.sent, txs...)
	return txs, exp
}

// check holds a block's results to what was expected and moves the model.
func (w *logsWorld) check(h int, res *ledger.BlockResult, exp []expect, outcomes map[string]int) {
	t := w.t
	for i, r := range res.Txs {
		e := exp[i]
		code := "ok"
		if !r.OK() {
			code = fmt.Sprintf("%s/%d", r.Codespace, r.Code)
		}
		outcomes[code]++
		switch {
		case e.ok && !r.OK():
			t.Fatalf("height %d tx %d (%s of %s): %s", h, i, e.what, e.log.name, r.Log)
		case !e.ok && r.OK():
			t.Fatalf("height %d tx %d: %s was accepted", h, i, e.what)
		case !e.ok && e.codes != nil && (r.Codespace != logs.Name || !slices.ContainsFunc(e.codes, func(c *ledger.Error) bool { return c.Code == r.Code })):
			t.Fatalf("height %d tx %d: %s refused with %s %q, want one of %v", h, i, e.what, code, r.Log, e.codes)
		}
		if !r.OK() {
			continue
		}
		switch e.what {
		case "register":
			e.log.registered = true
		case "witness":
			// Only the honest history is ever witnessed, and it only grows.
			if e.size <= e.log.witnessed || !bytes.Equal(e.root, e.log.op.tree.HashAt(e.size)) {
				t.Fatalf("height %d: log %s witnessed size %d after %d", h, e.log.name, e.size, e.log.witnessed)
			}
			e.log.witnessed = e.size
		}
	}
	// The chain's records agree with the model.
	var got []logs.LogResponse
	w.c.Query("/logs/logs", map[string]any{}, &got)
	registered := 0
	for _, l := range w.logs {
		if !l.registered {
			continue
		}
		registered++
		i := slices.IndexFunc(got, func(r logs.LogResponse) bool { return r.Log.Name == l.name })
		if i < 0 {
			t.Fatalf("height %d: log %s missing", h, l.name)
		}
		var size uint64
		if wc := got[i].Witnessed; wc != nil {
			size = wc.Size
		}
		if got[i].Log.OperatorKey != l.op.vkey || size != l.witnessed {
			t.Fatalf("height %d: log %s on the chain is %+v, the model says witnessed %d", h, l.name, got[i], l.witnessed)
		}
	}
	if len(got) != registered {
		t.Fatalf("height %d: %d logs on the chain, %d registered", h, len(got), registered)
	}
}

// TestDeterminism feeds the same random register and witness traffic —
// honest growth, stale checkpoints, forks signed by the operator, forged
// proofs, wrong keys and origins, garbage, replays — to two chains, one of
// which sees every transaction in CheckTx first and is restarted from disk
// every few blocks. App hashes and results must agree at every height; the
// module's invariants hold after every block (ledgertest checks them); only
// the honest history is ever witnessed; and the generator must have
// reached every refusal the module has.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	mods := func(*bank.Module) []ledger.Module { return []ledger.Module{logs.New()} }
	outcomes := map[string]int{}
	for seed := uint64(1); seed <= 3; seed++ {
		a := ledgertest.New(t, ledgertest.Options{Modules: mods})
		b := ledgertest.New(t, ledgertest.Options{Modules: mods})
		w := newLogsWorld(t, seed, a)
		for h := 1; h <= 60; h++ {
			txs, exp := w.block()
			for _, tx := range txs {
				b.L.CheckTx(tx)
			}
			ra, rb := a.Block(txs...), b.Block(txs...)
			if !bytes.Equal(ra.AppHash, rb.AppHash) {
				t.Fatalf("seed %d height %d: app hashes differ: %X %X", seed, h, ra.AppHash, rb.AppHash)
			}
			for i := range ra.Txs {
				if ra.Txs[i].Code != rb.Txs[i].Code || ra.Txs[i].Log != rb.Txs[i].Log || ra.Txs[i].Gas != rb.Txs[i].Gas {
					t.Fatalf("seed %d height %d tx %d: results differ: %q %q", seed, h, i, ra.Txs[i].Log, rb.Txs[i].Log)
				}
			}
			w.check(h, ra, exp, outcomes)
			if h%5 == 2 {
				b.Reopen()
			}
		}
		if err := b.L.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		ga, _, err := a.L.ExportGenesis()
		if err != nil {
			t.Fatal(err)
		}
		gb, _, err := b.L.ExportGenesis()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ga[logs.Name], gb[logs.Name]) {
			t.Fatalf("seed %d: exported genesis differs", seed)
		}
	}
	t.Logf("outcomes: %v", outcomes)
	for _, e := range []*ledger.Error{logs.ErrLogNotFound, logs.ErrLogExists, logs.ErrOriginTaken, logs.ErrInvalidLog, logs.ErrBadSignature,
		logs.ErrBadCheckpoint, logs.ErrWrongOrigin, logs.ErrSmallerTree, logs.ErrForkedRoot, logs.ErrInvalidProof, logs.ErrNotNewer, logs.ErrInvalidWitness} {
		if outcomes[fmt.Sprintf("%s/%d", logs.Name, e.Code)] == 0 {
			t.Errorf("the generator never reached %s/%d (%s)", logs.Name, e.Code, e.Desc)
		}
	}
	if outcomes["ok"] < 100 {
		t.Errorf("only %d transactions succeeded", outcomes["ok"])
	}
}
