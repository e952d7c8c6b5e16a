package manifest

import (
	"bytes"
	"fmt"
	"slices"
)

// Diff lists how one manifest's files differ from another's, by path in
// OMS order. In shards mode a file is changed when any of its shards is.
type Diff struct {
	Changed []string // in both, with different content
	Missing []string // in want only
	Extra   []string // in got only
}

// Empty reports whether the manifests cover the same files with the same
// content.
func (d Diff) Empty() bool { return len(d.Changed)+len(d.Missing)+len(d.Extra) == 0 }

// Compare compares got against want as the OMS verifier does: the model
// name is ignored, and resources must match by name, algorithm and digest.
// It fails when the two were not serialized the same way (method, hash or
// shard size), since their resources could not then be compared.
func Compare(want, got *Manifest) (Diff, error) {
	ws, gs := want.Serialization, got.Serialization
	if ws.Method != gs.Method || ws.HashType != gs.HashType || ws.ShardSize != gs.ShardSize {
		return Diff{}, fmt.Errorf("manifests differ in serialization: %s vs %s", ws.Algorithm(), gs.Algorithm())
	}
	wf, gf := byFile(want), byFile(got)
	var d Diff
	for _, p := range orderedKeys(wf) {
		g, ok := gf[p]
		switch {
		case !ok:
			d.Missing = append(d.Missing, p)
		case !slices.EqualFunc(wf[p], g, func(a, b Resource) bool {
			return a.Name == b.Name && a.Algorithm == b.Algorithm && bytes.Equal(a.Digest, b.Digest)
		}):
			d.Changed = append(d.Changed, p)
		}
	}
	for _, p := range orderedKeys(gf) {
		if _, ok := wf[p]; !ok {
			d.Extra = append(d.Extra, p)
		}
	}
	return d, nil
}

// byFile groups resources by file path.
func byFile(m *Manifest) map[string][]Resource {
	out := map[string][]Resource{}
	for _, r := range m.Resources {
		k, err := resourceKey(m.Serialization.Method, r.Name)
		if err != nil {
			k.path = r.Name
		}
		out[k.path] = append(out[k.path], r)
	}
	return out
}

func orderedKeys(m map[string][]Resource) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePaths)
	return keys
}

// Config returns the configuration that hashes a model the way s records,
// so that a model can be checked against a manifest: Build with
// want.Serialization.Config() and Compare. The recorded ignore paths
// already hold the git paths when they were ignored, so they are passed as
// they are.
func (s Serialization) Config() Config {
	cfg := Config{
		Hash:            s.HashType,
		AllowSymlinks:   s.AllowSymlinks,
		IgnorePaths:     append([]string(nil), s.IgnorePaths...),
		IncludeGitPaths: true,
	}
	if s.Method == Shards {
		cfg.ShardSize = s.ShardSize
	}
	return cfg
}
