// Package market is the ledger module of the verifiable inference market:
// staked providers, model offers, jobs paid from escrow, verification of
// results by redundancy, optimistic challenge or pluggable verifiers (zk,
// tee), settlement that pays the provider, the model owner and the
// contributors of the model's datasets, reputation, jailing and slashing.
//
// All funds in flight — stakes, unbonding stakes, job escrow, challenge
// bonds, vesting payments — are the market account's balance, and an
// invariant ties that balance to the records.
//
// The scheduler runs in EndBlock: it assigns open jobs to eligible
// providers by weighted draws whose randomness is derived from the block
// hash, enforces deadlines (a silent provider is penalised and its job
// re-opened), settles optimistic jobs whose challenge window closed, expires
// jobs past their deadline (refunding the buyer) and releases vested
// payments. Every path that moves money on a deadline is also reachable by
// anyone through market/settle.
package market

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// Name is the module's name, key prefix, codespace and module account.
const Name = "market"

var moduleAddr = wire.ModuleAddress(Name)

// Errors. Append only.
var (
	ErrProvider     = ledger.Register(Name, 2, ledger.KindInvalid, "invalid provider")
	ErrNotProvider  = ledger.Register(Name, 3, ledger.KindNotFound, "not a registered provider")
	ErrStake        = ledger.Register(Name, 4, ledger.KindInsufficient, "insufficient stake")
	ErrOffer        = ledger.Register(Name, 5, ledger.KindInvalid, "invalid model offer")
	ErrNotOffered   = ledger.Register(Name, 6, ledger.KindNotFound, "model not offered")
	ErrJob          = ledger.Register(Name, 7, ledger.KindInvalid, "invalid job")
	ErrJobNotFound  = ledger.Register(Name, 8, ledger.KindNotFound, "job not found")
	ErrJobState     = ledger.Register(Name, 9, ledger.KindConflict, "job is not in a state that allows this")
	ErrNotAssigned  = ledger.Register(Name, 10, ledger.KindUnauthorized, "not assigned to this job")
	ErrCommitment   = ledger.Register(Name, 11, ledger.KindInvalid, "reveal does not match commitment")
	ErrWindow       = ledger.Register(Name, 12, ledger.KindExpired, "outside the allowed window")
	ErrBudget       = ledger.Register(Name, 13, ledger.KindInsufficient, "budget too small")
	ErrUnauthorized = ledger.Register(Name, 14, ledger.KindUnauthorized, "not allowed")
	ErrMode         = ledger.Register(Name, 15, ledger.KindInvalid, "unsupported verification mode")
	ErrJailed       = ledger.Register(Name, 16, ledger.KindConflict, "provider jailed")
	ErrOverflow     = ledger.Register(Name, 17, ledger.KindInvalid, "amount overflow")
	ErrNothingToPay = ledger.Register(Name, 18, ledger.KindNotFound, "nothing to withdraw")
	ErrVerification = ledger.Register(Name, 19, ledger.KindInvalid, "result verification failed")
	ErrBatch        = ledger.Register(Name, 20, ledger.KindInvalid, "invalid batch")
)

// Verification modes.
const (
	ModeRedundant  = "redundant"
	ModeOptimistic = "optimistic"
	ModeZK         = "zk"
	ModeTEE        = "tee"
)

// Mode is a job's verification mode: "redundant:K", "optimistic", "zk" or
// "tee".
type Mode struct {
	Kind string
	K    uint32 // redundant: how many providers run the job
}

// ParseMode parses a verification mode.
func ParseMode(s string) (Mode, error) {
	kind, k, hasK := strings.Cut(s, ":")
	switch kind {
	case ModeRedundant:
		if !hasK {
			return Mode{}, ErrMode.Wrapf("%q: redundant needs a count, e.g. redundant:2", s)
		}
		n, err := strconv.ParseUint(k, 10, 32)
		if err != nil || n < 2 {
			return Mode{}, ErrMode.Wrapf("%q: the count must be at least 2", s)
		}
		return Mode{Kind: kind, K: uint32(n)}, nil
	case ModeOptimistic, ModeZK, ModeTEE:
		if hasK {
			return Mode{}, ErrMode.Wrapf("%q: %s takes no count", s, kind)
		}
		return Mode{Kind: kind, K: 1}, nil
	}
	return Mode{}, ErrMode.Wrapf("%q (want redundant:K, optimistic, zk or tee)", s)
}

func (m Mode) String() string {
	if m.Kind == ModeRedundant {
		return fmt.Sprintf("%s:%d", m.Kind, m.K)
	}
	return m.Kind
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	p, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// ResultVerifier checks a result in a mode the market does not check
// itself (zk, tee): the modules that can do it register one. Verify must
// be deterministic; gas prices what it costs.
type ResultVerifier interface {
	Verify(ctx *ledger.Context, job *Job, provider wire.Address, outputDigest []byte, evidence []byte) error
	Gas(evidence []byte) uint64
}

// Keeper is the market's Go API.
type Keeper struct {
	bank      *bank.Keeper
	verifiers map[string]ResultVerifier
}

// Module is the market ledger module.
type Module struct {
	*Keeper
}

var (
	_ ledger.Module     = (*Module)(nil)
	_ ledger.EndBlocker = (*Module)(nil)
)

// New returns the market module. Verifiers map modes (zk, tee) to what
// checks their results; a mode without one refuses jobs.
func New(b *bank.Keeper, verifiers map[string]ResultVerifier) *Module {
	return &Module{Keeper: &Keeper{bank: b, verifiers: verifiers}}
}

// Name implements ledger.Module.
func (*Module) Name() string { return Name }

// Params are the market's parameters.
type Params struct {
	// MinStake a provider must keep bonded to be assigned jobs.
	MinStake wire.Coin `json:"min_stake"`
	// UnbondingBlocks before unbonded stake can be withdrawn (and during
	// which it can still be slashed).
	UnbondingBlocks int64 `json:"unbonding_blocks"`
	// ProtocolFeeBps of every payment goes to the fee pool.
	ProtocolFeeBps uint32 `json:"protocol_fee_bps"`
	// AssignTimeout: blocks an assigned provider has to commit a result.
	AssignTimeout int64 `json:"assign_timeout"`
	// RevealTimeout: blocks to reveal once every result is committed.
	RevealTimeout int64 `json:"reveal_timeout"`
	// ChallengeWindow: blocks an optimistic result can be challenged.
	ChallengeWindow int64 `json:"challenge_window"`
	// VestingBlocks: a provider's share is paid this long after settlement.
	VestingBlocks int64 `json:"vesting_blocks"`
	// ChallengeBond a challenger puts up.
	ChallengeBond wire.Coin `json:"challenge_bond"`
	// Arbiters who re-execute a challenged job.
	Arbiters uint32 `json:"arbiters"`
	// SlashBps of a provider's stake is slashed for a wrong result;
	// SlashRewardBps of the slashed amount goes to whoever proved it, the
	// rest is burned.
	SlashBps       uint32 `json:"slash_bps"`
	SlashRewardBps uint32 `json:"slash_reward_bps"`
	// LatePenaltyBps of its stake a provider loses for missing a deadline.
	LatePenaltyBps uint32 `json:"late_penalty_bps"`
	// JailAfter consecutive failures jail a provider for JailBlocks.
	JailAfter  uint32 `json:"jail_after"`
	JailBlocks int64  `json:"jail_blocks"`
	// ReputationAlphaBps is the weight of each new outcome in the
	// reputation's moving average.
	ReputationAlphaBps uint32 `json:"reputation_alpha_bps"`
	MaxRedundancy      uint32 `json:"max_redundancy"`
	// MaxAssignPerBlock and MaxDuePerBlock bound the scheduler's work in
	// one block: assignments made, and deadlines acted on (the rest wait
	// for the next block, or for anyone's market/settle).
	MaxAssignPerBlock uint32 `json:"max_assign_per_block"`
	MaxDuePerBlock    uint32 `json:"max_due_per_block"`
}

// DefaultParams are a new chain's parameters.
func DefaultParams() Params {
	return Params{
		MinStake:           wire.UVAI(100_000_000),
		UnbondingBlocks:    100,
		ProtocolFeeBps:     200,
		AssignTimeout:      20,
		RevealTimeout:      10,
		ChallengeWindow:    20,
		VestingBlocks:      20,
		ChallengeBond:      wire.UVAI(10_000_000),
		Arbiters:           3,
		SlashBps:           1_000,
		SlashRewardBps:     5_000,
		LatePenaltyBps:     100,
		JailAfter:          3,
		JailBlocks:         100,
		ReputationAlphaBps: 1_000,
		MaxRedundancy:      5,
		MaxAssignPerBlock:  2_000,
		MaxDuePerBlock:     5_000,
	}
}

// Validate checks the parameters.
func (p Params) Validate() error {
	switch {
	case p.ProtocolFeeBps > 10_000, p.SlashBps > 10_000, p.SlashRewardBps > 10_000, p.LatePenaltyBps > 10_000, p.ReputationAlphaBps > 10_000:
		return fmt.Errorf("basis points above 10000")
	case p.AssignTimeout < 1, p.RevealTimeout < 1, p.ChallengeWindow < 1, p.VestingBlocks < 0, p.UnbondingBlocks < 0, p.JailBlocks < 0:
		return fmt.Errorf("windows must be positive")
	case p.Arbiters < 1 || p.Arbiters%2 == 0:
		return fmt.Errorf("arbiters must be odd and at least 1")
	case p.MaxRedundancy < 2:
		return fmt.Errorf("max_redundancy must be at least 2")
	case p.MaxAssignPerBlock < 1, p.MaxDuePerBlock < 1:
		return fmt.Errorf("max_assign_per_block and max_due_per_block must be positive")
	}
	return nil
}

func params(ctx *ledger.Context) Params {
	p, ok := get[Params](ctx, kParams)
	if !ok {
		return DefaultParams()
	}
	return *p
}

// --- state keys ---
//
// Under "market/":
//
//	params
//	pv/<provider>            provider
//	pm/<model>/<provider>    the provider serves the model (price)
//	of/<model>               model offer
//	gr/<model>/<provider>    weights granted to a provider
//	jb/<id>                  job (8-byte big-endian id)
//	jn                       next job id
//	q/<id>                   jobs waiting for providers
//	dl/<height>/<id>         job deadlines to act on at height
//	vs/<height>/<n>          vesting payments released at height
//	vn                       next vesting sequence
//	pa/<provider>/<job>      the provider has an open assignment in the job
//	ss/<id>                  session; sn next session id
//	bt/<id>                  batch; bn next batch id
//	bd/<height>/<batch>      batch windows closing (paid at height)
//	sd/<height>/<session>    sessions expiring (closed at height)
//	sb/<session>/<batch>     a session's pending batches
//	sa/<session>/<batch>     all of a session's batches
//	oj/<id>, os/<id>         jobs and sessions not closed (the invariant and
//	                         listings read these, not every record)
const (
	kParams       = "params"
	pProvider     = "pv/"
	pServes       = "pm/"
	pOffer        = "of/"
	pGrant        = "gr/"
	pJob          = "jb/"
	kJobSeq       = "jn"
	pQueue        = "q/"
	pDeadline     = "dl/"
	pVesting      = "vs/"
	kVestSeq      = "vn"
	pBatch        = "bt/"
	kBatchSeq     = "bn"
	pAssigned     = "pa/"
	pSession      = "ss/"
	kSessionSeq   = "sn"
	pBatchDue     = "bd/"
	pSessionDue   = "sd/"
	pSessionBatch = "sb/"
	pOpenJob      = "oj/"
	pOpenSession  = "os/"
	pSessionAll   = "sa/"
)

func store(ctx *ledger.Context) ledger.KV { return ctx.Store(Name) }

func get[T any](ctx *ledger.Context, key string) (*T, bool) {
	return ledger.GetJSON[T](store(ctx), []byte(key))
}

func put(ctx *ledger.Context, key string, v any) {
	store(ctx).Set([]byte(key), ledger.MustEncodeJSON(v))
}

func idKey(prefix string, id uint64) string { return prefix + string(ledger.PutUint64(id)) }

func nextSeq(ctx *ledger.Context, key string) uint64 {
	n := ledger.Uint64(store(ctx).Get([]byte(key)))
	store(ctx).Set([]byte(key), ledger.PutUint64(n+1))
	return n + 1
}

// modelInfo is what the market reads of a registered model.
func modelInfo(ctx *ledger.Context, id registry.ID) (*registry.Model, error) {
	m, ok := registry.GetModel(ctx, id)
	if !ok {
		return nil, ErrNotOffered.Wrapf("no model %s is registered", id)
	}
	return m, nil
}
