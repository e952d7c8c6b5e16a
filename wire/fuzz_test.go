package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/vai-dev/vai/wire"
)

// FuzzDecodeVerify checks that no input panics the decoder or verifier and
// that whatever is accepted is canonical: its hash is stable and it decodes
// to a body whose re-encoding signs to the same payload.
func FuzzDecodeVerify(f *testing.F) {
	k := key(1)
	to := wire.AddressFromPubKey(key(2).Public().(ed25519.PublicKey))
	env, err := wire.Sign(sendBody(f, to, 5), k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add(flipInSig(env))
	f.Add([]byte(`{"payloadType":"application/vnd.vai.tx+json","payload":"e30=","signatures":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := wire.DecodeVerify(b, 0)
		if err != nil {
			return
		}
		if !bytes.Equal(tx.Bytes, b) {
			t.Fatal("accepted transaction does not keep its bytes")
		}
		if err := tx.Body.Validate(); err != nil {
			t.Fatalf("accepted transaction with invalid body: %v", err)
		}
		if wire.AddressFromPubKey(tx.Body.PubKey) != tx.Body.Signer {
			t.Fatal("accepted transaction whose pubkey is not the signer's")
		}
	})
}

// FuzzParseCoin checks ParseCoin never panics and round-trips what it accepts.
func FuzzParseCoin(f *testing.F) {
	for _, s := range []string{"1uvai", "1.5vai", "18446744073709551615uvai", "0.000001vai", "-1uvai", "1e9uvai"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := wire.ParseCoin(s)
		if err != nil {
			return
		}
		back, err := wire.ParseCoin(c.String())
		if err != nil || back != c {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, c, c.String(), back, err)
		}
	})
}
