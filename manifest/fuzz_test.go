package manifest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vai-dev/vai/manifest"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// survives Statement and Parse again with the same identity. The seed
// corpus is the vectors plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/vectors/*.txtar")
	for _, file := range files {
		name := filepath.Base(file)
		f.Add(vectorJSON(f, name[:len(name)-len(".txtar")]))
	}
	f.Add([]byte(referenceStatement()))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifest.Parse(data)
		if err != nil {
			return
		}
		again, err := manifest.Parse(m.Statement())
		if err != nil {
			t.Fatalf("re-parsing the statement of an accepted manifest: %v\n%s", err, m.Statement())
		}
		if again.Identity() != m.Identity() {
			t.Fatal("identity changed through Statement and Parse")
		}
		if !json.Valid(m.Canonical()) {
			t.Fatalf("canonical form is not JSON: %s", m.Canonical())
		}
		if !bytes.Equal(again.Canonical(), m.Canonical()) {
			t.Fatal("canonical form is not stable")
		}
		if len(m.Resources) > 0 {
			p, err := m.Prove(m.Resources[0].Name)
			if err != nil || p.Verify(m.Tree().Root(), uint64(len(m.Resources))) != nil {
				t.Fatalf("proof of the first resource: %v", err)
			}
		}
	})
}

func TestFuzzCorpusPresent(t *testing.T) {
	ents, err := os.ReadDir("testdata/fuzz/FuzzParse")
	if err != nil || len(ents) == 0 {
		t.Fatalf("committed seed corpus missing: %v", err)
	}
}
