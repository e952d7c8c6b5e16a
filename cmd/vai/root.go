package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vai",
		Short:         "vai: a ledger and toolkit for verifiable AI",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	model := &cobra.Command{
		Use:   "model",
		Short: "Register, import, run and inspect models",
	}
	root.AddCommand(model)
	return root
}
