package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeRuntimeExamples runs every command of README.md's runtime
// section, in a directory holding a copy of runtime/testdata, and checks
// the output it shows (a line ending in "..." is a prefix).
func TestReadmeRuntimeExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	start := strings.Index(section, "## Models: the deterministic runtime")
	if start < 0 {
		t.Fatal("README.md has no runtime section")
	}
	section = section[start+3:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "runtime", "testdata"), os.DirFS(filepath.Join("..", "..", "runtime", "testdata"))); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	type example struct {
		args []string
		want []string
	}
	var examples []*example
	inBlock := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		case inBlock && strings.HasPrefix(line, "$ vai "):
			examples = append(examples, &example{args: strings.Fields(line)[2:]})
		case inBlock && len(examples) > 0:
			ex := examples[len(examples)-1]
			ex.want = append(ex.want, line)
		}
	}
	if len(examples) < 5 {
		t.Fatalf("found %d examples, want at least 5", len(examples))
	}
	for _, ex := range examples {
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(ex.args)
		cmd.SetOut(&out)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("vai %s: %v", strings.Join(ex.args, " "), err)
		}
		got := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		if len(got) < len(ex.want) {
			t.Fatalf("vai %s: %d lines of output, README shows %d", strings.Join(ex.args, " "), len(got), len(ex.want))
		}
		for i, w := range ex.want {
			g := strings.TrimRight(got[i], " ")
			if p, ok := strings.CutSuffix(w, "..."); ok {
				if !strings.HasPrefix(g, p) {
					t.Errorf("vai %s: line %d = %q, README shows %q", strings.Join(ex.args, " "), i+1, g, w)
				}
			} else if g != w {
				t.Errorf("vai %s: line %d = %q, README shows %q", strings.Join(ex.args, " "), i+1, g, w)
			}
		}
	}
}
