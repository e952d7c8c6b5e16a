package main

import (
	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/internal/node"
)

func newReplayCmd(g *globalFlags) *cobra.Command {
	var to int64
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-execute a stopped node's blocks from genesis and check every app hash",
		Long: `Replay the blocks in a stopped node's block store on a fresh, empty ledger,
checking at every height that the app hash and the transaction results equal
what the next header recorded. Exit status 0 means the state is exactly what
the chain's blocks produce.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			res, err := node.Replay(cmd.Context(), home, to)
			if err != nil {
				return err
			}
			return g.print(res, func() {
				g.printf("replayed %d blocks of %s: app hashes and results match through height %d (app hash %s)\n", res.Blocks, res.ChainID, res.CheckedHeight, res.AppHash)
			})
		},
	}
	cmd.Flags().Int64Var(&to, "to", 0, "last height to replay (default: all)")
	return cmd
}
