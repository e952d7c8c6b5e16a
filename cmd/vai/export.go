package main

import (
	"os"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/node"
)

func newExportCmd(g *globalFlags) *cobra.Command {
	var chainID, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a stopped node's state as a genesis file",
		Long: `Export the latest state of a stopped node as a genesis document: the same
validators, every module's state as its genesis section. Start a new chain
from it with --chain-id, or restart the same chain's history afresh.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			gen, h, err := node.Export(home, chainID)
			if err != nil {
				return err
			}
			b, err := cmtjson.MarshalIndent(gen, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if out == "" {
				_, err = g.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			g.printf("wrote the state at height %d to %s\n", h, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain id of the new genesis (default: the same)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to FILE instead of stdout")
	return cmd
}
