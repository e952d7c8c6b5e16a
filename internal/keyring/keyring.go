// Package keyring stores the ed25519 keys that sign vai transactions.
//
// Two backends share one layout under the home directory:
//
//   - "test" keeps keys in plain JSON files (keyring-test/). For dev chains
//     only: anyone who can read the files has the keys.
//   - "file" encrypts each key at rest with age's scrypt passphrase
//     encryption (keyring-file/NAME.age; decrypt by hand with
//     `age -d NAME.age` if need be). The public half sits beside it in
//     NAME.pub.json so listing keys needs no passphrase.
//
// Files are written atomically with mode 0600 in a 0700 directory. A
// private key leaves the keyring only through Export and Signer.
package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/vai-dev/vai/wire"
)

// Backends.
const (
	BackendTest = "test"
	BackendFile = "file"
)

// Errors callers can branch on.
var (
	ErrNotFound      = errors.New("key not found")
	ErrExists        = errors.New("key already exists")
	ErrBadName       = errors.New("invalid key name")
	ErrBadPassphrase = errors.New("wrong passphrase")
)

// PassphraseFunc supplies the passphrase of the file backend. confirm is
// true when a new key is being stored (a prompt should ask twice).
type PassphraseFunc func(confirm bool) (string, error)

// Config opens a Keyring.
type Config struct {
	// Home is the vai home directory; keys live in Home/keyring-<backend>.
	Home    string
	Backend string
	// Passphrase is required by the file backend.
	Passphrase PassphraseFunc
	// ScryptWorkFactor is log2 of scrypt's N for new file keys (default 18,
	// about a second).
	ScryptWorkFactor int
}

// Keyring is a directory of named keys.
type Keyring struct {
	cfg Config
	dir string
}

// Info is the public description of a key.
type Info struct {
	Name    string       `json:"name"`
	Address wire.Address `json:"address"`
	PubKey  []byte       `json:"pubkey"`
	Backend string       `json:"backend"`
	Created time.Time    `json:"created"`
}

// stored is what a key file holds (encrypted by the file backend).
type stored struct {
	Info
	Seed string `json:"seed_hex,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Open returns the keyring of cfg.Backend under cfg.Home.
func Open(cfg Config) (*Keyring, error) {
	switch cfg.Backend {
	case BackendTest:
	case BackendFile:
		if cfg.Passphrase == nil {
			return nil, errors.New("keyring: the file backend needs a passphrase source")
		}
	default:
		return nil, fmt.Errorf("keyring: unknown backend %q (want %q or %q)", cfg.Backend, BackendFile, BackendTest)
	}
	if cfg.ScryptWorkFactor == 0 {
		cfg.ScryptWorkFactor = 18
	}
	dir := filepath.Join(cfg.Home, "keyring-"+cfg.Backend)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &Keyring{cfg: cfg, dir: dir}, nil
}

// Backend returns the keyring's backend name.
func (k *Keyring) Backend() string { return k.cfg.Backend }

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit", ErrBadName, name)
	}
	return nil
}

func (k *Keyring) pubPath(name string) string { return filepath.Join(k.dir, name+".pub.json") }
func (k *Keyring) secPath(name string) string {
	if k.cfg.Backend == BackendFile {
		return filepath.Join(k.dir, name+".age")
	}
	return filepath.Join(k.dir, name+".json")
}

// Add creates a new random key.
func (k *Keyring) Add(name string) (Info, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand.Reader, seed); err != nil {
		return Info{}, err
	}
	return k.Import(name, seed)
}

// Import stores the key with the given 32-byte seed.
func (k *Keyring) Import(name string, seed []byte) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	if len(seed) != ed25519.SeedSize {
		return Info{}, fmt.Errorf("keyring: a key is a %d-byte ed25519 seed, got %d bytes", ed25519.SeedSize, len(seed))
	}
	if _, err := os.Stat(k.pubPath(name)); err == nil {
		return Info{}, fmt.Errorf("%w: %q", ErrExists, name)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	info := Info{Name: name, Address: wire.AddressFromPubKey(pub), PubKey: pub, Backend: k.cfg.Backend, Created: time.Now().UTC().Truncate(time.Second)}
	secret, err := json.Marshal(stored{Info: info, Seed: hex.EncodeToString(seed)})
	if err != nil {
		return Info{}, err
	}
	if k.cfg.Backend == BackendFile {
		pass, err := k.cfg.Passphrase(true)
		if err != nil {
			return Info{}, err
		}
		if secret, err = encrypt(secret, pass, k.cfg.ScryptWorkFactor); err != nil {
			return Info{}, err
		}
	}
	public, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return Info{}, err
	}
	if err := writeAtomic(k.secPath(name), secret); err != nil {
		return Info{}, err
	}
	if err := writeAtomic(k.pubPath(name), append(public, '\n')); err != nil {
		os.Remove(k.secPath(name))
		return Info{}, err
	}
	return info, nil
}

func encrypt(plain []byte, pass string, workFactor int) ([]byte, error) {
	if pass == "" {
		return nil, errors.New("keyring: empty passphrase")
	}
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(workFactor)
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
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
	return os.Rename(f.Name(), path)
}

// Show returns a key's public description.
func (k *Keyring) Show(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	b, err := os.ReadFile(k.pubPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %q in the %s keyring (%s)", ErrNotFound, name, k.cfg.Backend, k.dir)
	}
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("keyring: corrupt %s: %w", k.pubPath(name), err)
	}
	return info, nil
}

// List returns every key, sorted by name.
func (k *Keyring) List() ([]Info, error) {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pub.json")
		if !ok || checkName(name) != nil {
			continue
		}
		info, err := k.Show(name)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes a key.
func (k *Keyring) Delete(name string) error {
	if _, err := k.Show(name); err != nil {
		return err
	}
	if err := os.Remove(k.secPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Remove(k.pubPath(name))
}

// Export returns a key's 32-byte seed: the private key.
func (k *Keyring) Export(name string) ([]byte, error) {
	info, err := k.Show(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(k.secPath(name))
	if err != nil {
		return nil, fmt.Errorf("keyring: private part of %q: %w", name, err)
	}
	if k.cfg.Backend == BackendFile {
		pass, err := k.cfg.Passphrase(false)
		if err != nil {
			return nil, err
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, err
		}
		r, err := age.Decrypt(bytes.NewReader(b), id)
		if err != nil {
			var nm *age.NoIdentityMatchError
			if errors.As(err, &nm) {
				return nil, fmt.Errorf("%w for key %q", ErrBadPassphrase, name)
			}
			return nil, fmt.Errorf("keyring: decrypt %q: %w", name, err)
		}
		if b, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("keyring: decrypt %q: %w", name, err)
		}
	}
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("keyring: corrupt key %q: %w", name, err)
	}
	seed, err := hex.DecodeString(s.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keyring: corrupt key %q", name)
	}
	if wire.AddressFromPubKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)) != info.Address {
		return nil, fmt.Errorf("keyring: key %q does not match its public file", name)
	}
	return seed, nil
}

// Signer returns a key's private key for signing.
func (k *Keyring) Signer(name string) (ed25519.PrivateKey, error) {
	seed, err := k.Export(name)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
