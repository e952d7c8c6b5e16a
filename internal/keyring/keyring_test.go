package keyring_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vai-dev/vai/internal/keyring"
	"github.com/vai-dev/vai/wire"
)

func pass(p string) keyring.PassphraseFunc {
	return func(bool) (string, error) { return p, nil }
}

func open(t *testing.T, home, backend, p string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Open(keyring.Config{Home: home, Backend: backend, Passphrase: pass(p), ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestBackends(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{keyring.BackendTest, keyring.BackendFile} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			k := open(t, home, backend, "correct horse")
			alice, err := k.Add("alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Add("alice"); !errors.Is(err, keyring.ErrExists) {
				t.Errorf("second add: %v, want ErrExists", err)
			}
			if _, err := k.Add("../evil"); !errors.Is(err, keyring.ErrBadName) {
				t.Errorf("path in name: %v, want ErrBadName", err)
			}
			seed := bytes.Repeat([]byte{7}, 32)
			bob, err := k.Import("bob", seed)
			if err != nil {
				t.Fatal(err)
			}
			list, err := k.List()
			if err != nil || len(list) != 2 || list[0].Name != "alice" || list[1].Address != bob.Address {
				t.Fatalf("List = %+v, %v", list, err)
			}
			got, err := k.Export("bob")
			if err != nil || !bytes.Equal(got, seed) {
				t.Fatalf("Export = %x, %v", got, err)
			}
			priv, err := k.Signer("alice")
			if err != nil {
				t.Fatal(err)
			}
			if wire.AddressFromPubKey(priv.Public().(ed25519.PublicKey)) != alice.Address {
				t.Error("Signer returned another key")
			}
			// Files are private to the user.
			for _, f := range []string{"alice.pub.json", map[string]string{"test": "alice.json", "file": "alice.age"}[backend]} {
				st, err := os.Stat(filepath.Join(home, "keyring-"+backend, f))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
				}
			}
			if err := k.Delete("alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := k.Show("alice"); !errors.Is(err, keyring.ErrNotFound) {
				t.Errorf("after delete: %v", err)
			}
		})
	}
}

func TestFileBackendEncryptsAtRest(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	k := open(t, home, keyring.BackendFile, "s3cret")
	seed := bytes.Repeat([]byte{0xab}, 32)
	if _, err := k.Import("k", seed); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(home, "keyring-file", "k.age"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("abababab")) || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) {
		t.Fatal("the file backend stored the seed in the clear")
	}
	wrong := open(t, home, keyring.BackendFile, "guess")
	if _, err := wrong.Export("k"); !errors.Is(err, keyring.ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v, want ErrBadPassphrase", err)
	}
	if _, err := wrong.Signer("k"); err == nil {
		t.Fatal("signed with a wrong passphrase")
	}
	if info, err := wrong.Show("k"); err != nil || !strings.HasPrefix(info.Address.String(), "vai1") {
		t.Fatalf("Show needs no passphrase: %v", err)
	}
}

func TestTamperedPublicFileIsDetected(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	k := open(t, home, keyring.BackendTest, "")
	if _, err := k.Add("a"); err != nil {
		t.Fatal(err)
	}
	b, _ := k.Add("b")
	pubA := filepath.Join(home, "keyring-test", "a.pub.json")
	raw, _ := os.ReadFile(filepath.Join(home, "keyring-test", "b.pub.json"))
	if err := os.WriteFile(pubA, bytes.Replace(raw, []byte(`"name": "b"`), []byte(`"name": "a"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Signer("a"); err == nil {
		t.Fatalf("signed as %s with a's private key", b.Address)
	}
}
