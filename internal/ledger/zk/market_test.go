package zk_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/consensys/gnark/backend/groth16"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/internal/ledger/zk"
	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/wire"
	"github.com/vai-dev/vai/zkml"
	"github.com/vai-dev/vai/zkml/evm/evmtest"
)

// The small model of the zk tests, its circuit and a dev key pair.
type zkModel struct {
	m    *runtime.Model
	art  []byte
	c    *zkml.Circuit
	pk   groth16.ProvingKey
	vk   []byte
	salt zkml.Salt
	comm string
}

var zkSetup = sync.OnceValues(func() (*zkModel, error) {
	z := &zkModel{m: &runtime.Model{
		Input: runtime.Shape{4}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{&runtime.Dense{In: 4, Out: 2, Weights: []int8{1, -2, 3, -4, 50, 60, -70, 80}, Bias: []int32{7, -7},
			Requant: runtime.Requant{Mult: []int32{3 << 28}, Shift: []uint8{33}}, Act: runtime.ActRelu}},
	}}
	var err error
	if z.art, err = z.m.MarshalBinary(); err != nil {
		return nil, err
	}
	if z.c, err = zkml.Compile(z.m, zkml.Options{}); err != nil {
		return nil, err
	}
	pk, vk, err := zkml.DevSetup(z.c)
	if err != nil {
		return nil, err
	}
	z.pk = pk
	var buf bytes.Buffer
	if _, err := vk.WriteTo(&buf); err != nil {
		return nil, err
	}
	z.vk = buf.Bytes()
	z.salt.SetUint64(12345)
	comm, err := zkml.Commit(z.m, z.salt)
	if err != nil {
		return nil, err
	}
	z.comm = zkml.FieldHex(comm)
	return z, nil
})

func rawCID(b []byte) string {
	h, _ := mh.Sum(b, mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h).String()
}

// zkWorld: the owner (key 0) registers the model with its commitment,
// offers it and links the verifying key; key 1 is a provider; key 2 buys.
type zkWorld struct {
	t     *testing.T
	c     *ledgertest.Chain
	z     *zkModel
	model registry.ID
	vkID  zkml.Digest
	fee   uint64
}

func newZKWorld(t *testing.T) *zkWorld { return newZKWorldKey(t, "", nil) }

// newZKWorldKey is newZKWorld with the model's key of backend b (a PLONK
// key, say) instead of the Groth16 dev key.
func newZKWorldKey(t *testing.T, b zkml.Backend, vk []byte) *zkWorld {
	z, err := zkSetup()
	if err != nil {
		t.Fatal(err)
	}
	c := ledgertest.New(t, ledgertest.Options{Accounts: 4, Funds: 1_000_000_000, ModuleAccounts: []string{registry.Name, market.Name},
		Modules: func(b *bank.Module) []ledger.Module {
			reg := registry.New(b.Keeper)
			zm := zk.New(reg.Keeper)
			return []ledger.Module{reg, zm, market.New(b.Keeper, map[string]market.ResultVerifier{market.ModeZK: zm.MarketVerifier()})}
		}})
	c.Block()
	w := &zkWorld{t: t, c: c, z: z, model: registry.ID("sha256:" + strings.Repeat("7a", 32)), fee: 10_000}
	if b == zkml.BackendPlonk {
		w.fee = 20_000 // a PLONK key is 34 KiB
	}
	d := sha256.Sum256(z.art)
	w.ok(0, "registry/register_model", registry.MsgRegisterModel{ID: w.model, Name: "tiny", License: "MIT", Terms: registry.Terms{Price: wire.UVAI(1000)},
		ZKCommitment: z.comm, Content: registry.Content{ManifestCID: rawCIDOf(w.model), HashType: "sha256", Size: 1, Files: 1, MerkleRoot: strings.Repeat("00", 32), Resources: 1}})
	w.ok(0, "market/offer", market.MsgOffer{Model: w.model, Price: wire.UVAI(1000), ArtifactDigest: hex.EncodeToString(d[:]), Format: "vaim", PublicCID: rawCID(z.art), Active: true})
	if vk == nil {
		vk = z.vk
	}
	// A key linked by someone else than the owner is refused; the owner's is taken.
	if r := w.tx(3, "zk/register_vk", zk.MsgRegisterVK{Backend: b, VK: vk, Model: string(w.model), Commitment: z.comm}); r.OK() {
		t.Fatal("a key linked to someone else's model was accepted")
	}
	w.ok(0, "zk/register_vk", zk.MsgRegisterVK{Backend: b, VK: vk, Model: string(w.model), Commitment: z.comm})
	if b == "" {
		b = zkml.BackendGroth16
	}
	w.vkID = zkml.KeyDigest(b, vk)
	w.ok(1, "market/provider_register", market.MsgProviderRegister{Stake: wire.UVAI(200_000_000), Modes: []string{"zk"}, Capacity: 4,
		Serves: []market.ServeEntry{{Model: w.model, Price: wire.UVAI(5000)}}})
	return w
}

func rawCIDOf(id registry.ID) string {
	d, _ := hex.DecodeString(strings.TrimPrefix(string(id), "sha256:"))
	h, _ := mh.Encode(d, mh.SHA2_256)
	return cid.NewCidV1(cid.Raw, h).String()
}

func (w *zkWorld) tx(k int, typ string, v any) ledger.TxResult {
	w.t.Helper()
	b := w.c.Body(w.c.Keys[k], w.c.Msg(typ, v))
	b.Fee = wire.UVAI(w.fee) // a proof's verification costs more than the default fee covers
	return w.c.Block(w.c.Sign(w.c.Keys[k], b)).Txs[0]
}

func (w *zkWorld) ok(k int, typ string, v any) {
	w.t.Helper()
	if r := w.tx(k, typ, v); !r.OK() {
		w.t.Fatalf("%s: %s", typ, r.Log)
	}
}

// submit posts a zk job on input and returns its id.
func (w *zkWorld) submit(input []int8) uint64 {
	w.t.Helper()
	d := sha256.Sum256(zk.ZKInput(input))
	r := w.tx(2, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: rawCID(zk.ZKInput(input)), InputDigest: d[:], Budget: wire.UVAI(100_000),
		Deadline: 20, Mode: market.Mode{Kind: market.ModeZK, K: 1}})
	if !r.OK() {
		w.t.Fatal(r.Log)
	}
	for _, e := range r.Events {
		if e.Type == "job_submitted" {
			for _, a := range e.Attrs {
				if a.Key == "job" {
					var id uint64
					json.Unmarshal([]byte(a.Value), &id)
					return id
				}
			}
		}
	}
	w.t.Fatal("no job id")
	return 0
}

// evidence proves the model on input for job and returns the commit.
func (w *zkWorld) evidence(job uint64, input []int8) market.MsgCommit {
	w.t.Helper()
	p, err := zkml.Prove(w.z.c, w.z.pk, w.z.m, w.z.salt, input, market.ZKJobID(job))
	if err != nil {
		w.t.Fatal(err)
	}
	d := sha256.Sum256(w.z.art)
	in := sha256.Sum256(zk.ZKInput(input))
	doc := market.NewOutputDoc(hex.EncodeToString(d[:]), in[:], p.Public.Output, 1).Encode()
	ev, _ := json.Marshal(zk.JobEvidence{VK: w.vkID, Proof: p.Groth16, Input: input, Output: p.Public.Output})
	out := sha256.Sum256(doc)
	return market.MsgCommit{Job: job, Output: out[:], OutputCID: rawCID(doc), Evidence: ev}
}

func TestZKJobSettlesOnTheProofAlone(t *testing.T) {
	w := newZKWorld(t)
	in := []int8{100, -20, 3, 127}
	id := w.submit(in)
	good := w.evidence(id, in)
	// A proof for another job, for another input, with an output other
	// than the committed one, or garbage: refused, the job unchanged.
	other := w.evidence(id+1, in)
	other.Job = id
	otherIn := w.evidence(id, []int8{1, 2, 3, 4})
	var ev zk.JobEvidence
	json.Unmarshal(good.Evidence, &ev)
	ev.Output = []int8{ev.Output[1], ev.Output[0] + 1}
	forged := good
	forged.Evidence, _ = json.Marshal(ev)
	wrongDoc := good
	wrongDoc.Output = bytes.Repeat([]byte{1}, 32)
	garbage := good
	garbage.Evidence = []byte(`{"vk":"nope"}`)
	// A key of another model (linked by its owner to a second registration).
	_, vk2, err := zkml.DevSetup(w.z.c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	vk2.WriteTo(&buf)
	model2 := registry.ID("sha256:" + strings.Repeat("7b", 32))
	w.ok(0, "registry/register_model", registry.MsgRegisterModel{ID: model2, Name: "tiny2", License: "MIT", ZKCommitment: w.z.comm,
		Content: registry.Content{ManifestCID: rawCIDOf(model2), HashType: "sha256", Size: 1, Files: 1, MerkleRoot: strings.Repeat("00", 32), Resources: 1}})
	w.ok(0, "zk/register_vk", zk.MsgRegisterVK{VK: buf.Bytes(), Model: string(model2), Commitment: w.z.comm})
	vk2ID, _ := zkml.VKDigest(vk2)
	json.Unmarshal(good.Evidence, &ev)
	ev.VK = vk2ID
	otherModel := good
	otherModel.Evidence, _ = json.Marshal(ev)
	for name, m := range map[string]market.MsgCommit{"another job": other, "another input": otherIn, "forged output": forged, "wrong document": wrongDoc,
		"garbage": garbage, "another model's key": otherModel} {
		r := w.tx(1, "market/commit", m)
		if r.OK() || r.Codespace != market.Name || r.Code != market.ErrVerification.Code {
			t.Fatalf("%s: %s/%d %s", name, r.Codespace, r.Code, r.Log)
		}
	}
	w.ok(1, "market/commit", good)
	var j market.Job
	w.c.Query("/market/job", map[string]any{"id": id}, &j)
	if j.Closing == nil || j.Closing.Reason != market.CloseSettled || !bytes.Equal(j.Result.Evidence, good.Evidence) {
		t.Fatalf("job: %+v", j)
	}

	// The same proof, rebuilt from the job's record, verifies in the
	// exported Solidity verifier on a simulated Ethereum chain, and only
	// for this job.
	p, vkID, err := zk.JobProof(&j, w.z.comm)
	if err != nil || vkID != w.vkID {
		t.Fatalf("JobProof: %v (key %s)", err, vkID)
	}
	vk, _ := zkml.ParseVK(w.z.vk)
	if err := zkml.Verify(vk, p); err != nil {
		t.Fatalf("the job's proof does not verify off the chain: %v", err)
	}
	call := evmtest.Verifier(t, vk)
	sp, err := p.Solidity()
	if err != nil {
		t.Fatal(err)
	}
	if gas, err := call(sp); err != nil {
		t.Fatalf("the Solidity verifier rejects the job's proof: %v", err)
	} else {
		t.Logf("verifyProof of job %d's proof: %d gas", j.ID, gas)
	}
	p.Public.JobID = zkml.JobField(market.ZKJobID(j.ID + 1))
	if sp, _ = p.Solidity(); sp != nil {
		if _, err := call(sp); err == nil {
			t.Fatal("the Solidity verifier accepts the proof for another job")
		}
	}
}
