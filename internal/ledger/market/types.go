package market

import (
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// Provider is a staked compute provider.
type Provider struct {
	Address wire.Address `json:"address"`
	// PubKey is the provider's ed25519 key: it verifies receipts.
	PubKey   []byte    `json:"pub_key"`
	Stake    wire.Coin `json:"stake"`
	Endpoint string    `json:"endpoint"`
	// Hardware describes the machine (free-form attributes, e.g. cpu, gpu,
	// memory), and Modes the verification modes it accepts.
	Hardware map[string]string `json:"hardware"`
	Modes    []string          `json:"modes"`
	// Capacity is how many assignments it takes at once; Active how many
	// it holds.
	Capacity uint32 `json:"capacity"`
	Active   uint32 `json:"active"`
	// EncryptionKey is an age X25519 recipient: model owners encrypt
	// weights to it (market/grant).
	EncryptionKey string `json:"encryption_key,omitempty"`
	// Endorsements by auditors of the current hardware attributes.
	Endorsements []wire.Address `json:"endorsements"`
	// Reputation is a moving average of outcomes, in basis points.
	Reputation uint32 `json:"reputation"`
	Delivered  uint64 `json:"delivered"`
	Failed     uint64 `json:"failed"`
	Slashed    uint64 `json:"slashed"`
	// Strikes counts consecutive failures; JailedUntil > height means it
	// is not assigned work.
	Strikes     uint32      `json:"strikes"`
	JailedUntil int64       `json:"jailed_until,omitempty"`
	Unbonding   []Unbonding `json:"unbonding"`
	Registered  int64       `json:"registered"`
}

// Unbonding is stake on its way out.
type Unbonding struct {
	Amount  wire.Coin `json:"amount"`
	Release int64     `json:"release"`
}

// Bonded returns all the provider's slashable stake.
func (p *Provider) Bonded() uint64 {
	t := p.Stake.Amount
	for _, u := range p.Unbonding {
		t += u.Amount.Amount
	}
	return t
}

// ServeEntry is one model a provider serves and its compute price per call.
type ServeEntry struct {
	Model registry.ID `json:"model"`
	Price wire.Coin   `json:"price"`
}

// Offer is a model its owner put on the market.
type Offer struct {
	Model registry.ID  `json:"model"`
	Owner wire.Address `json:"owner"`
	// Price per call to the model owner (part of which is the data
	// contributors' royalty, per the model's registered terms).
	Price wire.Coin `json:"price"`
	// ArtifactDigest is the SHA-256 (hex) of the runnable artifact (a
	// .vaim, or for format "openai" the owner's endpoint description);
	// providers check what they fetch against it.
	ArtifactDigest string `json:"artifact_digest"`
	// Format is "vaim" (the deterministic runtime: any mode) or "openai"
	// (an external OpenAI-compatible server: optimistic or tee only).
	Format string `json:"format"`
	// PublicCID, if set, is where anyone can fetch the artifact; otherwise
	// the owner grants it to providers one by one, encrypted.
	PublicCID string `json:"public_cid,omitempty"`
	Active    bool   `json:"active"`
}

// Grant is a model's artifact encrypted to one provider.
type Grant struct {
	Model    registry.ID  `json:"model"`
	Provider wire.Address `json:"provider"`
	CID      string       `json:"cid"`
}

// Job states.
const (
	StateOpen      = "open"      // waiting for providers
	StateRunning   = "running"   // executors assigned, results being committed
	StateRevealing = "revealing" // redundant: every result committed, reveals due
	StateChallenge = "challenge" // optimistic: result in, challenge window open
	StateDisputed  = "disputed"  // optimistic: challenged, arbiters re-execute
	StateClosed    = "closed"
)

// Close reasons.
const (
	CloseSettled      = "settled"      // result accepted, everyone paid
	CloseUpheld       = "upheld"       // challenged, the result stood
	CloseOverturned   = "overturned"   // challenged, the arbiters' result replaced it
	CloseExpired      = "expired"      // deadline passed: refunded
	CloseInconclusive = "inconclusive" // no majority and no budget to break the tie: refunded
	CloseCancelled    = "cancelled"    // the buyer cancelled before assignment: refunded
)

// Assignment roles and states.
const (
	RoleExecutor = "executor"
	RoleArbiter  = "arbiter"

	AsgAssigned  = "assigned"
	AsgCommitted = "committed"
	AsgRevealed  = "revealed"
	AsgDeclined  = "declined"
	AsgTimedOut  = "timed_out"
	AsgPaid      = "paid"
	AsgSlashed   = "slashed"
	AsgUnpaid    = "unpaid" // revealed, but the job closed without a verdict
)

// Assignment is one provider's part in a job.
type Assignment struct {
	Provider wire.Address `json:"provider"`
	Role     string       `json:"role"`
	Price    wire.Coin    `json:"price"`
	Assigned int64        `json:"assigned"`
	State    string       `json:"state"`
	// Commitment is SHA-256 over the output (commit-reveal), Output the
	// revealed output digest and OutputCID where the output is.
	Commitment []byte `json:"commitment,omitempty"`
	Output     []byte `json:"output,omitempty"`
	OutputCID  string `json:"output_cid,omitempty"`
}

// open reports whether the assignment still holds a capacity slot.
func (a *Assignment) open() bool {
	return a.State == AsgAssigned || a.State == AsgCommitted || a.State == AsgRevealed
}

// Result is a job's accepted output.
type Result struct {
	Output    []byte       `json:"output"`
	OutputCID string       `json:"output_cid"`
	Provider  wire.Address `json:"provider"`
	Height    int64        `json:"height"`
	// Evidence is the proof or attestation a zk or tee result was
	// accepted on, kept for audits (a zk proof can be checked again, on
	// Ethereum too).
	Evidence []byte `json:"evidence,omitempty"`
}

// Challenge of an optimistic result.
type Challenge struct {
	Challenger wire.Address `json:"challenger"`
	Bond       wire.Coin    `json:"bond"`
	Height     int64        `json:"height"`
}

// Closing says how a job ended.
type Closing struct {
	Reason string    `json:"reason"`
	Height int64     `json:"height"`
	Cost   wire.Coin `json:"cost"`
	Refund wire.Coin `json:"refund"`
}

// Job is an inference job paid from escrow.
type Job struct {
	ID          uint64       `json:"id"`
	Buyer       wire.Address `json:"buyer"`
	Model       registry.ID  `json:"model"`
	InputCID    string       `json:"input_cid"`
	InputDigest []byte       `json:"input_digest"`
	Mode        Mode         `json:"mode"`
	// Providers, if set, are the only ones the job may go to; Encrypted:
	// the input is encrypted to their keys.
	Providers []wire.Address `json:"providers,omitempty"`
	Encrypted bool           `json:"encrypted,omitempty"`
	// Budget is what the buyer escrowed; ModelPrice the offer's price when
	// the job was submitted.
	Budget     wire.Coin `json:"budget"`
	ModelPrice wire.Coin `json:"model_price"`
	// Deadline is the height by which the job must be settled, or it is
	// refunded.
	Deadline    int64        `json:"deadline"`
	State       string       `json:"state"`
	Submitted   int64        `json:"submitted"`
	Assignments []Assignment `json:"assignments"`
	// Need is how many more providers the scheduler must assign.
	Need      uint32     `json:"need"`
	Rounds    uint32     `json:"rounds"`
	Result    *Result    `json:"result,omitempty"`
	Challenge *Challenge `json:"challenge,omitempty"`
	Closing   *Closing   `json:"closing,omitempty"`
	// WindowEnd closes the current reveal or challenge window.
	WindowEnd int64 `json:"window_end,omitempty"`
	// Due is the height of the job's next deadline in the index.
	Due int64 `json:"due,omitempty"`
	// Split is who the settlement paid, net of protocol fees (executors'
	// shares vest).
	Split []Payment `json:"split,omitempty"`
}

// Payment kinds.
const (
	PayOwner    = "owner"    // the model's owner
	PayRoyalty  = "royalty"  // a contributor to a dataset of the model's lineage
	PayExecutor = "executor" // a provider that ran the job
)

// Payment is one share of a settlement.
type Payment struct {
	To     wire.Address `json:"to"`
	Kind   string       `json:"kind"`
	Amount wire.Coin    `json:"amount"`
}

// Vesting is a payment released at a height.
type Vesting struct {
	To      wire.Address `json:"to"`
	Amount  wire.Coin    `json:"amount"`
	Job     uint64       `json:"job"`
	Release int64        `json:"release"`
}
