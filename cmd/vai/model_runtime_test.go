package main

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestReadCSVFileGzip checks that a gzip-compressed CSV (the form of
// shared/datasets/digits.csv.gz) reads like the plain one.
func TestReadCSVFileGzip(t *testing.T) {
	plain := filepath.Join("..", "..", "runtime", "testdata", "digits_test.csv")
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "digits.csv.gz")
	f, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := readCSVFile(plain, 64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readCSVFile(gz, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 360 || !slices.Equal(got.Labels, want.Labels) || !slices.Equal(got.Rows[359], want.Rows[359]) {
		t.Errorf("gzip CSV: %d rows, want the 360 of the plain file", len(got.Rows))
	}
}

// TestRuntimeScripts runs the CLI scripts of the deterministic runtime in
// testdata/runtime. $MODELS is the runtime's testdata (reference ONNX and
// .vaim models, digits CSVs).
func TestRuntimeScripts(t *testing.T) {
	models, err := filepath.Abs(filepath.Join("..", "..", "runtime", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "runtime"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("MODELS", models)
			return nil
		},
	})
}
