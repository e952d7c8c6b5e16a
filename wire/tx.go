package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519/extra/cache"
)

// PayloadType is the DSSE payload type of a vai transaction body.
const PayloadType = "application/vnd.vai.tx+json"

// Limits every transaction obeys, whatever the chain's parameters. A chain may
// set a lower maximum size.
const (
	MaxTxBytes      = 1 << 20 // 1 MiB
	MaxMsgs         = 64
	MaxMemoBytes    = 512
	MaxChainIDBytes = 64
	MaxMsgTypeBytes = 64
)

// Errors wrapped by Decode and Verify, so callers can tell failures apart.
var (
	ErrTooLarge     = errors.New("transaction too large")
	ErrMalformed    = errors.New("malformed transaction")
	ErrNotCanonical = errors.New("envelope not in canonical form")
	ErrSignature    = errors.New("invalid signature")
	ErrInvalidBody  = errors.New("invalid transaction body")
)

// Body is what a signer signs: who, for which chain, in which order, at what
// price, until when, and which messages.
type Body struct {
	ChainID string  `json:"chain_id"`
	Signer  Address `json:"signer"`
	// PubKey is the signer's ed25519 public key; Signer must be its address.
	PubKey []byte `json:"pubkey"`
	// Sequence is the signer's nonce (see the ledger's replay window).
	Sequence uint64 `json:"sequence"`
	Fee      Coin   `json:"fee"`
	// TimeoutHeight, if not zero, is the last height at which the
	// transaction may be included.
	TimeoutHeight uint64 `json:"timeout_height,omitzero"`
	Memo          string `json:"memo,omitzero"`
	Msgs          []Msg  `json:"msgs"`
}

// Msg is one typed message: a type name such as "bank/send" and its JSON
// value, decoded by the module that owns the type.
type Msg struct {
	Type  string         `json:"type"`
	Value jsontext.Value `json:"value"`
}

// NewMsg builds a Msg from a type name and a value to marshal.
func NewMsg(typ string, v any) (Msg, error) {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		return Msg{}, fmt.Errorf("failed to encode %s message: %w", typ, err)
	}
	return Msg{Type: typ, Value: b}, nil
}

// DecodeValue strictly decodes a message value into v (a pointer).
func (m Msg) DecodeValue(v any) error {
	if err := json.Unmarshal(m.Value, v, json.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("%w: message %s: %v", ErrMalformed, m.Type, err)
	}
	return nil
}

// Validate checks what can be checked without the chain's state.
func (b *Body) Validate() error {
	switch {
	case b.ChainID == "":
		return fmt.Errorf("%w: missing chain_id", ErrInvalidBody)
	case len(b.ChainID) > MaxChainIDBytes:
		return fmt.Errorf("%w: chain_id longer than %d bytes", ErrInvalidBody, MaxChainIDBytes)
	case b.Signer.IsZero():
		return fmt.Errorf("%w: missing signer", ErrInvalidBody)
	case len(b.PubKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: pubkey must be %d bytes of ed25519 public key", ErrInvalidBody, ed25519.PublicKeySize)
	case AddressFromPubKey(b.PubKey) != b.Signer:
		return fmt.Errorf("%w: pubkey does not belong to signer %s", ErrInvalidBody, b.Signer)
	case len(b.Memo) > MaxMemoBytes:
		return fmt.Errorf("%w: memo longer than %d bytes", ErrInvalidBody, MaxMemoBytes)
	case len(b.Msgs) == 0:
		return fmt.Errorf("%w: no messages", ErrInvalidBody)
	case len(b.Msgs) > MaxMsgs:
		return fmt.Errorf("%w: %d messages, at most %d", ErrInvalidBody, len(b.Msgs), MaxMsgs)
	}
	for i, m := range b.Msgs {
		if m.Type == "" || len(m.Type) > MaxMsgTypeBytes {
			return fmt.Errorf("%w: message %d: missing or overlong type", ErrInvalidBody, i)
		}
		if len(m.Value) == 0 {
			return fmt.Errorf("%w: message %d (%s): missing value", ErrInvalidBody, i, m.Type)
		}
	}
	return nil
}

// Tx is a decoded transaction. It is immutable once returned by Decode and
// may be shared between goroutines.
type Tx struct {
	Body Body
	// Payload is the body exactly as signed.
	Payload []byte
	// Sig is the signer's ed25519 signature over PAE(PayloadType, Payload).
	Sig []byte
	// Bytes is the whole envelope, as received.
	Bytes []byte
	// Hash is SHA-256(Bytes), CometBFT's transaction hash.
	Hash [32]byte
}

// HashString returns the hash in the uppercase hex CometBFT uses.
func (tx *Tx) HashString() string { return strings.ToUpper(hex.EncodeToString(tx.Hash[:])) }

// PAE is DSSE's pre-authentication encoding of a payload type and payload.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payloadType) + len(payload) + 32)
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// MarshalBody encodes a body the way Sign does: compact JSON with the fields
// in declaration order.
func MarshalBody(b *Body) ([]byte, error) {
	return json.Marshal(b, json.Deterministic(true))
}

// Sign encodes body, signs it with key and returns the envelope bytes. It
// fills in body.Signer and body.PubKey from key.
func Sign(body *Body, key ed25519.PrivateKey) ([]byte, error) {
	pub := key.Public().(ed25519.PublicKey)
	body.PubKey = bytes.Clone(pub)
	body.Signer = AddressFromPubKey(pub)
	if err := body.Validate(); err != nil {
		return nil, err
	}
	payload, err := MarshalBody(body)
	if err != nil {
		return nil, fmt.Errorf("failed to encode body: %w", err)
	}
	sig := ed25519.Sign(key, PAE(PayloadType, payload))
	env := encodeEnvelope(payload, sig)
	if len(env) > MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(env), MaxTxBytes)
	}
	return env, nil
}

// encodeEnvelope writes the one canonical spelling of an envelope. It has
// no DSSE keyid: DSSE makes it an optional, unauthenticated hint, and the
// signed body already names the signer and carries the public key, so a
// keyid would only repeat the signer's address (53 of a transfer's bytes,
// carried through every node's mempool, blocks and stores).
func encodeEnvelope(payload []byte, sig []byte) []byte {
	enc := base64.StdEncoding
	var b bytes.Buffer
	b.Grow(80 + enc.EncodedLen(len(payload)) + enc.EncodedLen(len(sig)))
	b.WriteString(`{"payloadType":"` + PayloadType + `","payload":"`)
	b.WriteString(enc.EncodeToString(payload))
	b.WriteString(`","signatures":[{"sig":"`)
	b.WriteString(enc.EncodeToString(sig))
	b.WriteString(`"}]}`)
	return b.Bytes()
}

type envelope struct {
	PayloadType string         `json:"payloadType"`
	Payload     []byte         `json:"payload"`
	Signatures  []envSignature `json:"signatures"`
}

type envSignature struct {
	KeyID *string `json:"keyid"` // decoded only to be refused clearly
	Sig   []byte  `json:"sig"`
}

var strict = json.RejectUnknownMembers(true)

// Decode parses an envelope and its body strictly, without checking the
// signature (see Tx.Verify) or anything that needs the chain's state.
// maxBytes, if positive and below MaxTxBytes, lowers the size limit.
func Decode(b []byte, maxBytes int) (*Tx, error) {
	limit := MaxTxBytes
	if maxBytes > 0 && maxBytes < limit {
		limit = maxBytes
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), limit)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrMalformed)
	}
	var env envelope
	if err := json.Unmarshal(b, &env, strict); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: payloadType %q, want %q", ErrMalformed, env.PayloadType, PayloadType)
	}
	if len(env.Signatures) != 1 {
		return nil, fmt.Errorf("%w: %d signatures, want exactly 1", ErrSignature, len(env.Signatures))
	}
	sig := env.Signatures[0]
	if sig.KeyID != nil {
		return nil, fmt.Errorf("%w: a keyid is not part of vai's envelope (the body names the signer)", ErrNotCanonical)
	}
	if len(sig.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrSignature, len(sig.Sig), ed25519.SignatureSize)
	}
	if !bytes.Equal(encodeEnvelope(env.Payload, sig.Sig), b) {
		return nil, ErrNotCanonical
	}
	if !utf8.Valid(env.Payload) {
		return nil, fmt.Errorf("%w: payload is not valid UTF-8", ErrMalformed)
	}
	tx := &Tx{Payload: env.Payload, Sig: sig.Sig, Bytes: b, Hash: sha256.Sum256(b)}
	if err := json.Unmarshal(env.Payload, &tx.Body, strict); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if err := tx.Body.Validate(); err != nil {
		return nil, err
	}
	return tx, nil
}

// verifier verifies ed25519 signatures with the ZIP-215 rules (as CometBFT
// does for votes), keeping recent public keys decompressed: repeat signers
// verify about a third faster than with crypto/ed25519.
var verifier = cache.NewVerifier(cache.NewLRUCache(8192))

var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// VerifySignature checks an ed25519 signature with the ledger's rules:
// ZIP-215, which every honest RFC 8032 signature satisfies and which is
// fully specified for the edge cases implementations disagree on.
func VerifySignature(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return verifier.VerifyWithOptions(voi.PublicKey(pub), msg, sig, zip215)
}

// Verify checks the signature over PAE(PayloadType, Payload) with the body's
// public key (which Decode has already matched to the signer's address).
func (tx *Tx) Verify() error {
	if !VerifySignature(tx.Body.PubKey, PAE(PayloadType, tx.Payload), tx.Sig) {
		return fmt.Errorf("%w: signature does not verify for signer %s", ErrSignature, tx.Body.Signer)
	}
	return nil
}

// DecodeVerify is Decode followed by Verify.
func DecodeVerify(b []byte, maxBytes int) (*Tx, error) {
	tx, err := Decode(b, maxBytes)
	if err != nil {
		return nil, err
	}
	if err := tx.Verify(); err != nil {
		return nil, err
	}
	return tx, nil
}

// Hash returns the transaction hash of envelope bytes: SHA-256, as CometBFT
// computes it.
func Hash(env []byte) [32]byte { return sha256.Sum256(env) }
