package zkml_test

import (
	"bytes"
	"testing"

	"github.com/vai-dev/vai/zkml"
)

// FuzzVerifyProof feeds arbitrary proof bytes to the verifier the ledger
// runs on untrusted transactions: it must never panic, and must accept
// nothing but the honest proof's points.
func FuzzVerifyProof(f *testing.F) {
	m := smallModel()
	c, err := zkml.Compile(m, zkml.Options{})
	if err != nil {
		f.Fatal(err)
	}
	pk, vk, err := zkml.DevSetup(c)
	if err != nil {
		f.Fatal(err)
	}
	p, err := zkml.Prove(c, pk, m, zkml.Salt{}, []int8{1, 2, 3, 4}, []byte("fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	public := p.Public.Vector()
	f.Add(p.Groth16)
	f.Add(p.Groth16[:len(p.Groth16)-1])
	f.Add(append(bytes.Clone(p.Groth16), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := zkml.VerifyRaw(vk, b, public); err == nil && !bytes.Equal(b, p.Groth16) {
			t.Fatalf("verified a proof other than the honest one: %x", b)
		}
	})
}

// FuzzProofFile: the proof file decoder rejects or round-trips.
func FuzzProofFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"scheme":"groth16-bn254","circuit":"sha256:0000000000000000000000000000000000000000000000000000000000000000","commitment":"0x0000000000000000000000000000000000000000000000000000000000000001","job_id":"0x0000000000000000000000000000000000000000000000000000000000000002","input_digest":"0x0000000000000000000000000000000000000000000000000000000000000003","output":[1,-2],"proof":"AAAA"}`))
	f.Add([]byte(`{"version":1,"scheme":"groth16-bn254","circuit":"sha256:0000000000000000000000000000000000000000000000000000000000000000","commitment":"0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001","job_id":"0x0000000000000000000000000000000000000000000000000000000000000002","input":[5],"output":[1],"proof":"AAAA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p zkml.Proof
		if err := p.UnmarshalJSON(b); err != nil {
			return
		}
		out, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var q zkml.Proof
		if err := q.UnmarshalJSON(out); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		again, _ := q.MarshalJSON()
		if !bytes.Equal(out, again) {
			t.Fatalf("not canonical:\n%s\n%s", out, again)
		}
	})
}

// FuzzParseVK: hostile verifying keys (register-vk takes them from
// transactions) are rejected without panics or huge allocations.
func FuzzParseVK(f *testing.F) {
	c, err := zkml.Compile(smallModel(), zkml.Options{})
	if err != nil {
		f.Fatal(err)
	}
	_, vk, err := zkml.DevSetup(c)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	vk.WriteTo(&buf)
	good := buf.Bytes()
	if _, err := zkml.ParseVK(good); err != nil {
		f.Fatalf("ParseVK(honest key) = %v", err)
	}
	f.Add(good)
	f.Add(good[:300])
	f.Fuzz(func(t *testing.T, b []byte) {
		zkml.ParseVK(b)
	})
}
