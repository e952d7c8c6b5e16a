package manifest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
	"github.com/vai-dev/vai/manifest"
)

// vectorConfig is the first line of a vector: how to build its model.
type vectorConfig struct {
	Hash            manifest.Hash `json:"hash"`
	ShardSize       int64         `json:"shard_size"`
	Ignore          []string      `json:"ignore"`
	IncludeGitPaths bool          `json:"include_git_paths"`
	Root            string        `json:"root"`
}

// TestVectors builds each model in testdata/vectors and compares the
// statement with the expected one, byte for byte. The vectors were written
// from the OMS rules with Python's hashlib, pathlib ordering and b3sum (see
// testdata/make_vectors.py), independently of this package.
func TestVectors(t *testing.T) {
	files, _ := filepath.Glob("testdata/vectors/*.txtar")
	if len(files) < 10 {
		t.Fatalf("found %d vectors", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var cfg vectorConfig
			if err := json.Unmarshal(ar.Comment, &cfg); err != nil {
				t.Fatalf("config: %v", err)
			}
			dir := t.TempDir()
			var want []byte
			for _, f := range ar.Files {
				if f.Name == "want.json" {
					want = f.Data
					continue
				}
				writeFile(t, filepath.Join(dir, f.Name), string(f.Data))
			}
			res, err := manifest.Build(context.Background(), filepath.Join(dir, cfg.Root), manifest.Config{
				Hash: cfg.Hash, ShardSize: cfg.ShardSize, IgnorePaths: cfg.Ignore, IncludeGitPaths: cfg.IncludeGitPaths,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Manifest.Statement()
			if !bytes.Equal(got, want) {
				t.Errorf("statement differs (-want +got):\n%s", cmp.Diff(string(want), string(got)))
			}
			parsed, err := manifest.Parse(want)
			if err != nil {
				t.Fatalf("Parse(want): %v", err)
			}
			if diff := cmp.Diff(parsed, res.Manifest); diff != "" {
				t.Errorf("Parse(want) differs from the built manifest (-parsed +built):\n%s", diff)
			}
			if parsed.Identity() != res.Manifest.Identity() {
				t.Error("identity of the parsed vector differs from the built one")
			}
		})
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
