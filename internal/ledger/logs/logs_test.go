package logs_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/logs"
)

const origin = "vai-test/logs/inf"

type operator struct {
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
}

func newOperator(t *testing.T, origin string) *operator {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &operator{signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (o *operator) grow(n int, prefix string) {
	for i := range n {
		_ = i
		o.tree.AppendData([]byte(fmt.Sprintf("%s-%d", prefix, o.tree.Size())))
	}
}

// checkpoint signs a checkpoint of size with root.
func (o *operator) checkpoint(t testing.TB, size uint64, root []byte) string {
	t.Helper()
	text := fmt.Sprintf("%s\n%d\n%s\n", o.signer.Name(), size, base64.StdEncoding.EncodeToString(root))
	b, err := note.Sign(&note.Note{Text: text}, o.signer)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (o *operator) at(t testing.TB, size uint64) string {
	return o.checkpoint(t, size, o.tree.HashAt(size))
}

func (o *operator) consistency(t testing.TB, from, to uint64) [][]byte {
	t.Helper()
	if from == 0 {
		return nil
	}
	p, err := o.tree.ConsistencyProof(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func setup(t *testing.T) (*ledgertest.Chain, *operator) {
	t.Helper()
	c := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{logs.New()} }})
	op := newOperator(t, origin)
	r := c.Block(c.Tx(c.Keys[0], c.Msg("logs/register", logs.MsgRegister{Name: "inf", Origin: origin, OperatorKey: op.vkey, Purpose: "inference"}))).Txs[0]
	if !r.OK() {
		t.Fatalf("register: %s", r.Log)
	}
	return c, op
}

func witness(c *ledgertest.Chain, cp string, proof [][]byte) ledger.TxResult {
	return c.Block(c.Tx(c.Keys[1], c.Msg("logs/witness_checkpoint", logs.MsgWitness{Name: "inf", Checkpoint: cp, Proof: proof}))).Txs[0]
}

func TestWitnessAcceptsConsistentGrowth(t *testing.T) {
	t.Parallel()
	c, op := setup(t)
	op.grow(5, "e")
	if r := witness(c, op.at(t, 5), nil); !r.OK() {
		t.Fatalf("first checkpoint: %s", r.Log)
	}
	prev := uint64(5)
	for _, n := range []int{3, 1, 120, 7} {
		op.grow(n, "e")
		size := op.tree.Size()
		if r := witness(c, op.at(t, size), op.consistency(t, prev, size)); !r.OK() {
			t.Fatalf("%d -> %d: %s", prev, size, r.Log)
		}
		prev = size
	}
	var got logs.LogResponse
	c.Query("/logs/log", map[string]string{"name": "inf"}, &got)
	if got.Witnessed == nil || got.Witnessed.Size != prev || !bytes.Equal(got.Witnessed.Root, op.tree.Hash()) {
		t.Fatalf("witnessed %+v, want size %d", got.Witnessed, prev)
	}
	// The raw store key holds the same record, provably.
	res, err := c.L.Query(ledger.QueryStore, logs.CheckpointKey("inf"), 0, true)
	if err != nil || res.Proof == nil || !bytes.Contains(res.Value, []byte(`"size":136`)) {
		t.Fatalf("store query: %v %s", err, res.Value)
	}
}

func TestWitnessRefusals(t *testing.T) {
	t.Parallel()
	c, op := setup(t)
	op.grow(10, "e")
	if r := witness(c, op.at(t, 10), nil); !r.OK() {
		t.Fatal(r.Log)
	}
	op.grow(11, "e") // 21 entries
	// A fork: the same first 9 entries, then others.
	fork := newOperator(t, origin)
	fork.signer = op.signer
	for i := range uint64(9) {
		fork.tree.AppendData([]byte(fmt.Sprintf("e-%d", i)))
	}
	for range 21 - 9 {
		fork.tree.AppendData([]byte("forged"))
	}
	other := newOperator(t, origin) // same origin, another key
	good := op.consistency(t, 10, 21)
	forged := append([][]byte{}, good...)
	forged[len(forged)-1] = bytes.Repeat([]byte{7}, 32)

	cases := []struct {
		name  string
		cp    string
		proof [][]byte
		want  *ledger.Error
		log   string
	}{
		{"bad signature", other.checkpoint(t, 21, op.tree.Hash()), good, logs.ErrBadSignature, "no valid signature"},
		{"tampered signed text", strings.Replace(op.at(t, 21), "\n21\n", "\n22\n", 1), good, logs.ErrBadSignature, "invalid signature"},
		{"smaller tree", op.at(t, 9), nil, logs.ErrSmallerTree, "size 9, witnessed 10"},
		{"forked root at the same size", fork.checkpoint(t, 10, fork.tree.HashAt(10)), nil, logs.ErrForkedRoot, "witnessed root"},
		{"forked history, larger tree", fork.checkpoint(t, 21, fork.tree.Hash()), fork.consistency(t, 10, 21), logs.ErrForkedRoot, "first 10 entries are not the ones witnessed"},
		{"forged consistency proof", op.at(t, 21), forged, logs.ErrInvalidProof, "from size 10 to 21"},
		{"proof of the wrong length", op.at(t, 21), good[1:], logs.ErrInvalidProof, "wrong proof size"},
		{"no proof", op.at(t, 21), nil, logs.ErrInvalidProof, "empty proof"},
		{"same checkpoint again", op.at(t, 10), nil, logs.ErrNotNewer, "size 10"},
		{"another log's origin", newCP(t, op.signer, "elsewhere", 21, op.tree.Hash()), good, logs.ErrWrongOrigin, "origin \"elsewhere\""},
		{"not a note", "hello", nil, logs.ErrBadCheckpoint, ""},
	}
	for _, tc := range cases {
		r := witness(c, tc.cp, tc.proof)
		if r.Code != tc.want.Code || r.Codespace != logs.Name || !strings.Contains(r.Log, tc.log) {
			t.Errorf("%s: code %s/%d %q, want %d containing %q", tc.name, r.Codespace, r.Code, r.Log, tc.want.Code, tc.log)
		}
	}
	// Unknown logs and malformed messages.
	r := c.Block(c.Tx(c.Keys[1], c.Msg("logs/witness_checkpoint", logs.MsgWitness{Name: "nope", Checkpoint: op.at(t, 21)}))).Txs[0]
	if r.Code != logs.ErrLogNotFound.Code {
		t.Errorf("unknown log: %d %s", r.Code, r.Log)
	}
	// After all that, the honest checkpoint still goes through.
	if r := witness(c, op.at(t, 21), good); !r.OK() {
		t.Fatal(r.Log)
	}
}

// newCP signs a checkpoint text with another origin line.
func newCP(t testing.TB, s note.Signer, origin string, size uint64, root []byte) string {
	b, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))}, s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	c, op := setup(t)
	op2 := newOperator(t, "vai-test/logs/two")
	cases := []struct {
		name string
		msg  logs.MsgRegister
		want *ledger.Error
	}{
		{"name taken", logs.MsgRegister{Name: "inf", Origin: "vai-test/logs/two", OperatorKey: op2.vkey, Purpose: "agent"}, logs.ErrLogExists},
		{"origin taken", logs.MsgRegister{Name: "other", Origin: origin, OperatorKey: op.vkey, Purpose: "agent"}, logs.ErrOriginTaken},
		{"key named for another origin", logs.MsgRegister{Name: "two", Origin: "vai-test/logs/three", OperatorKey: op2.vkey, Purpose: "agent"}, logs.ErrInvalidLog},
		{"bad purpose", logs.MsgRegister{Name: "two", Origin: "vai-test/logs/two", OperatorKey: op2.vkey, Purpose: "gossip"}, logs.ErrInvalidLog},
		{"bad name", logs.MsgRegister{Name: "Two!", Origin: "vai-test/logs/two", OperatorKey: op2.vkey, Purpose: "agent"}, logs.ErrInvalidLog},
	}
	for _, tc := range cases {
		r := c.Block(c.Tx(c.Keys[2], c.Msg("logs/register", tc.msg))).Txs[0]
		if r.Code != tc.want.Code {
			t.Errorf("%s: code %s/%d %s, want %d", tc.name, r.Codespace, r.Code, r.Log, tc.want.Code)
		}
	}
}

func TestGenesisRoundTrip(t *testing.T) {
	t.Parallel()
	c, op := setup(t)
	op.grow(3, "e")
	if r := witness(c, op.at(t, 3), nil); !r.OK() {
		t.Fatal(r.Log)
	}
	sections, _, err := c.L.ExportGenesis()
	if err != nil {
		t.Fatal(err)
	}
	c2 := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{logs.New()} }, Genesis: map[string]json.RawMessage{"logs": sections["logs"]}})
	c2.Block()
	var got logs.LogResponse
	c2.Query("/logs/log", map[string]string{"name": "inf"}, &got)
	if got.Log.OperatorKey != op.vkey || got.Witnessed == nil || got.Witnessed.Size != 3 {
		t.Fatalf("after import: %+v", got)
	}
}

func TestClientKeysAreTheLedgers(t *testing.T) {
	t.Parallel()
	if !bytes.Equal(client.LogKey("a.b"), logs.LogKey("a.b")) || !bytes.Equal(client.LogCheckpointKey("a.b"), logs.CheckpointKey("a.b")) {
		t.Fatal("client and ledger disagree on the logs module's state keys")
	}
}
