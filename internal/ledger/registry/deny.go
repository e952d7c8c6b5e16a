package registry

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// The deny-list process (negative rights):
//
//	deny      a rights holder lists a content hash with a reason and a
//	          bond; the entry is pending for dispute_window blocks.
//	dispute   within that window anyone may dispute it, with a bond; the
//	          holder then has appeal_window blocks to appeal.
//	appeal    the holder appeals with a further bond; an arbiter decides.
//	resolve   an arbiter upholds the entry (it becomes active; the
//	          disputer's bond goes to the holder) or rejects it (the
//	          holder's bonds go to the disputer).
//
// At the end of a window, undisputed entries become active (the holder's
// bond is returned) and unappealed disputes win (the holder's bond goes to
// the disputer). Only active entries can flag records.

// MsgDeny deny-lists a content hash.
type MsgDeny struct {
	Hash   ContentHash `json:"hash"`
	Reason string      `json:"reason"`
}

// Validate implements ledger.Msg.
func (m *MsgDeny) Validate() error {
	if m.Hash == "" {
		return ErrInvalidID.Wrapf("missing hash")
	}
	if m.Reason == "" {
		return ErrInvalid.Wrapf("a deny-list entry needs a reason")
	}
	return checkText("reason", m.Reason, MaxTextBytes)
}

// MsgDispute disputes a pending entry.
type MsgDispute struct {
	Hash   ContentHash `json:"hash"`
	Reason string      `json:"reason"`
}

// Validate implements ledger.Msg.
func (m *MsgDispute) Validate() error {
	if m.Hash == "" {
		return ErrInvalidID.Wrapf("missing hash")
	}
	return checkText("reason", m.Reason, MaxTextBytes)
}

// MsgAppeal appeals a disputed entry (its holder only).
type MsgAppeal struct {
	Hash ContentHash `json:"hash"`
}

// Validate implements ledger.Msg.
func (m *MsgAppeal) Validate() error {
	if m.Hash == "" {
		return ErrInvalidID.Wrapf("missing hash")
	}
	return nil
}

// MsgResolve decides an appealed entry (arbiters only).
type MsgResolve struct {
	Hash   ContentHash `json:"hash"`
	Uphold bool        `json:"uphold"`
}

// Validate implements ledger.Msg.
func (m *MsgResolve) Validate() error {
	if m.Hash == "" {
		return ErrInvalidID.Wrapf("missing hash")
	}
	return nil
}

// Proof is a Merkle inclusion proof of one resource (a file, in files
// mode) in a record's manifest, as manifest.InclusionProof encodes it.
type Proof struct {
	Name      string   `json:"name"`
	Algorithm string   `json:"algorithm"`
	Digest    string   `json:"digest"`
	Index     uint64   `json:"index"`
	TreeSize  uint64   `json:"tree_size"`
	Hashes    []string `json:"hashes"`
}

// MsgFlag flags a registered dataset or model that contains content on the
// deny-list, proven by the inclusion of that content's file in its manifest.
type MsgFlag struct {
	Record ID          `json:"record"`
	Hash   ContentHash `json:"hash"`
	Proof  Proof       `json:"proof"`
}

// Validate implements ledger.Msg.
func (m *MsgFlag) Validate() error {
	if m.Record == "" || m.Hash == "" {
		return ErrInvalidID.Wrapf("missing record or hash")
	}
	if len(m.Proof.Hashes) > 64 {
		return ErrProof.Wrapf("%d hashes: no tree is that deep", len(m.Proof.Hashes))
	}
	return nil
}

// resource decodes the proof's resource and hashes.
func (p Proof) decode() (*manifest.InclusionProof, error) {
	d, err := hex.DecodeString(p.Digest)
	if err != nil {
		return nil, ErrProof.Wrapf("digest is not hex")
	}
	out := &manifest.InclusionProof{Resource: manifest.Resource{Name: p.Name, Algorithm: p.Algorithm, Digest: d}, Index: p.Index, TreeSize: p.TreeSize}
	for _, h := range p.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, ErrProof.Wrapf("proof hash %q is not 32 bytes of hex", h)
		}
		out.Hashes = append(out.Hashes, b)
	}
	return out, nil
}

func params(ctx *ledger.Context) Params {
	p, ok := get[Params](ctx, "params")
	if !ok {
		return DefaultParams()
	}
	return *p
}

func deadlineKey(h int64, hash ContentHash) []byte {
	return append(append([]byte(pDeadln), ledger.PutUint64(uint64(h))...), "/"+string(hash)...)
}

func (m *Module) setDeadline(ctx *ledger.Context, d *Deny, h int64) {
	s := store(ctx)
	if d.Deadline != 0 {
		s.Delete(deadlineKey(d.Deadline, d.Hash))
	}
	d.Deadline = h
	if h != 0 {
		s.Set(deadlineKey(h, d.Hash), []byte{1})
	}
}

func (m *Module) bond(ctx *ledger.Context, from wire.Address, c wire.Coin) error {
	if c.IsZero() {
		return nil
	}
	return m.bank.SendToModule(ctx, from, Name, c.Amount)
}

func (m *Module) pay(ctx *ledger.Context, to wire.Address, amount uint64) error {
	if amount == 0 {
		return nil
	}
	return m.bank.SendFromModule(ctx, Name, to, amount)
}

func (m *Module) deny(ctx *ledger.Context, msg *MsgDeny) error {
	if d, ok := GetDeny(ctx, msg.Hash); ok && d.State != DenyRejected {
		return ErrDenied.Wrapf("%s is already on the deny-list (%s, by %s)", msg.Hash, d.State, d.Holder)
	}
	p := params(ctx)
	holder := ctx.Signer()
	if err := m.bond(ctx, holder, p.DenyBond); err != nil {
		return err
	}
	d := &Deny{Hash: msg.Hash, Holder: holder, Reason: msg.Reason, State: DenyPending, Added: stamp(ctx), HolderBond: p.DenyBond}
	m.setDeadline(ctx, d, ctx.Height+p.DisputeWindow)
	put(ctx, pDeny+string(d.Hash), d)
	ctx.Emit("deny_added", ledger.AI("hash", string(d.Hash)), ledger.AI("holder", holder.String()), ledger.A("deadline", itoa(d.Deadline)))
	return nil
}

func (m *Module) dispute(ctx *ledger.Context, msg *MsgDispute) error {
	d, ok := GetDeny(ctx, msg.Hash)
	if !ok {
		return ErrNotFound.Wrapf("no deny-list entry for %s", msg.Hash)
	}
	if d.State != DenyPending {
		return ErrDenied.Wrapf("the entry for %s is %s: only pending entries can be disputed", msg.Hash, d.State)
	}
	if ctx.Height > d.Deadline {
		return ErrWindow.Wrapf("the dispute window closed at height %d", d.Deadline)
	}
	p := params(ctx)
	if err := m.bond(ctx, ctx.Signer(), p.DisputeBond); err != nil {
		return err
	}
	d.State, d.Disputer, d.DisputeBond, d.DisputeNote = DenyDisputed, ctx.Signer(), p.DisputeBond, msg.Reason
	m.setDeadline(ctx, d, ctx.Height+p.AppealWindow)
	put(ctx, pDeny+string(d.Hash), d)
	ctx.Emit("deny_disputed", ledger.AI("hash", string(d.Hash)), ledger.AI("disputer", d.Disputer.String()), ledger.A("deadline", itoa(d.Deadline)))
	return nil
}

func (m *Module) appeal(ctx *ledger.Context, msg *MsgAppeal) error {
	d, ok := GetDeny(ctx, msg.Hash)
	if !ok {
		return ErrNotFound.Wrapf("no deny-list entry for %s", msg.Hash)
	}
	if d.Holder != ctx.Signer() {
		return ErrUnauthorized.Wrapf("only the holder %s appeals", d.Holder)
	}
	if d.State != DenyDisputed {
		return ErrDenied.Wrapf("the entry for %s is %s: only disputed entries can be appealed", msg.Hash, d.State)
	}
	if ctx.Height > d.Deadline {
		return ErrWindow.Wrapf("the appeal window closed at height %d", d.Deadline)
	}
	p := params(ctx)
	if len(p.Arbiters) == 0 {
		return ErrNoArbiters.Wrapf("this chain has no arbiters to hear an appeal")
	}
	if err := m.bond(ctx, d.Holder, p.AppealBond); err != nil {
		return err
	}
	d.State = DenyAppealed
	d.HolderBond.Amount += p.AppealBond.Amount // cannot overflow: both are in the supply
	m.setDeadline(ctx, d, 0)
	put(ctx, pDeny+string(d.Hash), d)
	ctx.Emit("deny_appealed", ledger.AI("hash", string(d.Hash)))
	return nil
}

func (m *Module) resolve(ctx *ledger.Context, msg *MsgResolve) error {
	d, ok := GetDeny(ctx, msg.Hash)
	if !ok {
		return ErrNotFound.Wrapf("no deny-list entry for %s", msg.Hash)
	}
	if !slices.Contains(params(ctx).Arbiters, ctx.Signer()) {
		return ErrUnauthorized.Wrapf("%s is not an arbiter", ctx.Signer())
	}
	if d.State != DenyAppealed {
		return ErrDenied.Wrapf("the entry for %s is %s: only appealed entries are resolved", msg.Hash, d.State)
	}
	s := stamp(ctx)
	d.Decided, d.DecidedBy = &s, ctx.Signer()
	var err error
	if msg.Uphold {
		err = m.settle(ctx, d, DenyActive, d.Holder)
	} else {
		err = m.settle(ctx, d, DenyRejected, d.Disputer)
	}
	return err
}

// settle closes an entry in state, paying every bond it holds to winner.
func (m *Module) settle(ctx *ledger.Context, d *Deny, state string, winner wire.Address) error {
	if err := m.pay(ctx, winner, d.Bonds()); err != nil {
		return err
	}
	d.State, d.HolderBond, d.DisputeBond = state, wire.Coin{}, wire.Coin{}
	m.setDeadline(ctx, d, 0)
	put(ctx, pDeny+string(d.Hash), d)
	ctx.Emit("deny_"+state, ledger.AI("hash", string(d.Hash)), ledger.A("paid_to", winner.String()))
	return nil
}

// EndBlock implements ledger.EndBlocker: windows that closed at this height
// settle their entries.
func (m *Module) EndBlock(ctx *ledger.Context) error {
	s := store(ctx)
	end := append([]byte(pDeadln), ledger.PutUint64(uint64(ctx.Height)+1)...)
	it := s.Iterator([]byte(pDeadln), end)
	var due []ContentHash
	for ; it.Valid(); it.Next() {
		due = append(due, ContentHash(it.Key()[len(pDeadln)+9:]))
	}
	it.Close()
	for _, h := range due {
		d, ok := GetDeny(ctx, h)
		if !ok {
			continue
		}
		var err error
		switch d.State {
		case DenyPending:
			err = m.settle(ctx, d, DenyActive, d.Holder)
		case DenyDisputed:
			err = m.settle(ctx, d, DenyRejected, d.Disputer)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) flag(ctx *ledger.Context, msg *MsgFlag) error {
	d, ok := GetDeny(ctx, msg.Hash)
	if !ok || d.State != DenyActive {
		state := "not on the deny-list"
		if ok {
			state = d.State
		}
		return ErrDenied.Wrapf("%s is %s: only active deny-list entries flag records", msg.Hash, state)
	}
	var c Content
	if ds, ok := GetDataset(ctx, msg.Record); ok {
		c = ds.Content
	} else if md, ok := GetModel(ctx, msg.Record); ok {
		c = md.Content
	} else {
		return ErrNotFound.Wrapf("no dataset or model %s", msg.Record)
	}
	if key := pFlag + string(msg.Record) + "/" + string(msg.Hash); store(ctx).Has([]byte(key)) {
		return ErrExists.Wrapf("%s is already flagged for %s", msg.Record, msg.Hash)
	}
	p, err := msg.Proof.decode()
	if err != nil {
		return err
	}
	if p.Resource.Algorithm != msg.Hash.Algorithm() || hex.EncodeToString(p.Resource.Digest) != msg.Hash.Hex() {
		return ErrProof.Wrapf("the proven file %q has %s:%x, not the deny-listed %s", p.Resource.Name, p.Resource.Algorithm, p.Resource.Digest, msg.Hash)
	}
	root, _ := hex.DecodeString(c.MerkleRoot)
	if err := p.Verify(root, c.Resources); err != nil {
		return ErrProof.Wrapf("%s: %v", msg.Record, strings.TrimPrefix(err.Error(), manifest.ErrProof.Error()+": "))
	}
	f := Flag{Record: msg.Record, Hash: msg.Hash, File: p.Resource.Name, Flagger: ctx.Signer(), Stamp: stamp(ctx)}
	put(ctx, pFlag+string(msg.Record)+"/"+string(msg.Hash), f)
	ctx.Emit("flagged", ledger.AI("record", string(msg.Record)), ledger.AI("hash", string(msg.Hash)), ledger.A("file", f.File))
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
