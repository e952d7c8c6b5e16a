package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// globalFlags are the flags every command accepts.
type globalFlags struct {
	home string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "vai",
		Short:         "vai: a ledger and toolkit for verifiable AI",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", "", "vai home directory (default $VAI_HOME or ~/.vai)")
	model := &cobra.Command{
		Use:   "model",
		Short: "Register, import, run and inspect models",
	}
	addModelRuntimeCommands(model, g)
	root.AddCommand(model)
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
