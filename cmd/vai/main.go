// Command vai is the single binary of vai, the ledger and toolkit for
// verifiable AI: it runs nodes, manages keys, builds and sends transactions,
// and queries and verifies the chain's facts.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "vai: error: %v\n", err)
		os.Exit(1)
	}
}
