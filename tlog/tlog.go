// Package tlog runs vai's verifiable logs: append-only Merkle logs of AI
// records (inference records, training events, agent actions) whose
// checkpoints the chain witnesses.
//
// # Logs
//
// A Log is a C2SP tlog-tiles log kept by transparency-dev/tessera's POSIX
// driver in a directory. Entries are at most MaxEntrySize bytes; Append
// returns an entry's index only once tessera has written it durably (the
// batch is fsynced and integrated into the tree), so an acknowledged entry
// survives a crash. Appends are batched: concurrent callers share one write.
// Checkpoints are C2SP signed notes by the log's operator key (ed25519),
// republished on an interval; Await waits until a checkpoint covers an index.
//
// A Manager holds the logs of a node under one directory:
//
//	<dir>/<name>/log.json       the log's description (origin, purpose, public key)
//	<dir>/<name>/operator.key   the operator's note signing key (mode 0600)
//	<dir>/<name>/tiles/         tessera's POSIX tree: checkpoint, tile/, .state/
//
// # Serving
//
// Handler serves every log as tlog-tiles under /logs/{name}/ (checkpoint,
// tiles, entry bundles), plus a small JSON API to create logs, append and
// publish. Only paths that parse as tlog-tiles resources are served: never
// tessera's private .state/, a temporary file, a key or a directory listing.
// A missing partial tile is a 404, as clients fall back to the full tile.
//
// # Witnessing
//
// Publisher submits each new checkpoint to the chain's logs module with a
// consistency proof from the last witnessed one, so no log can show two
// histories. ProofFile (a C2SP tlog-proof) carries an inclusion proof, a
// checkpoint the chain witnessed and, in its extra data, the entry and the
// chain's evidence (ICS23 proofs and light blocks) for offline verification.
// Monitor follows a log and checks everything it serves against what the
// chain witnessed.
package tlog

import (
	"errors"
	"regexp"
)

// MaxEntrySize is the largest entry a log accepts: tlog-tiles entry
// bundles prefix each entry with a 16-bit length.
const MaxEntrySize = 1<<16 - 1

// Errors callers can branch on.
var (
	ErrNotFound      = errors.New("log not found")
	ErrExists        = errors.New("log already exists")
	ErrBadName       = errors.New("invalid log name")
	ErrEntryTooLarge = errors.New("entry too large")
	ErrEmptyEntry    = errors.New("empty entry")
	ErrClosed        = errors.New("log closed")
	// ErrInconsistent: what a log serves contradicts itself or what the
	// chain witnessed (a rewritten entry, a tampered tile, a fork).
	ErrInconsistent = errors.New("log inconsistent")
	// ErrVerify: a proof or signature does not verify.
	ErrVerify = errors.New("verification failed")
)

// Purposes a log can be registered with.
const (
	PurposeInference = "inference"
	PurposeTraining  = "training"
	PurposeAgent     = "agent"
	PurposeCustom    = "custom"
)

// ValidPurpose reports whether p is a known purpose.
func ValidPurpose(p string) bool {
	switch p {
	case PurposeInference, PurposeTraining, PurposeAgent, PurposeCustom:
		return true
	}
	return false
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidName reports whether name can name a log: 1-64 lowercase letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Origin is the checkpoint origin of log name on chain chainID. It is
// also the name of the operator's note key.
func Origin(chainID, name string) string { return chainID + "/logs/" + name }
