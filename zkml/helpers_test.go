package zkml_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
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

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// editManifest rewrites a ceremony's manifest through f.
func editManifest(t *testing.T, dir string, f func(m *zkml.CeremonyManifest)) {
	t.Helper()
	p := filepath.Join(dir, "ceremony.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m zkml.CeremonyManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(&m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceContribution writes obj as a contribution file and records its
// digest, as a dishonest coordinator could.
func replaceContribution(t *testing.T, dir, file string, obj io.WriterTo) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := obj.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := zkml.Digest(sha256.Sum256(buf.Bytes()))
	editManifest(t, dir, func(m *zkml.CeremonyManifest) {
		for _, l := range [][]zkml.Contribution{m.Phase1, m.Phase2} {
			for i := range l {
				if l[i].File == file {
					l[i].Digest = d
				}
			}
		}
	})
}
