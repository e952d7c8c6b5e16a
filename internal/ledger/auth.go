package ledger

import (
	"encoding/binary"
	"math"

	"github.com/vai-dev/vai/wire"
)

// Replay protection that tolerates reordering (DESIGN D5).
//
// CometBFT does not keep one sender's transactions in order across
// validators, so a strict "sequence must equal the account's next" rule
// strands accounts: transaction n+1 reaching a proposer before n fails, and
// so does every later one. vai uses a sliding window instead, like IPsec's
// anti-replay window:
//
//   - An account has Next, the lowest sequence never used, and a bitmap of
//     the sequences in (Next, Next+W] that are used already (W = the
//     sequence_window parameter, at most 64).
//   - A transaction with sequence s is accepted iff Next <= s <= Next+W and
//     s is not used; s is then marked used and Next advances past every
//     used sequence.
//   - Below Next or already marked: ErrSequenceUsed (a replay). Beyond the
//     window: ErrSequenceTooHigh.
//
// Each sequence executes at most once, in any order within the window. A
// client that sends transactions s, s+1, … concurrently can have them
// included in any order. A transaction that is never included leaves a gap
// that holds Next back; once the client knows it cannot be included any more
// (its timeout height has passed), it reuses that sequence for a new
// transaction. The CLI sets a timeout height on every transaction so that
// "not included by height T" is decidable and resubmission can never execute
// twice.
//
// A transaction that fails ante checks (signature, fee, sequence) consumes
// nothing. One that passes them but whose messages fail pays its fee and
// consumes its sequence, so it can never execute later.

// Account is the replay state of one address.
type Account struct {
	Next uint64 `json:"next_sequence"`
	// Used has bit i set when sequence Next+1+i is used.
	Used uint64 `json:"used_ahead_bitmap"`
}

// UsedAhead lists the used sequences above Next.
func (a Account) UsedAhead() []uint64 {
	var out []uint64
	for i := uint64(0); i < 64; i++ {
		if a.Used&(1<<i) != 0 {
			out = append(out, a.Next+1+i)
		}
	}
	return out
}

// NextFree returns the lowest unused sequence.
func (a Account) NextFree() uint64 { return a.Next }

// Check reports whether sequence s may be used now under window w.
func (a Account) Check(s, w uint64) error {
	switch {
	case s < a.Next:
		return ErrSequenceUsed.Wrapf("sequence %d is below the account's next sequence %d", s, a.Next)
	case s == a.Next:
		if a.Next == math.MaxUint64 {
			return ErrSequenceTooHigh.Wrapf("sequence space exhausted")
		}
		return nil
	case s-a.Next > w:
		return ErrSequenceTooHigh.Wrapf("sequence %d is more than %d ahead of the account's next sequence %d", s, w, a.Next)
	case a.Used&(1<<(s-a.Next-1)) != 0:
		return ErrSequenceUsed.Wrapf("sequence %d already used", s)
	}
	return nil
}

// Use marks s used (Check must have passed) and slides the window.
func (a Account) Use(s uint64) Account {
	if s > a.Next {
		a.Used |= 1 << (s - a.Next - 1)
		return a
	}
	// s == a.Next: advance past s and every used sequence right after it.
	a.Next++
	for a.Used&1 != 0 {
		a.Used >>= 1
		a.Next++
	}
	a.Used >>= 1
	return a
}

const authPrefix = "auth/"

func accountKey(addr wire.Address) []byte {
	return append([]byte(authPrefix+"a/"), addr[:]...)
}

// AccountKey is the state key of an account's replay state, for proofs.
func AccountKey(addr wire.Address) []byte { return accountKey(addr) }

// GetAccount reads an account's replay state; an unknown account is zero.
func GetAccount(ctx *Context, addr wire.Address) Account {
	return DecodeAccount(ctx.kv.Get(accountKey(addr)))
}

// DecodeAccount decodes the stored form of an Account (nil is zero).
func DecodeAccount(b []byte) Account {
	if len(b) != 16 {
		return Account{}
	}
	return Account{Next: binary.BigEndian.Uint64(b), Used: binary.BigEndian.Uint64(b[8:])}
}

func setAccount(ctx *Context, addr wire.Address, a Account) {
	b := binary.BigEndian.AppendUint64(nil, a.Next)
	ctx.kv.Set(accountKey(addr), binary.BigEndian.AppendUint64(b, a.Used))
}
