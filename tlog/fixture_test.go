package tlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtversion "github.com/cometbft/cometbft/proto/tendermint/version"
	"github.com/cometbft/cometbft/types"
	"github.com/cometbft/cometbft/version"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/logs"
	vtlog "github.com/vai-dev/vai/tlog"
)

var update = flag.Bool("update", false, "rewrite testdata/agent.tlog-proof and testdata/genesis.json")

// The fixture is a proof file a real chain could have written, built
// without a node: a ledger in memory holds the log's record and witnessed
// checkpoint, and one validator whose key is fixed signs the light blocks.
// It is committed (testdata/) so that proofs written today keep verifying;
// go test -run TestFixture -update rewrites it.
const (
	fixtureProof   = "testdata/agent.tlog-proof"
	fixtureGenesis = "testdata/genesis.json"
	fixtureIndex   = 3
	fixtureSize    = 5
)

// The disclosed field of the fixture's entry.
var (
	fixtureToolCall = json.RawMessage(`{"name":"search","args":{"q":"weather"}}`)
	fixtureSalt     = bytes.Repeat([]byte{0x5a}, 32)
)

// agentEntry is entry i of the fixture's log: an agent action whose
// tool_call is fixtureToolCall under fixtureSalt.
func agentEntry(i int) []byte {
	a := vtlog.AgentAction{Schema: vtlog.SchemaAgent, Agent: "trip-planner", ActionID: fmt.Sprintf("a-%d", i),
		Time: time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC)}
	salt := func(field string) []byte { s := sha256.Sum256(fmt.Appendf(nil, "%s-%d", field, i)); return s[:] }
	a.Commitments.Prompt = vtlog.Commit("prompt", salt("prompt"), json.RawMessage(`"what is the weather in Rome?"`))
	a.Commitments.ToolCall = vtlog.Commit("tool_call", fixtureSalt, fixtureToolCall)
	a.Commitments.Result = vtlog.Commit("result", salt("result"), json.RawMessage(`"sunny"`))
	b, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return b
}

// buildFixture makes the fixture: entry fixtureIndex of log "agent" on
// chain vai-test, with the disclosure of its tool_call.
func buildFixture(t testing.TB) (*vtlog.ProofFile, *types.GenesisDoc) {
	t.Helper()
	keys := rand.NewChaCha8([32]byte{'t', 'l', 'o', 'g'})
	origin := vtlog.Origin(ledgertest.ChainID, "agent")
	skey, vkey, err := note.GenerateKey(keys, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range fixtureSize {
		tree.AppendData(agentEntry(i))
	}
	cp, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, fixtureSize, base64.StdEncoding.EncodeToString(tree.Hash()))}, signer)
	if err != nil {
		t.Fatal(err)
	}

	// The chain: block 1 registers the log, block 2 witnesses the checkpoint.
	c := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{logs.New()} }})
	must := func(r ledger.TxResult) {
		t.Helper()
		if !r.OK() {
			t.Fatal(r.Log)
		}
	}
	must(c.Block(c.Tx(c.Keys[0], c.Msg("logs/register", logs.MsgRegister{Name: "agent", Origin: origin, OperatorKey: vkey, Purpose: vtlog.PurposeAgent}))).Txs[0])
	res := c.Block(c.Tx(c.Keys[1], c.Msg("logs/witness_checkpoint", logs.MsgWitness{Name: "agent", Checkpoint: string(cp)})))
	must(res.Txs[0])
	ev := vtlog.Evidence{Version: vtlog.EvidenceVersion, Entry: agentEntry(fixtureIndex), ChainID: ledgertest.ChainID, Name: "agent", Height: c.Height,
		Disclosure: &vtlog.Disclosure{Field: "tool_call", Opening: vtlog.Opening{Salt: fixtureSalt, Value: fixtureToolCall}}}
	for _, kv := range []struct {
		key        []byte
		value, prf *[]byte
	}{{logs.LogKey("agent"), &ev.LogValue, &ev.LogProof}, {logs.CheckpointKey("agent"), &ev.CheckpointValue, &ev.CheckpointProof}} {
		q, err := c.L.Query(ledger.QueryStore, kv.key, c.Height, true)
		if err != nil {
			t.Fatal(err)
		}
		*kv.value = q.Value
		if *kv.prf, err = q.Proof.Marshal(); err != nil {
			t.Fatal(err)
		}
	}

	// The validator signs block 1 and block 3, whose header holds the
	// app hash of the state after block 2.
	val := cmted25519.GenPrivKeyFromSecret([]byte("vai tlog fixture validator"))
	vs := types.NewValidatorSet([]*types.Validator{types.NewValidator(val.PubKey(), 10)})
	genesis := &types.GenesisDoc{GenesisTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ChainID: ledgertest.ChainID, InitialHeight: 1,
		Validators: []types.GenesisValidator{{Address: val.PubKey().Address(), PubKey: val.PubKey(), Power: 10, Name: "v0"}}}
	if err := genesis.ValidateAndComplete(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		height  int64
		appHash []byte
	}{{1, nil}, {c.Height + 1, res.AppHash}} {
		lb := signedLightBlock(t, val, vs, h.height, genesis.GenesisTime.Add(time.Duration(h.height)*time.Second), h.appHash)
		b, err := vtlog.EncodeLightBlock(lb)
		if err != nil {
			t.Fatal(err)
		}
		ev.LightBlocks = append(ev.LightBlocks, b)
	}
	extra, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	incl, err := tree.InclusionProof(fixtureIndex, fixtureSize)
	if err != nil {
		t.Fatal(err)
	}
	return &vtlog.ProofFile{Extra: extra, Index: fixtureIndex, Proof: incl, Checkpoint: cp}, genesis
}

// signedLightBlock makes the light block at height of a chain of one
// validator, with its commit.
func signedLightBlock(t testing.TB, val cmted25519.PrivKey, vs *types.ValidatorSet, height int64, at time.Time, appHash []byte) *types.LightBlock {
	t.Helper()
	h := &types.Header{Version: cmtversion.Consensus{Block: version.BlockProtocol}, ChainID: ledgertest.ChainID, Height: height, Time: at,
		ValidatorsHash: vs.Hash(), NextValidatorsHash: vs.Hash(), AppHash: appHash, ProposerAddress: val.PubKey().Address()}
	parts := sha256.Sum256(fmt.Appendf(nil, "parts %d", height))
	id := types.BlockID{Hash: h.Hash(), PartSetHeader: types.PartSetHeader{Total: 1, Hash: parts[:]}}
	vote := &types.Vote{Type: cmtproto.PrecommitType, Height: height, BlockID: id, Timestamp: at.Add(time.Second),
		ValidatorAddress: val.PubKey().Address(), ValidatorIndex: 0}
	sig, err := val.Sign(types.VoteSignBytes(ledgertest.ChainID, vote.ToProto()))
	if err != nil {
		t.Fatal(err)
	}
	vote.Signature = sig
	lb := &types.LightBlock{SignedHeader: &types.SignedHeader{Header: h,
		Commit: &types.Commit{Height: height, BlockID: id, Signatures: []types.CommitSig{vote.CommitSig()}}}, ValidatorSet: vs}
	if err := lb.ValidateBasic(ledgertest.ChainID); err != nil {
		t.Fatal(err)
	}
	return lb
}

// loadFixture reads the committed fixture (rewriting it first with -update).
func loadFixture(t testing.TB) (*vtlog.ProofFile, []byte, *types.GenesisDoc) {
	t.Helper()
	if *update {
		p, g := buildFixture(t)
		if err := os.WriteFile(fixtureProof, p.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := g.SaveAs(fixtureGenesis); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(fixtureProof)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vtlog.ParseProofFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	g, err := types.GenesisDocFromFile(fixtureGenesis)
	if err != nil {
		t.Fatal(err)
	}
	return p, raw, g
}

// The committed proof file verifies offline from its genesis, and says
// what it was built to say. A verifier change that breaks proof files
// already handed out fails here.
func TestFixtureVerifies(t *testing.T) {
	p, raw, g := loadFixture(t)
	res, err := vtlog.Verify(context.Background(), p, vtlog.VerifyOptions{Genesis: g})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "agent" || res.Origin != "vai-test/logs/agent" || res.Purpose != vtlog.PurposeAgent || res.Index != fixtureIndex ||
		res.Size != fixtureSize || !bytes.Equal(res.Entry, agentEntry(fixtureIndex)) || res.ChainID != ledgertest.ChainID ||
		res.Height != 2 || res.TrustSource != "genesis" || res.Disclosed == nil || string(res.Disclosed.Value) != string(fixtureToolCall) {
		t.Fatalf("verified %+v", res)
	}
	if !bytes.Equal(p.Marshal(), raw) {
		t.Fatal("the fixture does not re-encode to its own bytes")
	}
}
