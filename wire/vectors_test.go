package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vai-dev/vai/wire"
)

// buildVectors produces the vector file deterministically (ed25519 signing is
// deterministic) and checks each vector against Decode as it goes.
func buildVectors(t *testing.T) []byte {
	t.Helper()
	var vs []vector
	add := func(name string, seed byte, body *wire.Body) []byte {
		k := key(seed)
		env, err := wire.Sign(body, k)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := wire.DecodeVerify(env, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vs = append(vs, vector{Name: name, Seed: hex.EncodeToString(k.Seed()), Body: string(tx.Payload),
			Envelope: string(env), Hash: tx.HashString(), Signer: tx.Body.Signer.String(), Valid: true})
		return env
	}
	to := wire.AddressFromPubKey(key(2).Public().(ed25519.PublicKey))
	send, _ := wire.NewMsg("bank/send", map[string]string{"to": to.String(), "amount": "2500uvai"})
	good := add("send", 1, &wire.Body{ChainID: "vai-devnet", Sequence: 0, Fee: wire.UVAI(500), Msgs: []wire.Msg{send}})
	multi, _ := wire.NewMsg("bank/multi_send", map[string]any{"outputs": []map[string]string{
		{"to": to.String(), "amount": "1vai"}, {"to": wire.ModuleAddress("x").String(), "amount": "1uvai"}}})
	add("multi-send with memo and timeout", 3, &wire.Body{ChainID: "vai-devnet", Sequence: 41, Fee: wire.UVAI(1200),
		TimeoutHeight: 9000, Memo: "invoice 17 — ünïcödé", Msgs: []wire.Msg{multi, send}})

	bad := func(name string, env []byte) {
		_, err := wire.DecodeVerify(env, 0)
		if err == nil {
			t.Fatalf("vector %q decodes", name)
		}
		reason := "malformed"
		for _, e := range []struct {
			err    error
			reason string
		}{{wire.ErrNotCanonical, "not-canonical"}, {wire.ErrSignature, "signature"}, {wire.ErrInvalidBody, "invalid-body"}, {wire.ErrTooLarge, "too-large"}} {
			if errors.Is(err, e.err) {
				reason = e.reason
			}
		}
		vs = append(vs, vector{Name: name, Envelope: string(env), ErrorReason: reason})
	}
	bad("pretty-printed envelope", []byte(strings.ReplaceAll(string(good), `","`, `", "`)))
	bad("flipped signature bit", flipInSig(good))
	bad("trailing newline", append(bytes.Clone(good), '\n'))

	out, err := json.Marshal(vs, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := (*jsontext.Value)(&out).Indent(jsontext.WithIndent("  ")); err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func flipInSig(env []byte) []byte {
	s := string(env)
	i := strings.Index(s, `"sig":"`) + len(`"sig":"`)
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return []byte(s[:i] + string(c) + s[i+1:])
}
