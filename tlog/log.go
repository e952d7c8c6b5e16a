package tlog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Options tune a log's batching and publication.
type Options struct {
	// BatchMaxSize is the most entries written in one batch (default 4096).
	BatchMaxSize uint
	// BatchMaxAge is how long the first entry of a batch waits for others
	// (default 50ms): the price of batching in latency.
	BatchMaxAge time.Duration
	// CheckpointInterval is how often a new checkpoint is signed and
	// published when the tree grew (default 250ms; tessera's least is 100ms).
	CheckpointInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.BatchMaxSize == 0 {
		o.BatchMaxSize = 4096
	}
	if o.BatchMaxAge == 0 {
		o.BatchMaxAge = 50 * time.Millisecond
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 250 * time.Millisecond
	}
	return o
}

// Info describes a log: what log.json holds.
type Info struct {
	Name    string `json:"name"`
	Origin  string `json:"origin"`
	Purpose string `json:"purpose"`
	// OperatorKey is the note verifier key of the operator
	// (origin+keyhash+base64(0x01 || ed25519 public key)).
	OperatorKey string    `json:"operator_key"`
	Created     time.Time `json:"created"`
}

// Files of a log directory.
const (
	infoFile  = "log.json"
	keyFile   = "operator.key"
	tilesDir  = "tiles"
	publisher = "vai/tlog/publisher/v1"
)

// Log is one open log.
type Log struct {
	info      Info
	dir       string
	signer    note.Signer
	verifier  note.Verifier
	publisher ed25519.PrivateKey

	appender *tessera.Appender
	reader   tessera.LogReader
	shutdown func(context.Context) error
	awaiter  *tessera.PublicationAwaiter
	cancel   context.CancelFunc

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
}

// CreateLog makes a new log in dir (which must not hold one): a fresh
// operator key, log.json, and an empty tree with its first checkpoint.
func CreateLog(dir, name, origin, purpose string, o Options) (*Log, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", ErrBadName, name)
	}
	if !ValidPurpose(purpose) {
		return nil, fmt.Errorf("invalid purpose %q: want inference, training, agent or custom", purpose)
	}
	if _, err := os.Stat(filepath.Join(dir, infoFile)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, name)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, fmt.Errorf("failed to generate the operator key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create log %s: %w", name, err)
	}
	if err := writeFileSync(filepath.Join(dir, keyFile), []byte(skey+"\n"), 0o600); err != nil {
		return nil, err
	}
	info := Info{Name: name, Origin: origin, Purpose: purpose, OperatorKey: vkey, Created: time.Now().UTC().Truncate(time.Second)}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := writeFileSync(filepath.Join(dir, infoFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return OpenLog(dir, o)
}

// OpenLog opens the log in dir and starts its background work (batching,
// checkpoint publication). Close it to stop.
func OpenLog(dir string, o Options) (*Log, error) {
	o = o.withDefaults()
	b, err := os.ReadFile(filepath.Join(dir, infoFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: no %s in %s", ErrNotFound, infoFile, dir)
		}
		return nil, err
	}
	l := &Log{dir: dir}
	if err := json.Unmarshal(b, &l.info); err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", filepath.Join(dir, infoFile), err)
	}
	skey, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("failed to read the operator key: %w", err)
	}
	if l.signer, err = note.NewSigner(strings.TrimSpace(string(skey))); err != nil {
		return nil, fmt.Errorf("invalid operator key in %s: %w", filepath.Join(dir, keyFile), err)
	}
	if l.verifier, err = note.NewVerifier(l.info.OperatorKey); err != nil {
		return nil, fmt.Errorf("invalid operator key in %s: %w", filepath.Join(dir, infoFile), err)
	}
	if l.signer.KeyHash() != l.verifier.KeyHash() || l.signer.Name() != l.info.Origin {
		return nil, fmt.Errorf("%s: the operator key does not match log.json", dir)
	}
	if l.publisher, err = publisherKey(strings.TrimSpace(string(skey))); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	driver, err := posix.New(ctx, posix.Config{Path: filepath.Join(dir, tilesDir)})
	if err != nil {
		cancel()
		return nil, err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(l.signer).
		WithBatching(o.BatchMaxSize, o.BatchMaxAge).
		WithCheckpointInterval(o.CheckpointInterval)
	l.appender, l.shutdown, l.reader, err = tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to open log %s: %w", l.info.Name, err)
	}
	l.cancel = cancel
	l.awaiter = tessera.NewPublicationAwaiter(ctx, l.reader.ReadCheckpoint, 20*time.Millisecond)
	return l, nil
}

// publisherKey derives the key of the chain account that pays for
// witnessing this log's checkpoints from the operator's note key: one
// secret to keep, but never the same key signing in two protocols.
func publisherKey(skey string) (ed25519.PrivateKey, error) {
	// PRIVATE+KEY+<name>+<hash>+<base64>; the base64 may hold '+' too.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return nil, errors.New("invalid operator key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("invalid operator key")
	}
	seed := sha256.Sum256(append([]byte(publisher), raw[1:]...))
	return ed25519.NewKeyFromSeed(seed[:]), nil
}

// Info describes the log.
func (l *Log) Info() Info { return l.info }

// Verifier checks the operator's signature on checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// PublisherKey is the key of the chain account that submits this log's
// checkpoints (derived from the operator key).
func (l *Log) PublisherKey() ed25519.PrivateKey { return l.publisher }

// Reader reads the log's checkpoint, tiles and entry bundles.
func (l *Log) Reader() tessera.LogReader { return l.reader }

// Dir is the directory tessera keeps the tree in (what Handler serves).
func (l *Log) Dir() string { return filepath.Join(l.dir, tilesDir) }

// CheckEntry returns an error wrapping ErrEntryTooLarge or ErrEmptyEntry
// for data that cannot be an entry.
func CheckEntry(data []byte) error {
	switch {
	case len(data) == 0:
		return ErrEmptyEntry
	case len(data) > MaxEntrySize:
		return fmt.Errorf("%w: %d bytes, at most %d (store larger payloads in the content store and log their CID)", ErrEntryTooLarge, len(data), MaxEntrySize)
	}
	return nil
}

// Append adds an entry and returns its index once it is durably stored:
// it waits for its batch to be written and integrated into the tree. A
// checkpoint covering it follows within the checkpoint interval (Await).
func (l *Log) Append(ctx context.Context, data []byte) (uint64, error) {
	if err := CheckEntry(data); err != nil {
		return 0, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	l.inflight.Add(1)
	defer l.inflight.Done()
	f := l.appender.Add(ctx, tessera.NewEntry(data))
	l.mu.RUnlock()
	idx, err := f()
	if err != nil {
		return 0, fmt.Errorf("failed to append to log %s: %w", l.info.Name, err)
	}
	return idx.Index, nil
}

// Await waits until a published checkpoint covers index and returns it.
func (l *Log) Await(ctx context.Context, index uint64) ([]byte, error) {
	_, cp, err := l.awaiter.Await(ctx, func() (tessera.Index, error) { return tessera.Index{Index: index}, nil })
	if err != nil {
		return nil, fmt.Errorf("waiting for a checkpoint of log %s covering entry %d: %w", l.info.Name, index, err)
	}
	return cp, nil
}

// Checkpoint returns the latest published checkpoint.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) { return l.reader.ReadCheckpoint(ctx) }

// Close waits until a checkpoint covers every acknowledged entry (up to
// ctx's deadline), then stops the log's background work.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.inflight.Wait() // a batch is flushed within BatchMaxAge
	err := l.shutdown(ctx)
	l.cancel()
	return err
}

func writeFileSync(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
