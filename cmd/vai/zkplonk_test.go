package main

import (
	"bytes"
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vai-dev/vai/zkml"
)

// kzgsrs FILE N: write a KZG SRS of N powers in gnark-crypto's encoding,
// for a τ drawn and forgotten: a stand-in for the universal SRS a user
// brings to 'vai zk setup --backend plonk --srs FILE'.
func kzgSRS(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: kzgsrs FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	srs, err := zkml.NewDevSRS(n)
	ts.Check(err)
	var buf bytes.Buffer
	_, err = srs.WriteTo(&buf)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), buf.Bytes(), 0o644))
}
