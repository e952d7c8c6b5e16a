package main

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
