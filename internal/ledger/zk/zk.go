// Package zk is the ledger module that holds BN254 verifying keys, Groth16
// or PLONK, and verifies zkML proofs (package zkml) inside the state
// machine.
//
// A verifying key is stored under its digest by zk/register_vk, optionally
// linked to a registered model and the weight commitment registered with
// it. The digest is zkml.KeyDigest: the SHA-256 of a Groth16 key's
// compressed encoding, or of a PLONK key's behind a tag, so that a key's
// identity names its proof system; the stored key records the system too
// (backend, empty for Groth16). Other modules — the market's zk
// job mode — call Keeper.Verify during block execution; zk/verify lets
// anyone have a proof checked on-chain, with an event as the record.
// Verification is deterministic pure Go (gnark's pairing check), priced by
// VerifyGas.
package zk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
	"github.com/vai-dev/vai/zkml"
)

// Name is the module's name, its key prefix and its codespace.
const Name = "zk"

// Errors. Append only.
var (
	ErrInvalidKey   = ledger.Register(Name, 2, ledger.KindInvalid, "invalid verifying key")
	ErrKeyExists    = ledger.Register(Name, 3, ledger.KindConflict, "verifying key already registered")
	ErrKeyNotFound  = ledger.Register(Name, 4, ledger.KindNotFound, "verifying key not found")
	ErrProof        = ledger.Register(Name, 5, ledger.KindInvalid, "proof does not verify")
	ErrModelLink    = ledger.Register(Name, 6, ledger.KindUnauthorized, "model link refused")
	ErrTooLarge     = ledger.Register(Name, 7, ledger.KindTooLarge, "too large")
	ErrInvalidInput = ledger.Register(Name, 8, ledger.KindInvalid, "invalid public input")
)

// Gas. Verification costs about 1.5 ms plus a scalar multiplication per
// public input on the machines vai targets (BENCHMARKS.md); PLONK's, 1.7 ms
// on the digits MLP with field arithmetic per input, is priced alike. A
// bank send costs 5,000.
const (
	GasRegisterBase    = 20_000
	GasPerKeyByte      = 30
	GasVerifyBase      = 250_000
	GasPerPublicInput  = 6_000
	MaxPublicInputs    = 4096
	keyPrefix          = "vk/"
	maxModelID         = 256
	maxProofBytes      = 4096
	maxParsedKeysCache = 256
)

// VerifyGas is the gas of verifying a proof with n public inputs; modules
// that call Keeper.Verify add it to their message's gas.
func VerifyGas(n int) uint64 { return GasVerifyBase + GasPerPublicInput*uint64(n) }

// Models is what the module needs from the model registry to link a key to
// a model: the registry's keeper implements it and internal/app wires it.
type Models interface {
	// ModelCommitment returns the weight commitment (0x-hex field element)
	// registered with model id and the model's owner, or ok false if there
	// is no such model or it has no commitment.
	ModelCommitment(ctx *ledger.Context, modelID string) (commitment string, owner wire.Address, ok bool)
}

// Key is a stored verifying key.
type Key struct {
	Digest zkml.Digest `json:"digest"`
	// Backend is the key's proof system: empty for Groth16, or "plonk".
	Backend zkml.Backend `json:"backend,omitempty"`
	VK      []byte       `json:"vk"` // compressed gnark encoding
	Owner   wire.Address `json:"owner"`
	Height  int64        `json:"height"`
	// Model and Commitment link the key to a registered model and its
	// weight commitment. Verified says the registry confirmed the link;
	// without a registry wired the link is the owner's claim only.
	Model      string `json:"model,omitempty"`
	Commitment string `json:"commitment,omitempty"`
	Verified   bool   `json:"verified,omitempty"`
}

// Keeper is the module's Go API for other modules.
type Keeper struct {
	models Models

	mu     sync.Mutex
	parsed map[zkml.Digest]zkml.Verifier // decoded keys; a pure cache
}

// Module is the zk ledger module.
type Module struct{ *Keeper }

var _ ledger.Module = (*Module)(nil)

// New returns the module; models may be nil until a registry is wired.
func New(models Models) *Module {
	return &Module{Keeper: &Keeper{models: models, parsed: map[zkml.Digest]zkml.Verifier{}}}
}

// Name implements ledger.Module.
func (*Module) Name() string { return Name }

func keyKey(d zkml.Digest) []byte { return append([]byte(keyPrefix), d[:]...) }

// Key returns a stored verifying key.
func (k *Keeper) Key(ctx *ledger.Context, d zkml.Digest) (*Key, bool) {
	b := ctx.Store(Name).Get(keyKey(d))
	if b == nil {
		return nil, false
	}
	var key Key
	if err := ledger.DecodeJSON(b, &key); err != nil {
		return nil, false
	}
	return &key, true
}

// vk returns the decoded key, from the cache or the state.
func (k *Keeper) vk(ctx *ledger.Context, d zkml.Digest) (zkml.Verifier, error) {
	k.mu.Lock()
	vk, ok := k.parsed[d]
	k.mu.Unlock()
	if ok {
		return vk, nil
	}
	key, ok := k.Key(ctx, d)
	if !ok {
		return nil, ErrKeyNotFound.Wrapf("%s", d)
	}
	vk, err := zkml.ParseVerifier(key.backend(), key.VK)
	if err != nil {
		return nil, ErrInvalidKey.Wrapf("stored key %s: %v", d, err)
	}
	k.mu.Lock()
	if len(k.parsed) >= maxParsedKeysCache {
		clear(k.parsed)
	}
	k.parsed[d] = vk
	k.mu.Unlock()
	return vk, nil
}

// Verify checks a proof (compressed gnark encoding, of the key's proof
// system) against the registered key with digest vk and the public inputs,
// in the circuit's order (zkml.Public.Vector). It is deterministic; callers
// charge VerifyGas.
func (k *Keeper) Verify(ctx *ledger.Context, vk zkml.Digest, proof []byte, public []fr.Element) error {
	if len(proof) > maxProofBytes {
		return ErrTooLarge.Wrapf("proof of %d bytes", len(proof))
	}
	if len(public) > MaxPublicInputs {
		return ErrTooLarge.Wrapf("%d public inputs", len(public))
	}
	key, err := k.vk(ctx, vk)
	if err != nil {
		return err
	}
	if err := key.VerifyRaw(proof, public); err != nil {
		return ErrProof.Wrapf("%v", err)
	}
	return nil
}

// --- messages ---

// MsgRegisterVK registers a verifying key, optionally linked to a model.
type MsgRegisterVK struct {
	// Backend is the key's proof system: empty for Groth16, or "plonk".
	Backend    zkml.Backend `json:"backend,omitzero"`
	VK         []byte       `json:"vk"`
	Model      string       `json:"model,omitzero"`
	Commitment string       `json:"commitment,omitzero"`
}

// Validate implements ledger.Msg.
func (m *MsgRegisterVK) Validate() error {
	if len(m.VK) == 0 || len(m.VK) > zkml.MaxVKBytes {
		return ErrTooLarge.Wrapf("key of %d bytes, 1 to %d", len(m.VK), zkml.MaxVKBytes)
	}
	if m.Backend != "" && m.Backend != zkml.BackendPlonk {
		return ErrInvalidKey.Wrapf("backend %q: empty (Groth16) or plonk", m.Backend)
	}
	if len(m.Model) > maxModelID {
		return ErrTooLarge.Wrapf("model id of %d bytes", len(m.Model))
	}
	if (m.Model == "") != (m.Commitment == "") {
		return ErrModelLink.Wrapf("give both model and commitment, or neither")
	}
	if m.Commitment != "" {
		if _, err := zkml.ParseFieldHex(m.Commitment); err != nil {
			return ErrInvalidInput.Wrapf("commitment: %v", err)
		}
	}
	return nil
}

// MsgVerify has a proof verified on-chain; the event zk_verified records it.
type MsgVerify struct {
	VK     zkml.Digest `json:"vk"`
	Proof  []byte      `json:"proof"`
	Public []string    `json:"public"` // 0x-hex field elements
}

// Validate implements ledger.Msg.
func (m *MsgVerify) Validate() error {
	if len(m.Proof) == 0 || len(m.Proof) > maxProofBytes {
		return ErrTooLarge.Wrapf("proof of %d bytes", len(m.Proof))
	}
	if len(m.Public) > MaxPublicInputs {
		return ErrTooLarge.Wrapf("%d public inputs", len(m.Public))
	}
	_, err := parsePublic(m.Public)
	return err
}

func parsePublic(ss []string) ([]fr.Element, error) {
	out := make([]fr.Element, len(ss))
	for i, s := range ss {
		e, err := zkml.ParseFieldHex(s)
		if err != nil {
			return nil, ErrInvalidInput.Wrapf("public input %d: %v", i, err)
		}
		out[i] = e
	}
	return out, nil
}

// Msgs implements ledger.Module.
func (m *Module) Msgs() []ledger.MsgType {
	return []ledger.MsgType{
		ledger.GasFunc(ledger.Handler("zk/register_vk", 0, m.registerVK), func(msg *MsgRegisterVK) uint64 {
			return GasRegisterBase + GasPerKeyByte*uint64(len(msg.VK))
		}),
		ledger.GasFunc(ledger.Handler("zk/verify", 0, m.verify), func(msg *MsgVerify) uint64 {
			return VerifyGas(len(msg.Public))
		}),
	}
}

func (m *Module) registerVK(ctx *ledger.Context, msg *MsgRegisterVK) error {
	key := Key{Backend: msg.Backend, VK: msg.VK}
	vk, err := zkml.ParseVerifier(key.backend(), msg.VK)
	if err != nil {
		return ErrInvalidKey.Wrapf("%v", err)
	}
	if !bytes.Equal(vk.Bytes(), msg.VK) {
		return ErrInvalidKey.Wrapf("not the canonical (compressed) encoding")
	}
	d := vk.Digest()
	if _, ok := m.Key(ctx, d); ok {
		return ErrKeyExists.Wrapf("%s", d)
	}
	key = Key{Digest: d, Backend: msg.Backend, VK: msg.VK, Owner: ctx.Signer(), Height: ctx.Height, Model: msg.Model, Commitment: msg.Commitment}
	if msg.Model != "" && m.models != nil {
		comm, owner, ok := m.models.ModelCommitment(ctx, msg.Model)
		switch {
		case !ok:
			return ErrModelLink.Wrapf("model %q is not registered with a commitment", msg.Model)
		case owner != ctx.Signer():
			return ErrModelLink.Wrapf("only the owner of model %q may link a key to it", msg.Model)
		case comm != msg.Commitment:
			return ErrModelLink.Wrapf("model %q has commitment %s, not %s", msg.Model, comm, msg.Commitment)
		}
		key.Verified = true
	}
	ctx.Store(Name).Set(keyKey(d), ledger.MustEncodeJSON(key))
	ctx.Emit("zk_register_vk", ledger.AI("vk", d.String()), ledger.AI("owner", key.Owner.String()), ledger.AI("model", msg.Model))
	return nil
}

func (m *Module) verify(ctx *ledger.Context, msg *MsgVerify) error {
	pub, err := parsePublic(msg.Public)
	if err != nil {
		return err
	}
	if err := m.Verify(ctx, msg.VK, msg.Proof, pub); err != nil {
		return err
	}
	ctx.Emit("zk_verified", ledger.AI("vk", msg.VK.String()), ledger.A("public", fmt.Sprint(msg.Public)))
	return nil
}

// --- genesis, queries, invariants ---

// Genesis is the module's genesis state.
type Genesis struct {
	Keys []Key `json:"keys"`
}

// DefaultGenesis implements ledger.Module.
func (*Module) DefaultGenesis() json.RawMessage { return ledger.MustEncodeJSON(Genesis{Keys: []Key{}}) }

// InitGenesis implements ledger.Module.
func (m *Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	var g Genesis
	if len(raw) > 0 {
		if err := ledger.DecodeJSON(raw, &g); err != nil {
			return err
		}
	}
	for _, k := range g.Keys {
		if err := checkKey(&k); err != nil {
			return err
		}
		if _, ok := m.Key(ctx, k.Digest); ok {
			return fmt.Errorf("verifying key %s listed twice", k.Digest)
		}
		ctx.Store(Name).Set(keyKey(k.Digest), ledger.MustEncodeJSON(k))
	}
	return nil
}

// ExportGenesis implements ledger.Module.
func (m *Module) ExportGenesis(ctx *ledger.Context) (json.RawMessage, error) {
	g := Genesis{Keys: []Key{}}
	err := m.walk(ctx, func(k *Key) error { g.Keys = append(g.Keys, *k); return nil })
	if err != nil {
		return nil, err
	}
	return ledger.EncodeJSON(g)
}

func (m *Module) walk(ctx *ledger.Context, fn func(*Key) error) error {
	it := ctx.Store(Name).Iterator([]byte(keyPrefix), ledger.PrefixEnd([]byte(keyPrefix)))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var k Key
		if err := ledger.DecodeJSON(it.Value(), &k); err != nil {
			return fmt.Errorf("key %x: %v", it.Key(), err)
		}
		if string(it.Key()) != string(keyKey(k.Digest)) {
			return fmt.Errorf("key %s stored under %x", k.Digest, it.Key())
		}
		if err := fn(&k); err != nil {
			return err
		}
	}
	return nil
}

// checkKey checks a stored key decodes, canonically, and has its digest.
func checkKey(k *Key) error {
	if k.Backend != "" && k.Backend != zkml.BackendPlonk {
		return fmt.Errorf("verifying key %s: backend %q", k.Digest, k.Backend)
	}
	vk, err := zkml.ParseVerifier(k.backend(), k.VK)
	if err != nil {
		return fmt.Errorf("verifying key %s: %v", k.Digest, err)
	}
	if d := vk.Digest(); d != k.Digest || !bytes.Equal(vk.Bytes(), k.VK) {
		return fmt.Errorf("verifying key recorded as %s has digest %s", k.Digest, d)
	}
	return nil
}

// backend is the key's proof system, Groth16 when not recorded.
func (k *Key) backend() zkml.Backend {
	if k.Backend == zkml.BackendPlonk {
		return zkml.BackendPlonk
	}
	return zkml.BackendGroth16
}

// Query implements ledger.Module: "vk" ({"digest"}).
func (m *Module) Query(ctx *ledger.Context, path string, req []byte) (any, error) {
	switch path {
	case "vk":
		var r struct {
			Digest zkml.Digest `json:"digest"`
		}
		if err := ledger.DecodeJSON(req, &r); err != nil {
			return nil, ledger.ErrInvalidQuery.Wrapf("%v", err)
		}
		k, ok := m.Key(ctx, r.Digest)
		if !ok {
			return nil, ErrKeyNotFound.Wrapf("%s", r.Digest)
		}
		return k, nil
	}
	return nil, ledger.ErrUnknownQuery.Wrapf("zk/%s", path)
}

// Invariants implements ledger.Module: every key is stored under the
// digest of its bytes (decoding was checked when it was registered).
func (m *Module) Invariants() []ledger.Invariant {
	return []ledger.Invariant{{Name: "keys", Check: func(ctx *ledger.Context) error {
		return m.walk(ctx, func(k *Key) error {
			if zkml.KeyDigest(k.backend(), k.VK) != k.Digest {
				return fmt.Errorf("verifying key stored as %s has other bytes", k.Digest)
			}
			return nil
		})
	}}}
}
