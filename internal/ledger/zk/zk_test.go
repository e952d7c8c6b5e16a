package zk_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/ledgertest"
	"github.com/vai-dev/vai/internal/ledger/zk"
	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/wire"
	"github.com/vai-dev/vai/zkml"
)

type fixture struct {
	vk, vk2 []byte
	proof   *zkml.Proof
}

// setup proves one inference of a small model, with two key pairs.
var setup = sync.OnceValues(func() (*fixture, error) {
	m := &runtime.Model{
		Input: runtime.Shape{4}, InputScale: runtime.Fixed{Mult: 1}, OutputScale: runtime.Fixed{Mult: 1},
		Layers: []runtime.Layer{&runtime.Dense{In: 4, Out: 2, Weights: []int8{1, -2, 3, -4, 50, 60, -70, 80}, Bias: []int32{7, -7},
			Requant: runtime.Requant{Mult: []int32{3 << 28}, Shift: []uint8{33}}, Act: runtime.ActRelu}},
	}
	c, err := zkml.Compile(m, zkml.Options{})
	if err != nil {
		return nil, err
	}
	pk, vk, err := zkml.DevSetup(c)
	if err != nil {
		return nil, err
	}
	_, vk2, err := zkml.DevSetup(c)
	if err != nil {
		return nil, err
	}
	p, err := zkml.Prove(c, pk, m, zkml.Salt{}, []int8{100, -20, 3, 127}, []byte("job-7"))
	if err != nil {
		return nil, err
	}
	f := &fixture{proof: p}
	for _, k := range []*[]byte{&f.vk, &f.vk2} {
		var buf bytes.Buffer
		v := vk
		if k == &f.vk2 {
			v = vk2
		}
		if _, err := v.WriteTo(&buf); err != nil {
			return nil, err
		}
		*k = buf.Bytes()
	}
	return f, nil
})

func hexes(p *zkml.Public) []string {
	var out []string
	for _, e := range p.Vector() {
		out = append(out, zkml.FieldHex(e))
	}
	return out
}

// tx signs msg from key 0 with a fee that covers verification.
func tx(c *ledgertest.Chain, msgs ...wire.Msg) []byte {
	b := c.Body(c.Keys[0], msgs...)
	b.Fee = wire.UVAI(20_000)
	return c.Sign(c.Keys[0], b)
}

func TestRegisterAndVerify(t *testing.T) {
	f, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	mod := zk.New(nil)
	c := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{mod} }})
	c.Block()
	d, _ := zkml.ParseDigest(sha(f.vk))
	comm := zkml.FieldHex(f.proof.Public.Commitment)
	res := c.Block(tx(c, c.Msg("zk/register_vk", zk.MsgRegisterVK{VK: f.vk, Model: "model-1", Commitment: comm})))
	if r := res.Txs[0]; r.Code != 0 {
		t.Fatalf("register: %d %s", r.Code, r.Log)
	}
	var k zk.Key
	c.Query("/zk/vk", map[string]any{"digest": d}, &k)
	if k.Digest != d || k.Model != "model-1" || k.Commitment != comm || k.Verified || k.Owner != ledgertest.Addr(c.Keys[0]) {
		t.Fatalf("stored key %+v", k)
	}

	good := zk.MsgVerify{VK: d, Proof: f.proof.Groth16, Public: hexes(&f.proof.Public)}
	other := f.proof.Public
	other.JobID = zkml.JobField([]byte("job-8"))
	d2, _ := zkml.ParseDigest(sha(f.vk2))
	cases := []struct {
		name string
		msg  any
		typ  string
		want *ledger.Error
	}{
		{"valid proof", good, "zk/verify", nil},
		{"duplicate key", zk.MsgRegisterVK{VK: f.vk}, "zk/register_vk", zk.ErrKeyExists},
		{"malformed key", zk.MsgRegisterVK{VK: f.vk[:200]}, "zk/register_vk", zk.ErrInvalidKey},
		{"link without commitment", zk.MsgRegisterVK{VK: f.vk2, Model: "m"}, "zk/register_vk", zk.ErrModelLink},
		{"another job", zk.MsgVerify{VK: d, Proof: f.proof.Groth16, Public: hexes(&other)}, "zk/verify", zk.ErrProof},
		{"unknown key", zk.MsgVerify{VK: d2, Proof: f.proof.Groth16, Public: good.Public}, "zk/verify", zk.ErrKeyNotFound},
		{"garbage proof", zk.MsgVerify{VK: d, Proof: bytes.Repeat([]byte{0xff}, 196), Public: good.Public}, "zk/verify", zk.ErrProof},
		{"non-canonical input", zk.MsgVerify{VK: d, Proof: f.proof.Groth16, Public: append([]string{"0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001"}, good.Public[1:]...)}, "zk/verify", zk.ErrInvalidInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Block(tx(c, c.Msg(tc.typ, tc.msg)))
			r := res.Txs[0]
			if tc.want == nil {
				if r.Code != 0 {
					t.Fatalf("code %d: %s", r.Code, r.Log)
				}
				return
			}
			if r.Code != tc.want.Code {
				t.Fatalf("code %d (%s), want %d (%s)", r.Code, r.Log, tc.want.Code, tc.want.Desc)
			}
		})
	}

	// Gas is priced by content: verification by its public inputs.
	gasReg, _, err := c.L.EstimateGas(tx(c, c.Msg("zk/register_vk", zk.MsgRegisterVK{VK: f.vk2})))
	if err != nil {
		t.Fatal(err)
	}
	gasVer, _, err := c.L.EstimateGas(tx(c, c.Msg("zk/verify", good)))
	if err != nil {
		t.Fatal(err)
	}
	if gasVer < zk.VerifyGas(len(good.Public)) || gasReg < zk.GasRegisterBase+zk.GasPerKeyByte*uint64(len(f.vk2)) {
		t.Fatalf("gas: register %d, verify %d", gasReg, gasVer)
	}

	// Genesis round trip keeps the key.
	g, _, err := c.L.ExportGenesis()
	if err != nil {
		t.Fatal(err)
	}
	c2 := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{zk.New(nil)} }, Genesis: map[string]json.RawMessage{"zk": g["zk"]}})
	c2.Block()
	var k2 zk.Key
	c2.Query("/zk/vk", map[string]any{"digest": d}, &k2)
	if k2.Digest != d || !bytes.Equal(k2.VK, f.vk) {
		t.Fatalf("key after genesis %+v", k2)
	}
}

// models is a registry stand-in.
type models map[string]struct {
	comm  string
	owner wire.Address
}

func (m models) ModelCommitment(_ *ledger.Context, id string) (string, wire.Address, bool) {
	e, ok := m[id]
	return e.comm, e.owner, ok
}

func TestModelLink(t *testing.T) {
	f, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	comm := zkml.FieldHex(f.proof.Public.Commitment)
	reg := models{}
	c := ledgertest.New(t, ledgertest.Options{Modules: func(*bank.Module) []ledger.Module { return []ledger.Module{zk.New(reg)} }})
	reg["mine"] = struct {
		comm  string
		owner wire.Address
	}{comm, ledgertest.Addr(c.Keys[0])}
	reg["theirs"] = struct {
		comm  string
		owner wire.Address
	}{comm, ledgertest.Addr(c.Keys[1])}
	c.Block()
	for _, tc := range []struct {
		model, comm string
		vk          []byte
		want        uint32
	}{
		{"theirs", comm, f.vk, zk.ErrModelLink.Code},
		{"unknown", comm, f.vk, zk.ErrModelLink.Code},
		{"mine", zkml.FieldHex(f.proof.Public.JobID), f.vk, zk.ErrModelLink.Code},
		{"mine", comm, f.vk, 0},
	} {
		r := c.Block(tx(c, c.Msg("zk/register_vk", zk.MsgRegisterVK{VK: tc.vk, Model: tc.model, Commitment: tc.comm}))).Txs[0]
		if r.Code != tc.want {
			t.Fatalf("link %s %s: code %d (%s), want %d", tc.model, tc.comm[:10], r.Code, r.Log, tc.want)
		}
	}
	d, _ := zkml.ParseDigest(sha(f.vk))
	var k zk.Key
	c.Query("/zk/vk", map[string]any{"digest": d}, &k)
	if !k.Verified || k.Model != "mine" {
		t.Fatalf("key %+v", k)
	}
}
