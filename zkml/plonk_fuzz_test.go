package zkml_test

import (
	"bytes"
	"testing"

	"github.com/vai-dev/vai/zkml"
)

// FuzzVerifyPlonkProof: arbitrary PLONK proof bytes, as the ledger takes
// them from transactions, never panic and verify only if they are the
// honest proof.
func FuzzVerifyPlonkProof(f *testing.F) {
	fx := plonkSmall(f)
	public := fx.p.Public.Vector()
	f.Add(fx.p.Plonk)
	f.Add(fx.p.Plonk[:len(fx.p.Plonk)-1])
	f.Add(append(bytes.Clone(fx.p.Plonk), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := zkml.VerifyPlonkRaw(fx.vk, b, public); err == nil && !bytes.Equal(b, fx.p.Plonk) {
			t.Fatalf("verified a proof other than the honest one: %x", b)
		}
	})
}

// FuzzParsePlonkVK: hostile PLONK verifying keys (register_vk takes them
// from transactions) are rejected without panics or huge allocations, and
// what is accepted is canonical.
func FuzzParsePlonkVK(f *testing.F) {
	fx := plonkSmall(f)
	v, err := zkml.NewVerifier(fx.vk)
	if err != nil {
		f.Fatal(err)
	}
	good := v.Bytes()
	if _, err := zkml.ParsePlonkVK(good); err != nil {
		f.Fatalf("ParsePlonkVK(honest key) = %v", err)
	}
	f.Add(good)
	f.Add(good[:400])
	f.Add(good[:len(good)-8])
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := zkml.ParseVerifier(zkml.BackendPlonk, b)
		if err == nil && !bytes.Equal(k.Bytes(), b) {
			t.Fatal("accepted a non-canonical key")
		}
	})
}
