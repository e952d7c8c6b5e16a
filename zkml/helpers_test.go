package zkml_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vai-dev/vai/runtime"
)

func loadModel(t testing.TB, name string) *runtime.Model {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "runtime", "testdata", name+".vaim"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := runtime.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// digits returns the quantised rows of a digits CSV for m.
func digits(t testing.TB, m *runtime.Model, file string) [][]int8 {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "runtime", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := runtime.ReadCSV(f, m.Input.Size())
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.QuantizeRows(d.Rows, false)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Input.Size()
	rows := make([][]int8, len(d.Rows))
	for i := range rows {
		rows[i] = q[i*n : (i+1)*n]
	}
	return rows
}
