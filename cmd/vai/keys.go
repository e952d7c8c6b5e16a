package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vai-dev/vai/internal/keyring"
	"github.com/vai-dev/vai/wire"
)

// PassphraseEnv supplies the file keyring's passphrase without a prompt.
const PassphraseEnv = "VAI_KEYRING_PASSPHRASE"

// passphrase reads the file keyring's passphrase from the environment or,
// on a terminal, from a prompt (twice for a new key).
func passphrase(confirm bool) (string, error) {
	if p, ok := os.LookupEnv(PassphraseEnv); ok {
		return p, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		return "", fmt.Errorf("the file keyring needs a passphrase: set %s or run on a terminal", PassphraseEnv)
	}
	defer tty.Close()
	read := func(prompt string) (string, error) {
		fmt.Fprint(tty, prompt)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return string(b), err
	}
	p, err := read("Keyring passphrase: ")
	if err != nil {
		return "", err
	}
	if confirm {
		q, err := read("Repeat passphrase: ")
		if err != nil {
			return "", err
		}
		if p != q {
			return "", errors.New("the passphrases differ")
		}
	}
	if p == "" {
		return "", errors.New("empty passphrase")
	}
	return p, nil
}

func (g *globalFlags) keyring(f *clientFlags) (*keyring.Keyring, error) {
	home, cc, err := g.clientConfig(f)
	if err != nil {
		return nil, err
	}
	return keyring.Open(keyring.Config{Home: home, Backend: cc.KeyringBackend, Passphrase: passphrase})
}

func newKeysCmd(g *globalFlags) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage signing keys (the file backend encrypts them at rest)",
	}
	cmd.PersistentFlags().StringVar(&f.keyringBackend, "keyring-backend", "", "file (encrypted, passphrase from a prompt or $"+PassphraseEnv+") or test (plain, dev only); default from the home's client.toml, else file")
	printInfo := func(info keyring.Info) error {
		return g.print(info, func() { g.printf("%s\t%s\t%s\n", info.Name, info.Address, info.Backend) })
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add NAME",
		Short: "Create a new key",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			info, err := kr.Add(args[0])
			if err != nil {
				return err
			}
			return printInfo(info)
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List keys",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			list, err := kr.List()
			if err != nil {
				return err
			}
			if list == nil {
				list = []keyring.Info{}
			}
			return g.print(list, func() {
				for _, i := range list {
					g.printf("%s\t%s\n", i.Name, i.Address)
				}
			})
		},
	}, &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's address and public key",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			info, err := kr.Show(args[0])
			if err != nil {
				return err
			}
			return printInfo(info)
		},
	}, &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			if err := kr.Delete(args[0]); err != nil {
				return err
			}
			g.printf("deleted %s\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use:   "export NAME",
		Short: "Print a key's private key (32-byte ed25519 seed, hex)",
		Long:  "Print a key's private key. Anyone who sees it controls the account.",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			seed, err := kr.Export(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "warning: this is the private key of %q; keep it secret\n", args[0])
			g.printf("%s\n", hex.EncodeToString(seed))
			return nil
		},
	}, &cobra.Command{
		Use:   "import NAME [FILE|-]",
		Short: "Import a private key (hex seed as printed by export) from a file or stdin",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if len(args) == 2 && args[1] != "-" {
				fh, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer fh.Close()
				r = fh
			}
			line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			seed, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				return fmt.Errorf("import %s: the key must be 64 hex digits: %w", args[0], err)
			}
			kr, err := g.keyring(&f)
			if err != nil {
				return err
			}
			info, err := kr.Import(args[0], seed)
			if err != nil {
				return err
			}
			return printInfo(info)
		},
	})
	return cmd
}

// resolveAddress accepts an address or the name of a key in the keyring.
func (g *globalFlags) resolveAddress(f *clientFlags, s string) (wire.Address, error) {
	if strings.HasPrefix(s, wire.AddressPrefix+"1") {
		return wire.ParseAddress(s)
	}
	kr, err := g.keyring(f)
	if err != nil {
		return wire.Address{}, err
	}
	info, err := kr.Show(s)
	if err != nil {
		return wire.Address{}, fmt.Errorf("%q is neither an address nor a key: %w", s, err)
	}
	return info.Address, nil
}
