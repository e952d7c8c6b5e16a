package zk_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"testing"

	"github.com/consensys/gnark/backend/plonk"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/zk"
	"github.com/vai-dev/vai/zkml"
)

// plonkSetup is the zk tests' small model compiled for PLONK, with dev
// keys.
var plonkSetup = sync.OnceValues(func() (*plonkModel, error) {
	z, err := zkSetup()
	if err != nil {
		return nil, err
	}
	c, err := zkml.Compile(z.m, zkml.Options{Backend: zkml.BackendPlonk})
	if err != nil {
		return nil, err
	}
	pk, vk, err := zkml.PlonkDevSetup(c)
	if err != nil {
		return nil, err
	}
	v, err := zkml.NewVerifier(vk)
	if err != nil {
		return nil, err
	}
	return &plonkModel{c: c, pk: pk, vk: v.Bytes()}, nil
})

type plonkModel struct {
	c  *zkml.Circuit
	pk plonk.ProvingKey
	vk []byte
}

// TestPlonkKeys: the module stores PLONK keys under their tagged digest,
// verifies PLONK proofs with them, refuses proofs of the other system and
// keys registered as the other system, and keeps them through genesis.
func TestPlonkKeys(t *testing.T) {
	f, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	z, _ := zkSetup()
	pm, err := plonkSetup()
	if err != nil {
		t.Fatal(err)
	}
	pp, err := zkml.ProvePlonk(pm.c, pm.pk, z.m, zkml.Salt{}, []int8{100, -20, 3, 127}, []byte("job-7"))
	if err != nil {
		t.Fatal(err)
	}
	c := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{zk.New(nil)} }})
	c.Block()
	for _, tc := range []struct {
		name string
		msg  zk.MsgRegisterVK
	}{
		{"PLONK key as Groth16", zk.MsgRegisterVK{VK: pm.vk}},
		{"Groth16 key as PLONK", zk.MsgRegisterVK{Backend: zkml.BackendPlonk, VK: f.vk}},
		{"unknown backend", zk.MsgRegisterVK{Backend: "stark", VK: pm.vk}},
		{"truncated PLONK key", zk.MsgRegisterVK{Backend: zkml.BackendPlonk, VK: pm.vk[:len(pm.vk)-1]}},
	} {
		if r := c.Block(tx(c, c.Msg("zk/register_vk", tc.msg))).Txs[0]; r.Code != zk.ErrInvalidKey.Code {
			t.Errorf("%s: code %d (%s), want %d", tc.name, r.Code, r.Log, zk.ErrInvalidKey.Code)
		}
	}
	if r := c.Block(tx(c, c.Msg("zk/register_vk", zk.MsgRegisterVK{Backend: zkml.BackendPlonk, VK: pm.vk}))).Txs[0]; r.Code != 0 {
		t.Fatalf("register PLONK key: %d %s", r.Code, r.Log)
	}
	if r := c.Block(tx(c, c.Msg("zk/register_vk", zk.MsgRegisterVK{VK: f.vk}))).Txs[0]; r.Code != 0 {
		t.Fatalf("register Groth16 key: %d %s", r.Code, r.Log)
	}
	d := zkml.KeyDigest(zkml.BackendPlonk, pm.vk)
	if s, _ := zkml.ParseDigest(sha(pm.vk)); s == d {
		t.Fatal("a PLONK key's digest is its bytes' SHA-256")
	}
	var k zk.Key
	c.Query("/zk/vk", map[string]any{"digest": d}, &k)
	if k.Digest != d || k.Backend != zkml.BackendPlonk || !bytes.Equal(k.VK, pm.vk) {
		t.Fatalf("stored key %+v", k)
	}
	gd, _ := zkml.ParseDigest(sha(f.vk))

	good := zk.MsgVerify{VK: d, Proof: pp.Plonk, Public: hexes(&pp.Public)}
	other := pp.Public
	other.JobID = zkml.JobField([]byte("job-8"))
	otherComm := pp.Public
	otherComm.Commitment = f.proof.Public.JobID
	for _, tc := range []struct {
		name string
		msg  zk.MsgVerify
		want uint32
	}{
		{"valid PLONK proof", good, 0},
		{"valid Groth16 proof", zk.MsgVerify{VK: gd, Proof: f.proof.Groth16, Public: hexes(&f.proof.Public)}, 0},
		{"another job", zk.MsgVerify{VK: d, Proof: pp.Plonk, Public: hexes(&other)}, zk.ErrProof.Code},
		{"another commitment", zk.MsgVerify{VK: d, Proof: pp.Plonk, Public: hexes(&otherComm)}, zk.ErrProof.Code},
		{"Groth16 proof, PLONK key", zk.MsgVerify{VK: d, Proof: f.proof.Groth16, Public: hexes(&f.proof.Public)}, zk.ErrProof.Code},
		{"PLONK proof, Groth16 key", zk.MsgVerify{VK: gd, Proof: pp.Plonk, Public: good.Public}, zk.ErrProof.Code},
		{"flipped byte", zk.MsgVerify{VK: d, Proof: flip(pp.Plonk, 100), Public: good.Public}, zk.ErrProof.Code},
	} {
		if r := c.Block(tx(c, c.Msg("zk/verify", tc.msg))).Txs[0]; r.Code != tc.want {
			t.Errorf("%s: code %d (%s), want %d", tc.name, r.Code, r.Log, tc.want)
		}
	}

	g, _, err := c.L.ExportGenesis()
	if err != nil {
		t.Fatal(err)
	}
	c2 := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{zk.New(nil)} }, Genesis: map[string]json.RawMessage{"zk": g["zk"]}})
	c2.Block()
	var k2 zk.Key
	c2.Query("/zk/vk", map[string]any{"digest": d}, &k2)
	if k2.Digest != d || k2.Backend != zkml.BackendPlonk {
		t.Fatalf("key after genesis %+v", k2)
	}
	if r := c2.Block(tx(c2, c2.Msg("zk/verify", good))).Txs[0]; r.Code != 0 {
		t.Fatalf("verify after genesis: %d %s", r.Code, r.Log)
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

// TestZKJobSettlesOnPlonkProof: a model linked to a PLONK key has its zk
// jobs settled on a PLONK proof; a Groth16 proof of the same statement is
// refused; the proof rebuilt from the chain's record verifies off it.
func TestZKJobSettlesOnPlonkProof(t *testing.T) {
	pm, err := plonkSetup()
	if err != nil {
		t.Fatal(err)
	}
	w := newZKWorldKey(t, zkml.BackendPlonk, pm.vk)
	in := []int8{100, -20, 3, 127}
	id := w.submit(in)
	p, err := zkml.ProvePlonk(pm.c, pm.pk, w.z.m, w.z.salt, in, market.ZKJobID(id))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(w.z.art)
	ind := sha256.Sum256(zk.ZKInput(in))
	doc := market.NewOutputDoc(hex.EncodeToString(d[:]), ind[:], p.Public.Output, 1).Encode()
	out := sha256.Sum256(doc)
	ev, _ := json.Marshal(zk.JobEvidence{VK: w.vkID, Proof: p.Plonk, Input: in, Output: p.Public.Output})
	good := market.MsgCommit{Job: id, Output: out[:], OutputCID: rawCID(doc), Evidence: ev}

	g16 := w.evidence(id, in) // a valid Groth16 proof, named under the PLONK key
	var e zk.JobEvidence
	json.Unmarshal(g16.Evidence, &e)
	e.VK = w.vkID
	g16.Evidence, _ = json.Marshal(e)
	if r := w.tx(1, "market/commit", g16); r.OK() || r.Code != market.ErrVerification.Code {
		t.Fatalf("Groth16 proof under a PLONK key: %s/%d %s", r.Codespace, r.Code, r.Log)
	}
	w.ok(1, "market/commit", good)
	var j market.Job
	w.c.Query("/market/job", map[string]any{"id": id}, &j)
	if j.Closing == nil || j.Closing.Reason != market.CloseSettled {
		t.Fatalf("job: %+v", j)
	}
	back, vkID, err := zk.JobProof(&j, w.z.comm)
	if err != nil || vkID != w.vkID {
		t.Fatalf("JobProof: %v (key %s)", err, vkID)
	}
	back.SetBytes(zkml.BackendPlonk, back.Bytes())
	v, err := zkml.ParseVerifier(zkml.BackendPlonk, pm.vk)
	if err != nil {
		t.Fatal(err)
	}
	if err := zkml.VerifyProof(v, back); err != nil {
		t.Fatalf("the job's proof does not verify off the chain: %v", err)
	}
}
