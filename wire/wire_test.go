package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vai-dev/vai/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func sendBody(t testing.TB, to wire.Address, amount uint64) *wire.Body {
	m, err := wire.NewMsg("bank/send", map[string]string{"to": to.String(), "amount": wire.UVAI(amount).String()})
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Body{ChainID: "vai-test", Sequence: 7, Fee: wire.UVAI(200), TimeoutHeight: 100, Memo: "hi", Msgs: []wire.Msg{m}}
}

func TestSignDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	k := key(1)
	to := wire.AddressFromPubKey(key(2).Public().(ed25519.PublicKey))
	body := sendBody(t, to, 100)
	env, err := wire.Sign(body, k)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := wire.DecodeVerify(env, 0)
	if err != nil {
		t.Fatalf("DecodeVerify: %v", err)
	}
	if tx.Hash != sha256.Sum256(env) {
		t.Errorf("hash is not SHA-256 of the envelope")
	}
	if diff := cmp.Diff(body.Signer, tx.Body.Signer); diff != "" {
		t.Errorf("signer differs: %s", diff)
	}
	if tx.Body.Sequence != 7 || tx.Body.Fee.Amount != 200 || tx.Body.TimeoutHeight != 100 || tx.Body.Memo != "hi" {
		t.Errorf("decoded body %+v differs from signed body", tx.Body)
	}
	var v struct {
		To     string `json:"to"`
		Amount string `json:"amount"`
	}
	if err := tx.Body.Msgs[0].DecodeValue(&v); err != nil {
		t.Fatal(err)
	}
	if v.To != to.String() || v.Amount != "100uvai" {
		t.Errorf("message value = %+v", v)
	}
}

// mutate re-signs or re-wraps a valid transaction so each case isolates one defect.
func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	k := key(1)
	to := wire.AddressFromPubKey(key(2).Public().(ed25519.PublicKey))
	good, err := wire.Sign(sendBody(t, to, 100), k)
	if err != nil {
		t.Fatal(err)
	}
	payloadOf := func(env []byte) string {
		tx, err := wire.Decode(env, 0)
		if err != nil {
			t.Fatal(err)
		}
		return string(tx.Payload)
	}
	// wrap signs an arbitrary payload (so only the payload is at fault).
	wrap := func(payload string) []byte {
		sig := ed25519.Sign(k, wire.PAE(wire.PayloadType, []byte(payload)))
		return []byte(fmt.Sprintf(`{"payloadType":"%s","payload":"%s","signatures":[{"sig":"%s"}]}`,
			wire.PayloadType, base64.StdEncoding.EncodeToString([]byte(payload)), base64.StdEncoding.EncodeToString(sig)))
	}
	p := payloadOf(good)
	tests := []struct {
		name string
		env  []byte
		want error
	}{
		{"not json", []byte("hello"), wire.ErrMalformed},
		{"trailing data", append(bytes.Clone(good), " {}"...), wire.ErrMalformed},
		{"whitespace in envelope", []byte(strings.Replace(string(good), `,"payload"`, `, "payload"`, 1)), wire.ErrNotCanonical},
		{"key order", []byte(`{"payload":"` + strings.SplitN(strings.SplitN(string(good), `"payload":"`, 2)[1], `"`, 2)[0] + `","payloadType":"` + wire.PayloadType + `","signatures":[]}`), wire.ErrSignature},
		{"unknown envelope field", []byte(strings.Replace(string(good), `{"payloadType"`, `{"x":1,"payloadType"`, 1)), wire.ErrMalformed},
		{"wrong payload type", []byte(strings.Replace(string(good), wire.PayloadType, "application/json", 1)), wire.ErrMalformed},
		{"two signatures", []byte(strings.Replace(string(good), `}]}`, `},{"sig":""}]}`, 1)), wire.ErrSignature},
		{"keyid", []byte(strings.Replace(string(good), `[{"sig"`, `[{"keyid":"`+wire.AddressFromPubKey(k.Public().(ed25519.PublicKey)).String()+`","sig"`, 1)), wire.ErrNotCanonical},
		{"empty keyid", []byte(strings.Replace(string(good), `[{"sig"`, `[{"keyid":"","sig"`, 1)), wire.ErrNotCanonical},
		{"unknown body field", wrap(strings.Replace(p, `{"chain_id"`, `{"extra":1,"chain_id"`, 1)), wire.ErrMalformed},
		{"case-folded body field", wrap(strings.Replace(p, `"chain_id"`, `"Chain_ID"`, 1)), wire.ErrMalformed},
		{"duplicate body field", wrap(strings.Replace(p, `{"chain_id":"vai-test"`, `{"chain_id":"vai-test","chain_id":"other"`, 1)), wire.ErrMalformed},
		{"trailing body data", wrap(p + "x"), wire.ErrMalformed},
		{"negative sequence", wrap(strings.Replace(p, `"sequence":7`, `"sequence":-7`, 1)), wire.ErrMalformed},
		{"fractional sequence", wrap(strings.Replace(p, `"sequence":7`, `"sequence":7.5`, 1)), wire.ErrMalformed},
		{"overflowing sequence", wrap(strings.Replace(p, `"sequence":7`, `"sequence":18446744073709551616`, 1)), wire.ErrMalformed},
		{"overflowing fee", wrap(strings.Replace(p, `"fee":"200uvai"`, `"fee":"18446744073709551616uvai"`, 1)), wire.ErrMalformed},
		{"unknown denomination", wrap(strings.Replace(p, `"fee":"200uvai"`, `"fee":"200atom"`, 1)), wire.ErrMalformed},
		{"missing chain id", wrap(strings.Replace(p, `"chain_id":"vai-test"`, `"chain_id":""`, 1)), wire.ErrInvalidBody},
		{"no messages", wrap(p[:strings.Index(p, `"msgs"`)] + `"msgs":[]}`), wire.ErrInvalidBody},
		{"invalid signer address", wrap(strings.Replace(p, `"signer":"vai1`, `"signer":"vai2`, 1)), wire.ErrMalformed},
		{"pubkey of another account", wrap(strings.Replace(p, base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)), base64.StdEncoding.EncodeToString(key(3).Public().(ed25519.PublicKey)), 1)), wire.ErrInvalidBody},
		{"invalid utf-8", []byte("{\"payloadType\":\"\xff\"}"), wire.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wire.DecodeVerify(tt.env, 0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeVerify error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	t.Parallel()
	k := key(1)
	to := wire.AddressFromPubKey(key(2).Public().(ed25519.PublicKey))
	env, err := wire.Sign(sendBody(t, to, 100), k)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := wire.Decode(env, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Re-wrap the same payload with a signature by another key, claiming the original signer.
	other := ed25519.Sign(key(9), wire.PAE(wire.PayloadType, tx.Payload))
	forged := strings.Replace(string(env), base64.StdEncoding.EncodeToString(tx.Sig), base64.StdEncoding.EncodeToString(other), 1)
	if _, err := wire.DecodeVerify([]byte(forged), 0); !errors.Is(err, wire.ErrSignature) {
		t.Errorf("forged signature: err = %v, want ErrSignature", err)
	}
	// Change one byte of the payload (the amount) and keep the old signature.
	payload := strings.Replace(string(tx.Payload), `100uvai`, `900uvai`, 1)
	tampered := strings.Replace(string(env), base64.StdEncoding.EncodeToString(tx.Payload), base64.StdEncoding.EncodeToString([]byte(payload)), 1)
	if _, err := wire.DecodeVerify([]byte(tampered), 0); !errors.Is(err, wire.ErrSignature) {
		t.Errorf("tampered payload: err = %v, want ErrSignature", err)
	}
	// A signature over the raw payload instead of PAE must not verify.
	raw := ed25519.Sign(k, tx.Payload)
	noPAE := strings.Replace(string(env), base64.StdEncoding.EncodeToString(tx.Sig), base64.StdEncoding.EncodeToString(raw), 1)
	if _, err := wire.DecodeVerify([]byte(noPAE), 0); !errors.Is(err, wire.ErrSignature) {
		t.Errorf("signature without PAE: err = %v, want ErrSignature", err)
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	t.Parallel()
	k := key(1)
	to := wire.AddressFromPubKey(key(2).Public().(ed25519.PublicKey))
	env, err := wire.Sign(sendBody(t, to, 1), k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Decode(env, len(env)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := wire.Decode(env, len(env)-1); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("one byte over: err = %v, want ErrTooLarge", err)
	}
	huge := bytes.Repeat([]byte{' '}, wire.MaxTxBytes+1)
	if _, err := wire.Decode(huge, 0); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("over MaxTxBytes: err = %v, want ErrTooLarge", err)
	}
}

func TestPAE(t *testing.T) {
	t.Parallel()
	// The example from the DSSE specification (protocol.md).
	got := string(wire.PAE("http://example.com/HelloWorld", []byte("hello world")))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got != want {
		t.Errorf("PAE = %q, want %q", got, want)
	}
}

func TestAddress(t *testing.T) {
	t.Parallel()
	a := wire.AddressFromPubKey(key(1).Public().(ed25519.PublicKey))
	s := a.String()
	if !strings.HasPrefix(s, "vai1") {
		t.Fatalf("address %q lacks the vai1 prefix", s)
	}
	b, err := wire.ParseAddress(s)
	if err != nil || b != a {
		t.Fatalf("ParseAddress(%q) = %v, %v", s, b, err)
	}
	for _, bad := range []string{"", strings.ToUpper(s), s[:len(s)-1] + "q", "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a", s + "q", "vai1"} {
		if _, err := wire.ParseAddress(bad); !errors.Is(err, wire.ErrAddress) {
			t.Errorf("ParseAddress(%q) err = %v, want ErrAddress", bad, err)
		}
	}
	if wire.ModuleAddress("fee_pool") == wire.ModuleAddress("bank") {
		t.Error("module addresses collide")
	}
}

func TestParseCoin(t *testing.T) {
	t.Parallel()
	good := map[string]uint64{
		"0uvai": 0, "2500uvai": 2500, "1vai": 1_000_000, "1.5vai": 1_500_000, "0.000001vai": 1,
		"18446744073709551615uvai": 1<<64 - 1, "18446744073709.551615vai": 1<<64 - 1,
	}
	for s, want := range good {
		c, err := wire.ParseCoin(s)
		if err != nil || c.Amount != want {
			t.Errorf("ParseCoin(%q) = %v, %v; want %d", s, c.Amount, err, want)
		}
	}
	bad := []string{"", "uvai", "100", "-5uvai", "+5uvai", "1.5uvai", "1.0000001vai", "18446744073709551616uvai",
		"18446744073709.551616vai", "18446744073710vai", "5 uvai", "5UVAI", "5atom", ".5vai", "5.vai", "1..5vai", "1e3uvai", "0x10uvai"}
	for _, s := range bad {
		if _, err := wire.ParseCoin(s); !errors.Is(err, wire.ErrCoin) {
			t.Errorf("ParseCoin(%q) err = %v, want ErrCoin", s, err)
		}
	}
	if got := wire.UVAI(1_500_000).Display(); got != "1.5vai" {
		t.Errorf("Display = %q", got)
	}
}

// vector is one entry of testdata/vectors.json, the cross-language test vectors.
type vector struct {
	Name        string `json:"name"`
	Seed        string `json:"seed_hex,omitempty"`
	Body        string `json:"body,omitempty"`
	Envelope    string `json:"envelope"`
	Hash        string `json:"hash,omitempty"`
	Signer      string `json:"signer,omitempty"`
	Valid       bool   `json:"valid"`
	ErrorReason string `json:"error,omitempty"`
}

func TestVectors(t *testing.T) {
	got := buildVectors(t)
	const path = "testdata/vectors.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./wire -run TestVectors -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("vectors changed (-want +got):\n%s", diff)
	}
}
