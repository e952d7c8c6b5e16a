package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/github/go-spdx/v2/spdxexp"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/vai-dev/vai/zkml"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/wire"
)

// checkLicense validates an SPDX licence expression.
func checkLicense(expr string) error {
	if expr == "" {
		return ErrLicense.Wrapf("missing (use an SPDX expression such as CC-BY-4.0, or LicenseRef-… for others)")
	}
	if len(expr) > MaxTextBytes {
		return ErrLicense.Wrapf("longer than %d bytes", MaxTextBytes)
	}
	if _, err := spdxexp.ExtractLicenses(expr); err != nil {
		return ErrLicense.Wrapf("%q: %v", expr, err)
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return ErrInvalid.Wrapf("%s longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return ErrInvalid.Wrapf("%s is not valid UTF-8", field)
	}
	return nil
}

// checkCID checks a CID is in canonical CIDv1 form and, when it is a raw
// CID (the blob is small enough to be one block), that its digest is id:
// the content store then provably holds the preimage of the identity.
func checkCID(field, s string, id ID) error {
	c, err := cas.Parse(s)
	if err != nil {
		return ErrInvalid.Wrapf("%s: %v", field, err)
	}
	if c.String() != s {
		return ErrInvalid.Wrapf("%s %q is not in canonical form (%s)", field, s, c)
	}
	if id != "" && c.Prefix().Codec == cid.Raw {
		d, err := mh.Decode(c.Hash())
		if err != nil || hex.EncodeToString(d.Digest) != strings.TrimPrefix(string(id), "sha256:") {
			return ErrInvalid.Wrapf("%s %s is not the CID of %s", field, s, id)
		}
	}
	return nil
}

func (c *Content) validate(id ID) error {
	if err := checkCID("manifest_cid", c.ManifestCID, id); err != nil {
		return err
	}
	switch c.HashType {
	case "sha256", "blake2b", "blake3":
	default:
		return ErrInvalid.Wrapf("hash_type %q (want sha256, blake2b or blake3)", c.HashType)
	}
	if len(c.MerkleRoot) != 64 || strings.Trim(c.MerkleRoot, "0123456789abcdef") != "" {
		return ErrInvalid.Wrapf("merkle_root must be 64 lowercase hex digits")
	}
	if c.Resources < c.Files {
		return ErrInvalid.Wrapf("%d resources for %d files", c.Resources, c.Files)
	}
	return nil
}

func checkRefs(field string, ids []ID, max int) error {
	if len(ids) > max {
		return ErrLineageTooDeep.Wrapf("%d %s, at most %d", len(ids), field, max)
	}
	seen := map[ID]bool{}
	for _, id := range ids {
		if id == "" {
			return ErrInvalidID.Wrapf("empty id in %s", field)
		}
		if seen[id] {
			return ErrInvalid.Wrapf("%s lists %s twice", field, id)
		}
		seen[id] = true
	}
	return nil
}

// MsgRegisterDataset registers a dataset. The signer becomes its owner.
type MsgRegisterDataset struct {
	ID      ID     `json:"id"`
	Name    string `json:"name"`
	License string `json:"license"`
	// Contributors and their weights; none means the owner alone.
	Contributors []Contributor `json:"contributors,omitzero"`
	Parents      []ID          `json:"parents,omitzero"`
	Content
}

// Validate implements ledger.Msg.
func (m *MsgRegisterDataset) Validate() error {
	if m.ID == "" {
		return ErrInvalidID.Wrapf("missing id")
	}
	if err := checkText("name", m.Name, MaxNameBytes); err != nil {
		return err
	}
	if err := checkLicense(m.License); err != nil {
		return err
	}
	if len(m.Contributors) > MaxContributors {
		return ErrWeights.Wrapf("%d contributors, at most %d", len(m.Contributors), MaxContributors)
	}
	seen := map[wire.Address]bool{}
	var total uint64
	for _, c := range m.Contributors {
		if c.Address.IsZero() {
			return ErrWeights.Wrapf("contributor without address")
		}
		if seen[c.Address] {
			return ErrWeights.Wrapf("contributor %s listed twice", c.Address)
		}
		seen[c.Address] = true
		if c.Weight == 0 {
			return ErrWeights.Wrapf("contributor %s has weight 0", c.Address)
		}
		var carry uint64
		if total, carry = bits.Add64(total, c.Weight, 0); carry != 0 {
			return ErrWeights.Wrapf("weights add up to more than 2^64")
		}
	}
	if err := checkRefs("parents", m.Parents, MaxParents); err != nil {
		return err
	}
	return m.Content.validate(m.ID)
}

// MsgRegisterModel registers a model checkpoint. The signer becomes its
// owner; the first owner of a name keeps it.
type MsgRegisterModel struct {
	ID           ID     `json:"id"`
	Name         string `json:"name"`
	Format       string `json:"format,omitzero"`
	Architecture string `json:"architecture,omitzero"`
	License      string `json:"license"`
	Terms        Terms  `json:"terms"`
	Base         ID     `json:"base,omitzero"`
	Datasets     []ID   `json:"datasets,omitzero"`
	Run          ID     `json:"run,omitzero"`
	ZKCommitment string `json:"zk_commitment,omitzero"`
	Content
}

// checkCommitment accepts a zkML weight commitment in canonical form.
func checkCommitment(s string) error {
	e, err := zkml.ParseFieldHex(s)
	if err != nil {
		return ErrInvalid.Wrapf("zk_commitment: %v", err)
	}
	if zkml.FieldHex(e) != s {
		return ErrInvalid.Wrapf("zk_commitment: write it as zkml prints it (0x and 64 lowercase hex digits)")
	}
	return nil
}

// MsgSetZKCommitment sets the zkML weight commitment of a model registered
// without one (its owner only; once).
type MsgSetZKCommitment struct {
	Model      ID     `json:"model"`
	Commitment string `json:"commitment"`
}

// Validate implements ledger.Msg.
func (m *MsgSetZKCommitment) Validate() error {
	if _, err := ParseID(string(m.Model)); err != nil {
		return err
	}
	return checkCommitment(m.Commitment)
}

func (m *Module) setZKCommitment(ctx *ledger.Context, msg *MsgSetZKCommitment) error {
	x, ok := GetModel(ctx, msg.Model)
	if !ok {
		return ErrNotFound.Wrapf("model %s", msg.Model)
	}
	if x.Owner != ctx.Signer() {
		return ErrUnauthorized.Wrapf("only the model's owner %s sets its commitment", x.Owner)
	}
	if x.ZKCommitment != "" {
		return ErrInvalid.Wrapf("model %s already has zk commitment %s (a new weight version is a new model)", x.ID, x.ZKCommitment)
	}
	x.ZKCommitment = msg.Commitment
	put(ctx, pModel+string(x.ID), x)
	ctx.Emit("model_zk_commitment", ledger.AI("id", string(x.ID)), ledger.A("commitment", x.ZKCommitment))
	return nil
}

// ModelCommitment implements the zk module's view of the registry: a
// model's weight commitment and owner.
func (k *Keeper) ModelCommitment(ctx *ledger.Context, id string) (string, wire.Address, bool) {
	x, ok := GetModel(ctx, ID(id))
	if !ok || x.ZKCommitment == "" {
		return "", wire.Address{}, false
	}
	return x.ZKCommitment, x.Owner, true
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate implements ledger.Msg.
func (m *MsgRegisterModel) Validate() error {
	if m.ID == "" {
		return ErrInvalidID.Wrapf("missing id")
	}
	if !nameRE.MatchString(m.Name) {
		return ErrInvalid.Wrapf("model name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", m.Name)
	}
	for f, s := range map[string]string{"format": m.Format, "architecture": m.Architecture} {
		if err := checkText(f, s, MaxNameBytes); err != nil {
			return err
		}
	}
	if err := checkLicense(m.License); err != nil {
		return err
	}
	if m.Terms.RoyaltyBps > 10_000 {
		return ErrInvalid.Wrapf("royalty_bps %d above 10000 (100%%)", m.Terms.RoyaltyBps)
	}
	if err := checkRefs("datasets", m.Datasets, MaxParents); err != nil {
		return err
	}
	if m.Base == m.ID {
		return ErrInvalid.Wrapf("a model cannot be its own base")
	}
	if m.ZKCommitment != "" {
		if err := checkCommitment(m.ZKCommitment); err != nil {
			return err
		}
	}
	return m.Content.validate(m.ID)
}

// MsgRecordRun records a training run: an SLSA Provenance v1 statement and
// the trainer's (the signer's) signature over its DSSE PAE.
type MsgRecordRun struct {
	Statement      []byte `json:"statement"`
	Signature      []byte `json:"signature"`
	StatementCID   string `json:"statement_cid"`
	AttestationCID string `json:"attestation_cid,omitzero"`
}

// Validate implements ledger.Msg.
func (m *MsgRecordRun) Validate() error {
	if len(m.Statement) == 0 || len(m.Statement) > MaxStatement {
		return ErrRun.Wrapf("statement must be 1 to %d bytes", MaxStatement)
	}
	if len(m.Signature) != 64 {
		return ErrRun.Wrapf("signature must be 64 bytes of ed25519")
	}
	if err := checkCID("statement_cid", m.StatementCID, RunID(m.Statement)); err != nil {
		return err
	}
	if m.AttestationCID != "" {
		if err := checkCID("attestation_cid", m.AttestationCID, ""); err != nil {
			return err
		}
	}
	return nil
}

// RunID is the identity of a run statement: the SHA-256 of its bytes.
func RunID(statement []byte) ID {
	sum := sha256.Sum256(statement)
	return ID("sha256:" + hex.EncodeToString(sum[:]))
}

// MsgSetAlias points NAME@ALIAS at a model of that name.
type MsgSetAlias struct {
	Name  string `json:"name"`
	Alias string `json:"alias"`
	Model ID     `json:"model"`
}

var aliasRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// Validate implements ledger.Msg.
func (m *MsgSetAlias) Validate() error {
	if !nameRE.MatchString(m.Name) {
		return ErrInvalid.Wrapf("model name %q", m.Name)
	}
	if !aliasRE.MatchString(m.Alias) {
		return ErrInvalid.Wrapf("alias %q: use 1-32 lowercase letters, digits, '.', '_' or '-'", m.Alias)
	}
	if m.Model == "" {
		return ErrInvalidID.Wrapf("missing model")
	}
	return nil
}

// MsgRegisterWork registers a work with an authorship claim.
type MsgRegisterWork struct {
	Hash  ContentHash `json:"hash"`
	Name  string      `json:"name,omitzero"`
	Claim string      `json:"claim"`
	Model ID          `json:"model,omitzero"`
}

// Validate implements ledger.Msg.
func (m *MsgRegisterWork) Validate() error {
	if m.Hash == "" {
		return ErrInvalidID.Wrapf("missing hash")
	}
	if err := checkText("name", m.Name, MaxNameBytes); err != nil {
		return err
	}
	switch m.Claim {
	case ClaimHuman:
		if m.Model != "" {
			return ErrInvalid.Wrapf("a human-made work names no model")
		}
	case ClaimAIGenerated:
		if m.Model == "" {
			return ErrInvalid.Wrapf("an ai-generated work names the model that generated it")
		}
	case ClaimAIAssisted:
	default:
		return ErrInvalid.Wrapf("claim %q (want human, ai-generated or ai-assisted)", m.Claim)
	}
	return nil
}

// MsgWithdrawDataset tombstones a dataset: its owner withdraws consent.
type MsgWithdrawDataset struct {
	ID     ID     `json:"id"`
	Reason string `json:"reason"`
}

// Validate implements ledger.Msg.
func (m *MsgWithdrawDataset) Validate() error {
	if m.ID == "" {
		return ErrInvalidID.Wrapf("missing id")
	}
	return checkText("reason", m.Reason, MaxTextBytes)
}

// Msgs implements ledger.Module.
func (m *Module) Msgs() []ledger.MsgType {
	return []ledger.MsgType{
		ledger.GasFunc(ledger.Handler("registry/register_dataset", 0, m.registerDataset), func(x *MsgRegisterDataset) uint64 {
			return GasRegister + GasPerReference*uint64(len(x.Contributors)+len(x.Parents))
		}),
		ledger.GasFunc(ledger.Handler("registry/register_model", 0, m.registerModel), func(x *MsgRegisterModel) uint64 {
			return GasRegister + GasPerReference*uint64(len(x.Datasets)+2)
		}),
		ledger.GasFunc(ledger.Handler("registry/record_run", 0, m.recordRun), func(x *MsgRecordRun) uint64 {
			return GasRun + GasRunPerByte*uint64(len(x.Statement))
		}),
		ledger.Handler("registry/set_alias", GasAlias, m.setAlias),
		ledger.Handler("registry/set_zk_commitment", GasAlias, m.setZKCommitment),
		ledger.Handler("registry/register_work", GasWork, m.registerWork),
		ledger.Handler("registry/withdraw_dataset", GasWithdraw, m.withdrawDataset),
		ledger.Handler("registry/deny", GasDeny, m.deny),
		ledger.Handler("registry/dispute", GasDeny, m.dispute),
		ledger.Handler("registry/appeal", GasDeny, m.appeal),
		ledger.Handler("registry/resolve", GasDeny, m.resolve),
		ledger.GasFunc(ledger.Handler("registry/flag", 0, m.flag), func(x *MsgFlag) uint64 {
			return GasFlag + GasFlagPerHash*uint64(len(x.Proof.Hashes))
		}),
	}
}

func stamp(ctx *ledger.Context) Stamp { return Stamp{Height: ctx.Height, Time: ctx.Time} }

// existsError says who registered what when.
func existsError(kind string, id any, owner wire.Address, s Stamp) error {
	return ErrExists.Wrapf("%s %v was registered by %s at height %d (%s)", kind, id, owner, s.Height, s.Time.Format("2006-01-02T15:04:05Z07:00"))
}

func (m *Module) registerDataset(ctx *ledger.Context, msg *MsgRegisterDataset) error {
	if d, ok := GetDataset(ctx, msg.ID); ok {
		return existsError("dataset", msg.ID, d.Owner, d.Registered)
	}
	if _, ok := GetModel(ctx, msg.ID); ok {
		return ErrExists.Wrapf("%s is registered as a model", msg.ID)
	}
	for _, p := range msg.Parents {
		if err := usableDataset(ctx, p); err != nil {
			return err
		}
	}
	owner := ctx.Signer()
	contribs := msg.Contributors
	if len(contribs) == 0 {
		contribs = []Contributor{{Address: owner, Weight: 1}}
	}
	d := Dataset{ID: msg.ID, Name: msg.Name, License: msg.License, Owner: owner, Contributors: contribs,
		Parents: nonNil(msg.Parents), Content: msg.Content, Registered: stamp(ctx)}
	put(ctx, pDataset+string(d.ID), d)
	index(ctx, owner, d.ID, d.Parents...)
	ctx.Emit("dataset_registered", ledger.AI("id", string(d.ID)), ledger.AI("owner", owner.String()),
		ledger.A("name", d.Name), ledger.A("license", d.License))
	return nil
}

func nonNil(ids []ID) []ID {
	if ids == nil {
		return []ID{}
	}
	return ids
}

// index records the owner's record and who uses what.
func index(ctx *ledger.Context, owner wire.Address, id ID, uses ...ID) {
	s := store(ctx)
	s.Set([]byte(pOwner+string(owner[:])+"/"+string(id)), []byte{1})
	for _, u := range uses {
		if u != "" {
			s.Set([]byte(pUsers+string(u)+"/"+string(id)), []byte{1})
		}
	}
}

// usableDataset reports whether a dataset may be named in new lineage:
// registered, not withdrawn, not flagged.
func usableDataset(ctx *ledger.Context, id ID) error {
	d, ok := GetDataset(ctx, id)
	if !ok {
		return ErrNotFound.Wrapf("dataset %s", id)
	}
	st, err := Status(ctx, id)
	if err != nil {
		return err
	}
	if d.Withdrawn != nil || len(st.Withdrawn) > 0 {
		return ErrWithdrawn.Wrapf("dataset %s (or one it derives from) was withdrawn", id)
	}
	if len(st.Flags) > 0 {
		return ErrFlagged.Wrapf("dataset %s is flagged: %s contains deny-listed %s", id, st.Flags[0].Record, st.Flags[0].Hash)
	}
	return nil
}

func (m *Module) registerModel(ctx *ledger.Context, msg *MsgRegisterModel) error {
	if x, ok := GetModel(ctx, msg.ID); ok {
		return existsError("model", msg.ID, x.Owner, x.Registered)
	}
	if _, ok := GetDataset(ctx, msg.ID); ok {
		return ErrExists.Wrapf("%s is registered as a dataset", msg.ID)
	}
	owner := ctx.Signer()
	if o := store(ctx).Get([]byte(pName + msg.Name)); o != nil && !bytes.Equal(o, owner[:]) {
		var a wire.Address
		copy(a[:], o)
		return ErrName.Wrapf("model name %q belongs to %s", msg.Name, a)
	}
	datasets, base := msg.Datasets, msg.Base
	if msg.Run != "" {
		run, ok := GetRun(ctx, msg.Run)
		if !ok {
			return ErrNotFound.Wrapf("training run %s", msg.Run)
		}
		if run.Checkpoint != msg.ID {
			return ErrRun.Wrapf("run %s trained checkpoint %s, not %s", msg.Run, run.Checkpoint, msg.ID)
		}
		if len(datasets) == 0 {
			datasets = run.Datasets
		} else if !sameSet(datasets, run.Datasets) {
			return ErrRun.Wrapf("the model names datasets %v, its run names %v", datasets, run.Datasets)
		}
		if base == "" {
			base = run.Base
		} else if base != run.Base {
			return ErrRun.Wrapf("the model names base %s, its run names %q", base, run.Base)
		}
	}
	for _, d := range datasets {
		if err := usableDataset(ctx, d); err != nil {
			return err
		}
	}
	if base != "" {
		if _, ok := GetModel(ctx, base); !ok {
			return ErrNotFound.Wrapf("base model %s", base)
		}
	}
	x := Model{ID: msg.ID, Name: msg.Name, Format: msg.Format, Architecture: msg.Architecture, License: msg.License,
		Owner: owner, Terms: msg.Terms, Base: base, Datasets: nonNil(datasets), Run: msg.Run, ZKCommitment: msg.ZKCommitment, Content: msg.Content, Registered: stamp(ctx)}
	put(ctx, pModel+string(x.ID), x)
	store(ctx).Set([]byte(pName+x.Name), owner.Bytes())
	index(ctx, owner, x.ID, append(slices.Clone(x.Datasets), x.Base, x.Run)...)
	ctx.Emit("model_registered", ledger.AI("id", string(x.ID)), ledger.AI("owner", owner.String()),
		ledger.AI("name", x.Name), ledger.A("license", x.License))
	moveAlias(ctx, x.Name, "latest", x.ID)
	return nil
}

func sameSet(a, b []ID) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func (m *Module) setAlias(ctx *ledger.Context, msg *MsgSetAlias) error {
	x, ok := GetModel(ctx, msg.Model)
	if !ok {
		return ErrNotFound.Wrapf("model %s", msg.Model)
	}
	if x.Name != msg.Name {
		return ErrInvalid.Wrapf("model %s is named %q, not %q", msg.Model, x.Name, msg.Name)
	}
	owner := ctx.Signer()
	if o := store(ctx).Get([]byte(pName + msg.Name)); !bytes.Equal(o, owner[:]) {
		return ErrName.Wrapf("only the owner of %q moves its aliases", msg.Name)
	}
	moveAlias(ctx, msg.Name, msg.Alias, msg.Model)
	return nil
}

// moveAlias points name@alias at model and appends the move to its history.
func moveAlias(ctx *ledger.Context, name, alias string, model ID) {
	s := store(ctx)
	key := name + "@" + alias
	from := ID(s.Get([]byte(pAlias + key)))
	if from == model {
		return
	}
	s.Set([]byte(pAlias+key), []byte(model))
	n := ledger.Uint64(s.Get([]byte(pAliasN + key)))
	put(ctx, pAliasH+key+"/"+string(ledger.PutUint64(n)), AliasMove{Alias: key, Model: model, From: from, Mover: ctx.Signer(), Stamp: stamp(ctx)})
	s.Set([]byte(pAliasN+key), ledger.PutUint64(n+1))
	ctx.Emit("alias_moved", ledger.AI("alias", key), ledger.AI("model", string(model)), ledger.A("from", string(from)))
}

func (m *Module) registerWork(ctx *ledger.Context, msg *MsgRegisterWork) error {
	if w, ok := GetWork(ctx, msg.Hash); ok {
		return existsError("work", msg.Hash, w.Creator, w.Registered)
	}
	if msg.Model != "" {
		if _, ok := GetModel(ctx, msg.Model); !ok {
			return ErrNotFound.Wrapf("model %s", msg.Model)
		}
	}
	w := Work{Hash: msg.Hash, Name: msg.Name, Creator: ctx.Signer(), Claim: msg.Claim, Model: msg.Model, Registered: stamp(ctx)}
	put(ctx, pWork+string(w.Hash), w)
	ctx.Emit("work_registered", ledger.AI("hash", string(w.Hash)), ledger.AI("creator", w.Creator.String()), ledger.A("claim", w.Claim))
	return nil
}

func (m *Module) withdrawDataset(ctx *ledger.Context, msg *MsgWithdrawDataset) error {
	d, ok := GetDataset(ctx, msg.ID)
	if !ok {
		return ErrNotFound.Wrapf("dataset %s", msg.ID)
	}
	if d.Owner != ctx.Signer() {
		return ErrUnauthorized.Wrapf("only the owner %s withdraws dataset %s", d.Owner, msg.ID)
	}
	if d.Withdrawn != nil {
		return ErrWithdrawn.Wrapf("dataset %s was withdrawn at height %d", msg.ID, d.Withdrawn.Height)
	}
	d.Withdrawn = &Tombstone{Stamp: stamp(ctx), Reason: msg.Reason}
	put(ctx, pDataset+string(d.ID), d)
	ctx.Emit("dataset_withdrawn", ledger.AI("id", string(d.ID)), ledger.A("reason", msg.Reason))
	return nil
}

// GetDataset reads a dataset.
func GetDataset(ctx *ledger.Context, id ID) (*Dataset, bool) {
	return get[Dataset](ctx, pDataset+string(id))
}

// GetModel reads a model.
func GetModel(ctx *ledger.Context, id ID) (*Model, bool) { return get[Model](ctx, pModel+string(id)) }

// GetRun reads a training run.
func GetRun(ctx *ledger.Context, id ID) (*Run, bool) { return get[Run](ctx, pRun+string(id)) }

// GetWork reads a work.
func GetWork(ctx *ledger.Context, h ContentHash) (*Work, bool) {
	return get[Work](ctx, pWork+string(h))
}

// GetDeny reads a deny-list entry.
func GetDeny(ctx *ledger.Context, h ContentHash) (*Deny, bool) {
	return get[Deny](ctx, pDeny+string(h))
}
