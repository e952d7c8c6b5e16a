package ledger

// Codespace of the errors the ledger core itself returns.
const Codespace = "ledger"

// ErrInternal is code 1 of the ledger codespace: a bug, never the user's fault.
var ErrInternal = InternalError(Codespace)

// Transaction-level errors. Append only: never renumber or reuse a code.
var (
	ErrTxTooLarge      = Register(Codespace, 2, KindTooLarge, "transaction too large")
	ErrTxMalformed     = Register(Codespace, 3, KindInvalid, "malformed transaction")
	ErrTxNotCanonical  = Register(Codespace, 4, KindInvalid, "transaction envelope not canonical")
	ErrSignature       = Register(Codespace, 5, KindUnauthorized, "invalid signature")
	ErrWrongChain      = Register(Codespace, 6, KindInvalid, "wrong chain id")
	ErrSequenceUsed    = Register(Codespace, 7, KindConflict, "sequence already used")
	ErrSequenceTooHigh = Register(Codespace, 8, KindInvalid, "sequence too far ahead")
	ErrTxExpired       = Register(Codespace, 9, KindExpired, "transaction timeout height passed")
	ErrInsufficientFee = Register(Codespace, 10, KindInsufficient, "insufficient fee")
	ErrUnknownMsg      = Register(Codespace, 11, KindInvalid, "unknown message type")
	ErrInvalidMsg      = Register(Codespace, 12, KindInvalid, "invalid message")
	ErrCannotPayFee    = Register(Codespace, 13, KindInsufficient, "insufficient funds to pay the fee")
	ErrInvalidBody     = Register(Codespace, 14, KindInvalid, "invalid transaction body")
	ErrUnknownQuery    = Register(Codespace, 15, KindNotFound, "unknown query")
	ErrInvalidQuery    = Register(Codespace, 16, KindInvalid, "invalid query")
	ErrNotFound        = Register(Codespace, 17, KindNotFound, "not found")
	ErrInvalidGenesis  = Register(Codespace, 18, KindInvalid, "invalid genesis")
	ErrHeightNotStored = Register(Codespace, 19, KindNotFound, "height not available")
	ErrInvariantBroken = Register(Codespace, 20, KindInternal, "invariant broken")
	ErrOverflow        = Register(Codespace, 21, KindInvalid, "arithmetic overflow")
	ErrInvalidParams   = Register(Codespace, 22, KindInvalid, "invalid parameters")
)
