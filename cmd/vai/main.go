// Command vai is the single binary of vai, the ledger and toolkit for
// verifiable AI: it runs nodes, manages keys, builds and sends transactions,
// and queries and verifies the chain's facts.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(); err != nil {
		os.Exit(1)
	}
}

// run executes the command line and reports an error the way every vai
// command does: "vai: error: …" on stderr.
func run() error {
	err := newRootCmd().Execute()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vai: error: %v\n", err)
	}
	return err
}
