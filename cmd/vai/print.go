package main

import (
	"fmt"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// printJSON writes v as indented JSON.
func (g *globalFlags) printJSON(v any) error {
	b, err := json.Marshal(v, json.Deterministic(true), jsontext.WithIndent("  "))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.stdout, "%s\n", b)
	return err
}

// print writes v as JSON with --output json, else calls text.
func (g *globalFlags) print(v any, text func()) error {
	if g.output == "json" {
		return g.printJSON(v)
	}
	text()
	return nil
}

func (g *globalFlags) printf(format string, args ...any) { fmt.Fprintf(g.stdout, format, args...) }
