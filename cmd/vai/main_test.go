package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vai": func() {
			if err := newRootCmd().Execute(); err != nil {
				fmt.Fprintf(os.Stderr, "vai: error: %v\n", err)
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script. $MODELS is the
// runtime's testdata (reference ONNX and .vaim models, digits CSVs).
func TestScripts(t *testing.T) {
	models, err := filepath.Abs(filepath.Join("..", "..", "runtime", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("MODELS", models)
			return nil
		},
	})
}
