package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/node"
)

// globalFlags are the flags every command accepts.
type globalFlags struct {
	home   string
	output string
	stdout io.Writer
	stderr io.Writer
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "vai",
		Short: "vai: a ledger and toolkit for verifiable AI",
		Long: `vai records AI's facts on a ledger with proofs: which data trained a model,
whether a model file is the one registered, who ran what, and who gets paid.

Start a local chain with 'vai up', then use the other commands against it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", "", "vai home directory (default $VAI_HOME or ~/.vai)")
	root.PersistentFlags().StringVar(&g.output, "output", "text", "output format: text or json")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		g.stdout, g.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
		allowed := "text,json"
		if o := cmd.Annotations["outputs"]; o != "" {
			allowed = o
		}
		if outs := strings.Split(allowed, ","); !slices.Contains(outs, g.output) {
			list := strings.Join(outs[:len(outs)-1], ", ") + " or " + outs[len(outs)-1]
			return fmt.Errorf("--output must be %s, not %q", list, g.output)
		}
		return nil
	}
	model := &cobra.Command{
		Use:   "model",
		Short: "Register, import, run and inspect models",
	}
	addModelRuntimeCommands(model, g)
	addModelRegistryCommands(model, g)
	root.AddCommand(
		newUpCmd(g), newInitCmd(g), newStartCmd(g), newTestnetCmd(g),
		newKeysCmd(g), newTxCmd(g), newQueryCmd(g), newStatusCmd(g), newReplayCmd(g), newExportCmd(g),
		newManifestCmd(g), model, newDatasetCmd(g), newRunCmd(g), newLineageCmd(g), newVerifyCmd(g),
		newAuditCmd(g), newContentCmd(g), newDenyCmd(g), newLogCmd(g), newZKCmd(g),
		newProviderCmd(g), newMarketCmd(g), newJobCmd(g), newSessionCmd(g),
	)
	return root
}

// resolveHome returns the home directory: --home, else $VAI_HOME, else ~/.vai.
func (g *globalFlags) resolveHome() (string, error) {
	if g.home != "" {
		return filepath.Abs(g.home)
	}
	if h := os.Getenv("VAI_HOME"); h != "" {
		return filepath.Abs(h)
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(u, ".vai"), nil
}

// clientFlags are the flags of commands that talk to a node.
type clientFlags struct {
	node           string
	api            string
	keyringBackend string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.node, "node", "", "RPC address of the node (default from the home's client.toml, else "+client.DefaultNode+")")
	cmd.Flags().StringVar(&f.api, "api", "", "REST API of the node, for the content store (default from the home's client.toml, else http://127.0.0.1:1317)")
	cmd.Flags().StringVar(&f.keyringBackend, "keyring-backend", "", "keyring backend: file (encrypted) or test (plain, dev only); default from the home's client.toml, else file")
}

// clientConfig resolves flags over the home's client.toml.
func (g *globalFlags) clientConfig(f *clientFlags) (home string, cc node.ClientConfig, err error) {
	if home, err = g.resolveHome(); err != nil {
		return "", cc, err
	}
	if cc, err = node.LoadClientConfig(home); err != nil {
		return "", cc, err
	}
	if f.node != "" {
		cc.Node = f.node
	}
	if f.api != "" {
		cc.API = f.api
	}
	if f.keyringBackend != "" {
		cc.KeyringBackend = f.keyringBackend
	}
	return home, cc, nil
}

func (g *globalFlags) dial(f *clientFlags) (*client.Client, node.ClientConfig, string, error) {
	home, cc, err := g.clientConfig(f)
	if err != nil {
		return nil, cc, "", err
	}
	c, err := client.Dial(cc.Node)
	return c, cc, home, err
}
