package market

import (
	"bytes"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// Gas of provider messages.
const (
	GasProvider  = 20_000
	GasPerServe  = 2_000
	GasSmall     = 10_000
	maxHardware  = 32
	maxServes    = 256
	maxTextBytes = 256
	initialRep   = 5_000
)

// MsgProviderRegister registers the signer as a provider, bonding Stake.
type MsgProviderRegister struct {
	Stake         wire.Coin         `json:"stake"`
	Endpoint      string            `json:"endpoint"`
	Hardware      map[string]string `json:"hardware,omitzero"`
	Modes         []string          `json:"modes"`
	Capacity      uint32            `json:"capacity"`
	EncryptionKey string            `json:"encryption_key,omitzero"`
	Serves        []ServeEntry      `json:"serves,omitzero"`
}

func checkText(field, s string) error {
	if len(s) > maxTextBytes || !utf8.ValidString(s) {
		return ErrProvider.Wrapf("%s must be valid UTF-8 of at most %d bytes", field, maxTextBytes)
	}
	return nil
}

func validateProfile(endpoint string, hw map[string]string, modes []string, capacity uint32, encKey string, serves []ServeEntry) error {
	if err := checkText("endpoint", endpoint); err != nil {
		return err
	}
	if len(hw) > maxHardware {
		return ErrProvider.Wrapf("at most %d hardware attributes", maxHardware)
	}
	for k, v := range hw {
		if err := checkText("hardware key", k); err != nil {
			return err
		}
		if err := checkText("hardware value", v); err != nil {
			return err
		}
	}
	if len(modes) == 0 {
		return ErrProvider.Wrapf("list the verification modes you accept (redundant, optimistic, zk, tee)")
	}
	for _, m := range modes {
		switch m {
		case ModeRedundant, ModeOptimistic, ModeZK, ModeTEE:
		default:
			return ErrMode.Wrapf("%q (want redundant, optimistic, zk or tee)", m)
		}
	}
	if capacity == 0 || capacity > 10_000 {
		return ErrProvider.Wrapf("capacity must be 1 to 10000")
	}
	if encKey != "" && (!strings.HasPrefix(encKey, "age1") || len(encKey) > 100) {
		return ErrProvider.Wrapf("encryption_key must be an age X25519 recipient (age1…)")
	}
	if len(serves) > maxServes {
		return ErrProvider.Wrapf("at most %d models", maxServes)
	}
	seen := map[registry.ID]bool{}
	for _, s := range serves {
		if _, err := registry.ParseID(string(s.Model)); err != nil {
			return err
		}
		if seen[s.Model] {
			return ErrProvider.Wrapf("model %s listed twice", s.Model)
		}
		seen[s.Model] = true
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *MsgProviderRegister) Validate() error {
	return validateProfile(m.Endpoint, m.Hardware, m.Modes, m.Capacity, m.EncryptionKey, m.Serves)
}

// MsgProviderUpdate changes a provider's profile, adds stake, and replaces
// the models it serves. Changing the hardware clears its endorsements.
type MsgProviderUpdate struct {
	AddStake      wire.Coin         `json:"add_stake,omitzero"`
	Endpoint      string            `json:"endpoint"`
	Hardware      map[string]string `json:"hardware,omitzero"`
	Modes         []string          `json:"modes"`
	Capacity      uint32            `json:"capacity"`
	EncryptionKey string            `json:"encryption_key,omitzero"`
	Serves        []ServeEntry      `json:"serves,omitzero"`
}

// Validate implements ledger.Msg.
func (m *MsgProviderUpdate) Validate() error {
	return validateProfile(m.Endpoint, m.Hardware, m.Modes, m.Capacity, m.EncryptionKey, m.Serves)
}

// MsgEndorse: an auditor vouches for a provider's hardware attributes.
type MsgEndorse struct {
	Provider wire.Address `json:"provider"`
}

// Validate implements ledger.Msg.
func (m *MsgEndorse) Validate() error { return nil }

// MsgUnbond starts unbonding part of the signer's stake.
type MsgUnbond struct {
	Amount wire.Coin `json:"amount"`
}

// Validate implements ledger.Msg.
func (m *MsgUnbond) Validate() error {
	if m.Amount.IsZero() {
		return ErrStake.Wrapf("amount must be positive")
	}
	return nil
}

// MsgWithdraw pays out the signer's unbonded stake whose time has come.
type MsgWithdraw struct{}

// Validate implements ledger.Msg.
func (m *MsgWithdraw) Validate() error { return nil }

// MsgUnjail returns a provider whose jail time is over to the pool.
type MsgUnjail struct{}

// Validate implements ledger.Msg.
func (m *MsgUnjail) Validate() error { return nil }

// GetProvider reads a provider.
func GetProvider(ctx *ledger.Context, a wire.Address) (*Provider, bool) {
	return get[Provider](ctx, pProvider+string(a[:]))
}

func putProvider(ctx *ledger.Context, p *Provider) { put(ctx, pProvider+string(p.Address[:]), p) }

func (m *Module) providerRegister(ctx *ledger.Context, msg *MsgProviderRegister) error {
	addr := ctx.Signer()
	if _, ok := GetProvider(ctx, addr); ok {
		return ErrProvider.Wrapf("%s is already a provider: use market/provider_update", addr)
	}
	p := params(ctx)
	if msg.Stake.Amount < p.MinStake.Amount {
		return ErrStake.Wrapf("stake %s is below the minimum %s", msg.Stake, p.MinStake)
	}
	if err := m.bank.SendToModule(ctx, addr, Name, msg.Stake.Amount); err != nil {
		return err
	}
	pv := &Provider{Address: addr, PubKey: ctx.Tx.Body.PubKey, Stake: msg.Stake, Endpoint: msg.Endpoint, Hardware: nonNilMap(msg.Hardware),
		Modes: sortedCopy(msg.Modes), Capacity: msg.Capacity, EncryptionKey: msg.EncryptionKey, Endorsements: []wire.Address{},
		Reputation: initialRep, Unbonding: []Unbonding{}, Registered: ctx.Height}
	if err := m.setServes(ctx, addr, nil, msg.Serves); err != nil {
		return err
	}
	putProvider(ctx, pv)
	ctx.Emit("provider_registered", ledger.AI("provider", addr.String()), ledger.A("stake", msg.Stake.String()))
	return nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// setServes replaces the models a provider serves (each must be offered).
func (m *Module) setServes(ctx *ledger.Context, addr wire.Address, old, serves []ServeEntry) error {
	s := store(ctx)
	for _, e := range ServedBy(ctx, addr) {
		s.Delete([]byte(pServes + string(e.Model) + "/" + string(addr[:])))
	}
	for _, e := range serves {
		if o, ok := GetOffer(ctx, e.Model); !ok || !o.Active {
			return ErrNotOffered.Wrapf("model %s is not on the market", e.Model)
		}
		s.Set([]byte(pServes+string(e.Model)+"/"+string(addr[:])), ledger.MustEncodeJSON(e.Price))
	}
	put(ctx, "ps/"+string(addr[:]), serves)
	return nil
}

// ServedBy lists the models a provider serves.
func ServedBy(ctx *ledger.Context, addr wire.Address) []ServeEntry {
	v, ok := get[[]ServeEntry](ctx, "ps/"+string(addr[:]))
	if !ok {
		return nil
	}
	return *v
}

func (m *Module) providerUpdate(ctx *ledger.Context, msg *MsgProviderUpdate) error {
	addr := ctx.Signer()
	pv, ok := GetProvider(ctx, addr)
	if !ok {
		return ErrNotProvider.Wrapf("%s", addr)
	}
	if !msg.AddStake.IsZero() {
		if err := m.bank.SendToModule(ctx, addr, Name, msg.AddStake.Amount); err != nil {
			return err
		}
		var c uint64
		if pv.Stake.Amount, c = bits.Add64(pv.Stake.Amount, msg.AddStake.Amount, 0); c != 0 {
			return ErrOverflow.Wrapf("stake")
		}
	}
	hw := nonNilMap(msg.Hardware)
	if !sameMap(hw, pv.Hardware) {
		pv.Endorsements = []wire.Address{}
	}
	pv.Endpoint, pv.Hardware, pv.Modes, pv.Capacity, pv.EncryptionKey = msg.Endpoint, hw, sortedCopy(msg.Modes), msg.Capacity, msg.EncryptionKey
	if err := m.setServes(ctx, addr, nil, msg.Serves); err != nil {
		return err
	}
	putProvider(ctx, pv)
	ctx.Emit("provider_updated", ledger.AI("provider", addr.String()))
	return nil
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (m *Module) endorse(ctx *ledger.Context, msg *MsgEndorse) error {
	pv, ok := GetProvider(ctx, msg.Provider)
	if !ok {
		return ErrNotProvider.Wrapf("%s", msg.Provider)
	}
	a := ctx.Signer()
	if a == pv.Address {
		return ErrUnauthorized.Wrapf("a provider cannot endorse itself")
	}
	if !slices.Contains(pv.Endorsements, a) {
		pv.Endorsements = append(pv.Endorsements, a)
		slices.SortFunc(pv.Endorsements, func(x, y wire.Address) int { return bytes.Compare(x[:], y[:]) })
	}
	putProvider(ctx, pv)
	ctx.Emit("provider_endorsed", ledger.AI("provider", pv.Address.String()), ledger.AI("auditor", a.String()))
	return nil
}

func (m *Module) unbond(ctx *ledger.Context, msg *MsgUnbond) error {
	pv, ok := GetProvider(ctx, ctx.Signer())
	if !ok {
		return ErrNotProvider.Wrapf("%s", ctx.Signer())
	}
	if msg.Amount.Amount > pv.Stake.Amount {
		return ErrStake.Wrapf("unbonding %s of a stake of %s", msg.Amount, pv.Stake)
	}
	rest := pv.Stake.Amount - msg.Amount.Amount
	if pv.Active > 0 && rest < params(ctx).MinStake.Amount {
		return ErrStake.Wrapf("%d jobs in progress need the minimum stake bonded", pv.Active)
	}
	pv.Stake.Amount = rest
	release := ctx.Height + params(ctx).UnbondingBlocks
	pv.Unbonding = append(pv.Unbonding, Unbonding{Amount: msg.Amount, Release: release})
	putProvider(ctx, pv)
	ctx.Emit("provider_unbonding", ledger.AI("provider", pv.Address.String()), ledger.A("amount", msg.Amount.String()), ledger.A("release", itoa(release)))
	return nil
}

func (m *Module) withdraw(ctx *ledger.Context, _ *MsgWithdraw) error {
	pv, ok := GetProvider(ctx, ctx.Signer())
	if !ok {
		return ErrNotProvider.Wrapf("%s", ctx.Signer())
	}
	var due uint64
	keep := pv.Unbonding[:0]
	for _, u := range pv.Unbonding {
		if u.Release <= ctx.Height {
			due += u.Amount.Amount
		} else {
			keep = append(keep, u)
		}
	}
	if due == 0 {
		return ErrNothingToPay.Wrapf("no unbonded stake has matured")
	}
	pv.Unbonding = keep
	if err := m.bank.SendFromModule(ctx, Name, pv.Address, due); err != nil {
		return err
	}
	putProvider(ctx, pv)
	ctx.Emit("provider_withdrew", ledger.AI("provider", pv.Address.String()), ledger.A("amount", wire.UVAI(due).String()))
	return nil
}

func (m *Module) unjail(ctx *ledger.Context, _ *MsgUnjail) error {
	pv, ok := GetProvider(ctx, ctx.Signer())
	if !ok {
		return ErrNotProvider.Wrapf("%s", ctx.Signer())
	}
	if pv.JailedUntil == 0 {
		return ErrJailed.Wrapf("%s is not jailed", pv.Address)
	}
	if ctx.Height < pv.JailedUntil {
		return ErrJailed.Wrapf("jailed until height %d", pv.JailedUntil)
	}
	pv.JailedUntil, pv.Strikes = 0, 0
	putProvider(ctx, pv)
	ctx.Emit("provider_unjailed", ledger.AI("provider", pv.Address.String()))
	return nil
}

// --- offers ---

// MsgOffer puts a registered model on the market (its owner only).
type MsgOffer struct {
	Model          registry.ID `json:"model"`
	Price          wire.Coin   `json:"price"`
	ArtifactDigest string      `json:"artifact_digest"`
	Format         string      `json:"format"`
	PublicCID      string      `json:"public_cid,omitzero"`
	Active         bool        `json:"active"`
}

// Validate implements ledger.Msg.
func (m *MsgOffer) Validate() error {
	if _, err := registry.ParseID(string(m.Model)); err != nil {
		return err
	}
	if len(m.ArtifactDigest) != 64 || strings.Trim(m.ArtifactDigest, "0123456789abcdef") != "" {
		return ErrOffer.Wrapf("artifact_digest must be 64 lowercase hex digits (SHA-256)")
	}
	switch m.Format {
	case "vaim", "openai":
	default:
		return ErrOffer.Wrapf("format %q (want vaim or openai)", m.Format)
	}
	return checkText("public_cid", m.PublicCID)
}

// MsgGrant gives one provider the model's artifact, encrypted to its key.
type MsgGrant struct {
	Model    registry.ID  `json:"model"`
	Provider wire.Address `json:"provider"`
	CID      string       `json:"cid"`
}

// Validate implements ledger.Msg.
func (m *MsgGrant) Validate() error {
	if _, err := registry.ParseID(string(m.Model)); err != nil {
		return err
	}
	if m.CID == "" {
		return ErrOffer.Wrapf("missing cid")
	}
	return checkText("cid", m.CID)
}

// GetOffer reads a model's offer.
func GetOffer(ctx *ledger.Context, model registry.ID) (*Offer, bool) {
	return get[Offer](ctx, pOffer+string(model))
}

// GetGrant reads a grant.
func GetGrant(ctx *ledger.Context, model registry.ID, p wire.Address) (*Grant, bool) {
	return get[Grant](ctx, pGrant+string(model)+"/"+string(p[:]))
}

func (m *Module) offer(ctx *ledger.Context, msg *MsgOffer) error {
	md, err := modelInfo(ctx, msg.Model)
	if err != nil {
		return err
	}
	if md.Owner != ctx.Signer() {
		return ErrUnauthorized.Wrapf("only the model's owner %s offers it", md.Owner)
	}
	o := Offer{Model: msg.Model, Owner: md.Owner, Price: msg.Price, ArtifactDigest: msg.ArtifactDigest, Format: msg.Format, PublicCID: msg.PublicCID, Active: msg.Active}
	put(ctx, pOffer+string(o.Model), o)
	ctx.Emit("model_offered", ledger.AI("model", string(o.Model)), ledger.A("price", o.Price.String()), ledger.A("active", boolStr(o.Active)))
	return nil
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (m *Module) grant(ctx *ledger.Context, msg *MsgGrant) error {
	o, ok := GetOffer(ctx, msg.Model)
	if !ok {
		return ErrNotOffered.Wrapf("%s", msg.Model)
	}
	if o.Owner != ctx.Signer() {
		return ErrUnauthorized.Wrapf("only the model's owner grants its weights")
	}
	if _, ok := GetProvider(ctx, msg.Provider); !ok {
		return ErrNotProvider.Wrapf("%s", msg.Provider)
	}
	put(ctx, pGrant+string(msg.Model)+"/"+string(msg.Provider[:]), Grant(*msg))
	ctx.Emit("model_granted", ledger.AI("model", string(msg.Model)), ledger.AI("provider", msg.Provider.String()))
	return nil
}
