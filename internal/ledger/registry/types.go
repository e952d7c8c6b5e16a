package registry

import (
	"time"

	"github.com/vai-dev/vai/wire"
)

// Contributor is a dataset contributor and their integer share, used to
// split royalties pro rata.
type Contributor struct {
	Address wire.Address `json:"address"`
	Weight  uint64       `json:"weight"`
}

// Content describes a registered manifest: where it is, and the Merkle
// commitment to its resources against which files are proven.
type Content struct {
	// ManifestCID is the CID of the canonical manifest statement in the
	// content store.
	ManifestCID string `json:"manifest_cid"`
	// HashType is the manifest's content hash (sha256, blake2b or blake3).
	HashType string `json:"hash_type"`
	Size     uint64 `json:"size"`
	Files    uint64 `json:"files"`
	// MerkleRoot (hex) and Resources are the RFC 6962 Merkle tree over the
	// manifest's resources (manifest.LeafData): a file is proven to be in
	// the record with an inclusion proof against them.
	MerkleRoot string `json:"merkle_root"`
	Resources  uint64 `json:"resources"`
}

// Stamp is when and by whom something was recorded.
type Stamp struct {
	Height int64     `json:"height"`
	Time   time.Time `json:"time"`
}

// Dataset is a registered dataset.
type Dataset struct {
	ID           ID            `json:"id"`
	Name         string        `json:"name"`
	License      string        `json:"license"`
	Owner        wire.Address  `json:"owner"`
	Contributors []Contributor `json:"contributors"`
	Parents      []ID          `json:"parents"`
	Content
	Registered Stamp      `json:"registered"`
	Withdrawn  *Tombstone `json:"withdrawn,omitempty"`
}

// Tombstone records a dataset's withdrawal (consent withdrawn).
type Tombstone struct {
	Stamp
	Reason string `json:"reason"`
}

// Terms are a model's usage terms.
type Terms struct {
	// Price per inference call.
	Price wire.Coin `json:"price"`
	// RoyaltyBps is the share of the model's revenue (in basis points)
	// that goes to the contributors of its datasets.
	RoyaltyBps uint32 `json:"royalty_bps"`
}

// Model is a registered model checkpoint.
type Model struct {
	ID           ID           `json:"id"`
	Name         string       `json:"name"`
	Format       string       `json:"format,omitempty"`
	Architecture string       `json:"architecture,omitempty"`
	License      string       `json:"license"`
	Owner        wire.Address `json:"owner"`
	Terms        Terms        `json:"terms"`
	Base         ID           `json:"base,omitempty"`
	Datasets     []ID         `json:"datasets"`
	Run          ID           `json:"run,omitempty"`
	// ZKCommitment is the zkML weight commitment (package zkml: a salted
	// Poseidon2 hash of the weights, 0x-hex field element) that proofs of
	// this model's inferences must carry; set at registration or once later.
	ZKCommitment string `json:"zk_commitment,omitempty"`
	Content
	Registered Stamp `json:"registered"`
}

// Run is a recorded training run: an SLSA Provenance v1 statement signed by
// the trainer, binding a checkpoint to its datasets, base model,
// hyper-parameters and code.
type Run struct {
	ID      ID           `json:"id"`
	Trainer wire.Address `json:"trainer"`
	// TrainerKey is the trainer's ed25519 public key, so the signature can
	// be checked by anyone who has the statement.
	TrainerKey   []byte `json:"trainer_key"`
	StatementCID string `json:"statement_cid"`
	// Signature is the trainer's ed25519 signature over the statement's
	// DSSE PAE (payload type application/vnd.in-toto+json).
	Signature []byte `json:"signature"`
	// Checkpoint is the manifest identity of the trained checkpoint (the
	// statement's subject).
	Checkpoint ID   `json:"checkpoint"`
	Datasets   []ID `json:"datasets"`
	Base       ID   `json:"base,omitempty"`
	// HyperparamsDigest is the SHA-256 of the RFC 8785 form of
	// externalParameters.hyperparameters.
	HyperparamsDigest string `json:"hyperparams_digest"`
	CodeURI           string `json:"code_uri"`
	CodeDigest        string `json:"code_digest"`
	AttestationCID    string `json:"attestation_cid,omitempty"`
	Registered        Stamp  `json:"registered"`
}

// Claims a work can make.
const (
	ClaimHuman       = "human"
	ClaimAIGenerated = "ai-generated"
	ClaimAIAssisted  = "ai-assisted"
)

// Work is a registered piece of content with an authorship claim.
type Work struct {
	Hash    ContentHash  `json:"hash"`
	Name    string       `json:"name,omitempty"`
	Creator wire.Address `json:"creator"`
	Claim   string       `json:"claim"`
	// Model is the model that generated or assisted the work, if any.
	Model      ID    `json:"model,omitempty"`
	Registered Stamp `json:"registered"`
}

// AliasMove is one move of a model alias.
type AliasMove struct {
	Alias string       `json:"alias"` // NAME@ALIAS
	Model ID           `json:"model"`
	From  ID           `json:"from,omitempty"`
	Mover wire.Address `json:"mover"`
	Stamp
}

// Deny-list entry states.
const (
	// DenyPending: within the dispute window; anyone may dispute.
	DenyPending = "pending"
	// DenyActive: in force; records containing the hash can be flagged.
	DenyActive = "active"
	// DenyDisputed: disputed; the holder may appeal within the window.
	DenyDisputed = "disputed"
	// DenyAppealed: appealed; an arbiter decides.
	DenyAppealed = "appealed"
	// DenyRejected: the dispute won; the entry has no force.
	DenyRejected = "rejected"
)

// Deny is a deny-list entry: a rights holder's claim that content with this
// hash must not be used.
type Deny struct {
	Hash   ContentHash  `json:"hash"`
	Holder wire.Address `json:"holder"`
	Reason string       `json:"reason"`
	State  string       `json:"state"`
	Added  Stamp        `json:"added"`
	// Deadline is the height at which the current window closes.
	Deadline int64 `json:"deadline"`
	// Bonds held in the registry's account for this entry.
	HolderBond  wire.Coin    `json:"holder_bond"`
	Disputer    wire.Address `json:"disputer,omitempty"`
	DisputeBond wire.Coin    `json:"dispute_bond"`
	DisputeNote string       `json:"dispute_reason,omitempty"`
	Decided     *Stamp       `json:"decided,omitempty"`
	DecidedBy   wire.Address `json:"decided_by,omitempty"`
}

// Bonds returns the total this entry holds in the registry's account.
func (d *Deny) Bonds() uint64 { return d.HolderBond.Amount + d.DisputeBond.Amount }

// Flag records that a record contains deny-listed content, proven by a
// Merkle inclusion proof.
type Flag struct {
	Record  ID           `json:"record"`
	Hash    ContentHash  `json:"hash"`
	File    string       `json:"file"`
	Flagger wire.Address `json:"flagger"`
	Stamp
}

// Params are the registry's parameters.
type Params struct {
	// Bonds for the deny-list process, held until it ends.
	DenyBond    wire.Coin `json:"deny_bond"`
	DisputeBond wire.Coin `json:"dispute_bond"`
	AppealBond  wire.Coin `json:"appeal_bond"`
	// Windows, in blocks.
	DisputeWindow int64 `json:"dispute_window"`
	AppealWindow  int64 `json:"appeal_window"`
	// Arbiters decide appealed disputes.
	Arbiters []wire.Address `json:"arbiters"`
}

// DefaultParams are a new chain's parameters.
func DefaultParams() Params {
	return Params{
		DenyBond:      wire.UVAI(10_000_000),
		DisputeBond:   wire.UVAI(10_000_000),
		AppealBond:    wire.UVAI(10_000_000),
		DisputeWindow: 100,
		AppealWindow:  100,
		Arbiters:      []wire.Address{},
	}
}
