package logs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/logs"
	"github.com/vai-dev/vai/wire"
)

// fuzzWorld is the state FuzzWitness starts every input from: log "inf"
// registered, its checkpoint of 10 entries witnessed. The operator's key
// is derived from a fixed seed so that the committed corpus holds notes
// it signed: the honest tree's, and a fork's (the first 9 entries, then
// others) that a buggy state machine could be tricked into accepting.
type fuzzWorld struct {
	op, fork, stranger *operator
	mod                *logs.Module
	witness            ledger.MsgType
	base               ledger.KV
}

const fuzzWitnessed = 10

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	keys := rand.NewChaCha8([32]byte{'f', 'u', 'z', 'z'})
	newOp := func() *operator {
		skey, vkey, err := note.GenerateKey(keys, origin)
		if err != nil {
			t.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		return &operator{signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	}
	w := &fuzzWorld{op: newOp(), stranger: newOp(), mod: logs.New()}
	w.fork = &operator{signer: w.op.signer, vkey: w.op.vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	for i := range 21 {
		w.op.tree.AppendData(fmt.Appendf(nil, "e-%d", i))
		if i < 9 {
			w.fork.tree.AppendData(fmt.Appendf(nil, "e-%d", i))
		} else {
			w.fork.tree.AppendData(fmt.Appendf(nil, "forged-%d", i))
		}
	}
	types := map[string]ledger.MsgType{}
	for _, mt := range w.mod.Msgs() {
		types[mt.Type] = mt
	}
	w.witness = types["logs/witness_checkpoint"]
	w.base = ledger.NewMemKV()
	ctx := ledger.NewContext(w.base, "vai-test", 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ledger.ModeDeliver)
	if err := types["logs/register"].Handle(ctx, &logs.MsgRegister{Name: "inf", Origin: origin, OperatorKey: w.op.vkey, Purpose: "inference"}); err != nil {
		t.Fatal(err)
	}
	if err := w.witness.Handle(ctx, &logs.MsgWitness{Name: "inf", Checkpoint: w.op.at(t, fuzzWitnessed)}); err != nil {
		t.Fatal(err)
	}
	return w
}

// FuzzWitness feeds witness-checkpoint messages (their JSON value, as a
// transaction carries it) through the logs module's decoding, validation
// and handler. Nothing may panic; a refusal must carry one of the module's
// codes (never an internal error); and whatever is accepted must extend
// the witnessed history: the honest tree's root at a larger size, never
// the fork's, however the proof is crafted.
func FuzzWitness(f *testing.F) {
	w := newFuzzWorld(f)
	for _, m := range w.seeds(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		m := w.witness.New()
		if err := (wire.Msg{Type: w.witness.Type, Value: value}).DecodeValue(m); err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			if ledger.CodeOf(err) != logs.ErrInvalidWitness {
				t.Fatalf("validation refused with %v, want code %d", err, logs.ErrInvalidWitness.Code)
			}
			return
		}
		if gas := w.witness.Gas(m); gas > logs.GasWitness+logs.GasPerProofHash*logs.MaxProofHashes {
			t.Fatalf("gas %d above the bound", gas)
		}
		ctx := ledger.NewContext(ledger.NewCache(w.base), "vai-test", 2, time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), ledger.ModeDeliver)
		if err := w.witness.Handle(ctx, m); err != nil {
			if e := ledger.CodeOf(err); e.Codespace != logs.Name || e == ledger.InternalError(logs.Name) {
				t.Fatalf("refused with %v (%s/%d), want a code of the logs module", err, e.Codespace, e.Code)
			}
			return
		}
		c, err := w.mod.Witnessed(ctx, "inf")
		if err != nil || c == nil {
			t.Fatalf("accepted, then no witnessed checkpoint: %v", err)
		}
		if c.Size <= fuzzWitnessed || c.Size > w.op.tree.Size() || !bytes.Equal(c.Root, w.op.tree.HashAt(c.Size)) {
			t.Fatalf("accepted a checkpoint of %d entries, root %x, that does not extend the witnessed history", c.Size, c.Root)
		}
		for _, inv := range w.mod.Invariants() {
			if err := inv.Check(ctx); err != nil {
				t.Fatalf("invariant %s: %v", inv.Name, err)
			}
		}
	})
}

// seeds are witness messages that stop at each check of the handler.
func (w *fuzzWorld) seeds(t testing.TB) [][]byte {
	op, fork := w.op, w.fork
	forged := op.consistency(t, fuzzWitnessed, 21)
	forged[len(forged)-1] = bytes.Repeat([]byte{7}, 32)
	msgs := []logs.MsgWitness{
		{Name: "inf", Checkpoint: op.at(t, 11), Proof: op.consistency(t, fuzzWitnessed, 11)},
		{Name: "inf", Checkpoint: op.at(t, 16), Proof: op.consistency(t, fuzzWitnessed, 16)},
		{Name: "inf", Checkpoint: op.at(t, 21), Proof: op.consistency(t, fuzzWitnessed, 21)},
		{Name: "inf", Checkpoint: op.at(t, 21), Proof: forged},
		{Name: "inf", Checkpoint: op.at(t, 21)},
		{Name: "inf", Checkpoint: op.at(t, 9)},
		{Name: "inf", Checkpoint: op.at(t, fuzzWitnessed)},
		{Name: "inf", Checkpoint: fork.at(t, fuzzWitnessed)},
		{Name: "inf", Checkpoint: fork.at(t, 21), Proof: fork.consistency(t, fuzzWitnessed, 21)},
		{Name: "inf", Checkpoint: fork.at(t, 16), Proof: fork.consistency(t, fuzzWitnessed, 16)},
		{Name: "inf", Checkpoint: w.stranger.checkpoint(t, 21, op.tree.Hash()), Proof: op.consistency(t, fuzzWitnessed, 21)},
		{Name: "inf", Checkpoint: newCP(t, op.signer, "elsewhere", 21, op.tree.Hash()), Proof: op.consistency(t, fuzzWitnessed, 21)},
		{Name: "nope", Checkpoint: op.at(t, 21)},
		{Name: "inf", Checkpoint: "hello"},
		{Name: "inf", Checkpoint: op.at(t, 21), Proof: [][]byte{make([]byte, 31)}},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, []byte(`{"name":"inf","checkpoint":"x","extra":1}`), []byte(`{"name":"inf","name":"inf","checkpoint":"x"}`))
}

var genCorpus = flag.Bool("gencorpus", false, "write the fuzz seed corpus to testdata/fuzz")

// TestGenCorpus writes the committed seed corpus of FuzzWitness (with -gencorpus).
func TestGenCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite testdata/fuzz/FuzzWitness")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWitness")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range newFuzzWorld(t).seeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		sum := sha256.Sum256([]byte(body))
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The seeds reach the outcomes they were written for, so the corpus
// keeps exercising every branch of the handler.
func TestFuzzSeedsReachEveryOutcome(t *testing.T) {
	w := newFuzzWorld(t)
	got := map[*ledger.Error]int{}
	outcome := func(err error) *ledger.Error {
		if err == nil {
			return nil
		}
		return ledger.CodeOf(err)
	}
	for _, s := range w.seeds(t) {
		m := w.witness.New()
		if err := (wire.Msg{Type: w.witness.Type, Value: s}).DecodeValue(m); err != nil {
			got[ledger.ErrInvalidMsg]++
			continue
		}
		if err := m.Validate(); err != nil {
			got[outcome(err)]++
			continue
		}
		ctx := ledger.NewContext(ledger.NewCache(w.base), "vai-test", 2, time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC), ledger.ModeDeliver)
		got[outcome(w.witness.Handle(ctx, m))]++
	}
	for _, e := range []*ledger.Error{logs.ErrLogNotFound, logs.ErrBadSignature, logs.ErrBadCheckpoint, logs.ErrWrongOrigin,
		logs.ErrSmallerTree, logs.ErrForkedRoot, logs.ErrInvalidProof, logs.ErrNotNewer, logs.ErrInvalidWitness} {
		if got[e] == 0 {
			t.Errorf("no seed is refused with %s", e.Desc)
		}
	}
	if got[nil] != 3 || got[ledger.ErrInvalidMsg] != 2 {
		t.Errorf("%d seeds accepted, %d undecodable: want 3 and 2", got[nil], got[ledger.ErrInvalidMsg])
	}
	if ents, err := os.ReadDir("testdata/fuzz/FuzzWitness"); err != nil || len(ents) < len(w.seeds(t)) {
		t.Errorf("committed seed corpus missing (go test -run TestGenCorpus -gencorpus): %v", err)
	}
}
