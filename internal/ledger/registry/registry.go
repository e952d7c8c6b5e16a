// Package registry is the ledger module of provenance: datasets, models,
// training runs and works, registered with their manifests (by identity and
// CID), licences, contributors and lineage; mutable model aliases with a
// history; a deny-list of content hashes with a dispute, appeal and
// arbitration process; flags proven by Merkle inclusion proofs; and
// tombstones when consent is withdrawn.
//
// Lineage only ever points at records that exist when a record is
// registered, so it is acyclic by construction. Whether a record is
// flagged or withdrawn is derived when it is read, by walking its lineage
// upwards: a model registered after its dataset was flagged shows the flag
// too, and no write ever fans out over the models downstream.
package registry

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// Name is the module's name, key prefix and codespace; it is also the
// module account that holds the deny-list bonds.
const Name = "registry"

// Errors. Append only.
var (
	ErrExists         = ledger.Register(Name, 2, ledger.KindConflict, "already registered")
	ErrNotFound       = ledger.Register(Name, 3, ledger.KindNotFound, "not registered")
	ErrInvalidID      = ledger.Register(Name, 4, ledger.KindInvalid, "invalid identifier")
	ErrLicense        = ledger.Register(Name, 5, ledger.KindInvalid, "invalid SPDX licence expression")
	ErrWithdrawn      = ledger.Register(Name, 6, ledger.KindConflict, "dataset withdrawn")
	ErrUnauthorized   = ledger.Register(Name, 7, ledger.KindUnauthorized, "not allowed")
	ErrInvalid        = ledger.Register(Name, 8, ledger.KindInvalid, "invalid record")
	ErrWeights        = ledger.Register(Name, 9, ledger.KindInvalid, "invalid contributor weights")
	ErrRun            = ledger.Register(Name, 10, ledger.KindInvalid, "invalid training run")
	ErrDenied         = ledger.Register(Name, 11, ledger.KindConflict, "deny-list state does not allow this")
	ErrWindow         = ledger.Register(Name, 12, ledger.KindExpired, "outside the allowed window")
	ErrProof          = ledger.Register(Name, 13, ledger.KindInvalid, "invalid Merkle proof")
	ErrFlagged        = ledger.Register(Name, 14, ledger.KindConflict, "dataset flagged")
	ErrName           = ledger.Register(Name, 15, ledger.KindUnauthorized, "model name belongs to another owner")
	ErrNoArbiters     = ledger.Register(Name, 16, ledger.KindInvalid, "no arbiters configured")
	ErrLineageTooDeep = ledger.Register(Name, 17, ledger.KindInvalid, "lineage too large")
)

// Limits on what one record may hold.
const (
	MaxContributors = 256
	MaxParents      = 64
	MaxNameBytes    = 128
	MaxTextBytes    = 512
	MaxStatement    = 32 << 10
)

// Gas of the module's messages.
const (
	GasRegister     = 40_000
	GasPerReference = 2_000
	GasRun          = 30_000
	GasRunPerByte   = 5
	GasAlias        = 10_000
	GasWork         = 10_000
	GasDeny         = 20_000
	GasFlag         = 30_000
	GasFlagPerHash  = 1_000
	GasWithdraw     = 10_000
)

// Keeper is the registry's Go API for other modules.
type Keeper struct {
	bank *bank.Keeper
}

// Module is the registry ledger module.
type Module struct {
	*Keeper
}

var _ ledger.Module = (*Module)(nil)

// New returns the registry module, holding its bonds through the bank.
func New(b *bank.Keeper) *Module { return &Module{Keeper: &Keeper{bank: b}} }

// Name implements ledger.Module.
func (*Module) Name() string { return Name }

// moduleAddr is the registry's account (deny-list bonds).
var moduleAddr = wire.ModuleAddress(Name)

// --- identifiers ---

// ID is a record identifier: "sha256:" and 64 lowercase hex digits. A
// dataset or model is identified by the SHA-256 of its canonical manifest
// statement (DESIGN D9), a run by that of its SLSA statement.
type ID string

// ParseID checks the form of an identifier.
func ParseID(s string) (ID, error) {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", ErrInvalidID.Wrapf("%q: want sha256: and 64 lowercase hex digits", s)
	}
	return ID(s), nil
}

// UnmarshalText checks the form when decoding.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ContentHash is the digest of a piece of content: "sha256:<hex>" or
// "blake3:<hex>".
type ContentHash string

// ParseContentHash checks the form of a content hash.
func ParseContentHash(s string) (ContentHash, error) {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || (alg != "sha256" && alg != "blake3") || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", ErrInvalidID.Wrapf("content hash %q: want sha256: or blake3: and 64 lowercase hex digits", s)
	}
	return ContentHash(s), nil
}

// UnmarshalText checks the form when decoding.
func (h *ContentHash) UnmarshalText(b []byte) error {
	p, err := ParseContentHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// Algorithm returns the hash's algorithm name.
func (h ContentHash) Algorithm() string { a, _, _ := strings.Cut(string(h), ":"); return a }

// Hex returns the hash's digest in hex.
func (h ContentHash) Hex() string { _, x, _ := strings.Cut(string(h), ":"); return x }

// --- state keys ---
//
// Under "registry/":
//
//	ds/<id>                  dataset
//	md/<id>                  model
//	rn/<id>                  training run
//	wk/<content hash>        work
//	nm/<model name>          owner of a model name
//	al/<name>@<alias>        model an alias points at
//	ah/<name>@<alias>/<n>    the n-th move of an alias (8-byte big-endian n)
//	an/<name>@<alias>        how many moves it has had
//	dn/<content hash>        deny-list entry
//	dx/<height>/<hash>       deny-list deadlines (8-byte big-endian height)
//	fl/<record id>/<hash>    flag of a record by a deny-listed hash
//	ow/<owner>/<id>          records by owner
//	us/<id>/<user id>        records that name id in their lineage

// Key prefixes (relative to the module store).
const (
	pDataset = "ds/"
	pModel   = "md/"
	pRun     = "rn/"
	pWork    = "wk/"
	pName    = "nm/"
	pAlias   = "al/"
	pAliasH  = "ah/"
	pAliasN  = "an/"
	pDeny    = "dn/"
	pDeadln  = "dx/"
	pFlag    = "fl/"
	pOwner   = "ow/"
	pUsers   = "us/"
)

// StateKey returns the full state key of a record kind and id, for proofs:
// kind is "dataset", "model", "run", "work", "deny" or "alias".
func StateKey(kind, id string) ([]byte, error) {
	var p string
	switch kind {
	case "dataset":
		p = pDataset
	case "model":
		p = pModel
	case "run":
		p = pRun
	case "work":
		p = pWork
	case "deny":
		p = pDeny
	case "alias":
		p = pAlias
	default:
		return nil, fmt.Errorf("unknown record kind %q", kind)
	}
	return []byte(Name + "/" + p + id), nil
}

func store(ctx *ledger.Context) ledger.KV { return ctx.Store(Name) }

func get[T any](ctx *ledger.Context, key string) (*T, bool) {
	return ledger.GetJSON[T](store(ctx), []byte(key))
}

func put(ctx *ledger.Context, key string, v any) {
	store(ctx).Set([]byte(key), ledger.MustEncodeJSON(v))
}

// ManifestRecord returns the identity and the Content of a built manifest
// whose canonical statement is stored under manifestCID: what a
// registration message carries.
func ManifestRecord(m *manifest.Manifest, files int, size int64, manifestCID string) (ID, Content) {
	t := m.Tree()
	return ID(m.Identity().String()), Content{
		ManifestCID: manifestCID,
		HashType:    string(m.Serialization.HashType),
		Size:        uint64(size),
		Files:       uint64(files),
		MerkleRoot:  hex.EncodeToString(t.Root()),
		Resources:   t.Size(),
	}
}
