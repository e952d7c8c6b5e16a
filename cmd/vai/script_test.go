package main

import (
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this binary as "vai".
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"vai": main})
}

// TestScripts runs the CLI scripts in testdata/script. Each runs with its
// own VAI_HOME under $WORK.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("VAI_HOME", filepath.Join(env.WorkDir, ".vai"))
			return nil
		},
	})
}
