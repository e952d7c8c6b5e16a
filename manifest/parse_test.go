package manifest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/vai-dev/vai/manifest"
)

func vectorJSON(t testing.TB, name string) []byte {
	t.Helper()
	ar, err := txtar.ParseFile("testdata/vectors/" + name + ".txtar")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		if f.Name == "want.json" {
			return f.Data
		}
	}
	t.Fatalf("vector %s has no want.json", name)
	return nil
}

// edit decodes a statement, applies fn to it and re-encodes it. Digests
// are left alone, so edits to resources also break the root digest unless
// fixRoot is called.
func edit(t *testing.T, data []byte, fn func(st map[string]any)) []byte {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	fn(st)
	out, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pred(st map[string]any) map[string]any { return st["predicate"].(map[string]any) }
func ser(st map[string]any) map[string]any  { return pred(st)["serialization"].(map[string]any) }
func res(st map[string]any) []any           { return pred(st)["resources"].([]any) }
func res0(st map[string]any) map[string]any { return res(st)[0].(map[string]any) }

// fixRoot recomputes the subject digest from the resources.
func fixRoot(st map[string]any) {
	h := sha256.New()
	for _, r := range res(st) {
		d, _ := hex.DecodeString(r.(map[string]any)["digest"].(string))
		h.Write(d)
	}
	st["subject"].([]any)[0].(map[string]any)["digest"].(map[string]any)["sha256"] = hex.EncodeToString(h.Sum(nil))
}

// referenceShards is a statement as the reference writes one: predicate
// keys in another order, shard_size as a double, ignore_paths unsorted.
const referenceShards = `{
  "_type": "https://in-toto.io/Statement/v1",
  "subject": [{"name": "m", "digest": {"sha256": "ROOT"}}],
  "predicateType": "https://model_signing/signature/v1.0",
  "predicate": {
    "resources": [
      {"digest": "D1", "algorithm": "sha256-sharded-8", "name": "w:0:8"},
      {"name": "w:8:16", "digest": "D2", "algorithm": "sha256-sharded-8"}
    ],
    "serialization": {"ignore_paths": [".gitignore", ".git", "model.sig"], "shard_size": 8.0,
                      "allow_symlinks": false, "hash_type": "sha256", "method": "shards", "future_field": {"x": 1}}
  }
}`

func referenceStatement() string {
	d1 := sha256.Sum256([]byte("abcdefgh"))
	d2 := sha256.Sum256([]byte("ijklmnop"))
	root := sha256.Sum256(append(d1[:], d2[:]...))
	return strings.NewReplacer("ROOT", hex.EncodeToString(root[:]), "D1", hex.EncodeToString(d1[:]), "D2", hex.EncodeToString(d2[:])).Replace(referenceShards)
}

func TestParseReferenceQuirks(t *testing.T) {
	m, err := manifest.Parse([]byte(referenceStatement()))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Serialization
	if s.Method != manifest.Shards || s.ShardSize != 8 || s.HashType != manifest.SHA256 {
		t.Errorf("serialization = %+v", s)
	}
	if got := strings.Join(s.IgnorePaths, ","); got != ".git,.gitignore,model.sig" {
		t.Errorf("ignore paths = %s, want sorted", got)
	}
	if len(m.Resources) != 2 || m.Resources[1].Name != "w:8:16" {
		t.Errorf("resources = %+v", m.Resources)
	}
	// The same statement reordered and re-serialized has the same identity.
	again, err := manifest.Parse(m.Statement())
	if err != nil {
		t.Fatal(err)
	}
	if again.Identity() != m.Identity() {
		t.Error("identity changed through Statement and Parse")
	}
}

func TestParseRejects(t *testing.T) {
	base := vectorJSON(t, "files-sort")
	shards := vectorJSON(t, "shards")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not json", []byte("{"), "EOF"},
		{"array", []byte("[]"), "not a JSON object"},
		{"trailing data", append(append([]byte{}, base...), "{}"...), "trailing data"},
		{"duplicate key", []byte(strings.Replace(string(base), `"_type"`, `"_type": "x", "_type"`, 1)), "duplicate key"},
		{"wrong type", edit(t, base, func(st map[string]any) { st["_type"] = "https://in-toto.io/Statement/v0.1" }), "_type"},
		{"legacy predicate", edit(t, base, func(st map[string]any) { st["predicateType"] = "https://model_signing/Digests/v0.1" }), "unsupported predicateType"},
		{"two subjects", edit(t, base, func(st map[string]any) { st["subject"] = append(st["subject"].([]any), st["subject"].([]any)[0]) }), "2 subjects"},
		{"no subject", edit(t, base, func(st map[string]any) { st["subject"] = []any{} }), "0 subjects"},
		{"root mismatch", edit(t, base, func(st map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"].(map[string]any)["sha256"] = strings.Repeat("00", 32)
		}), "does not match the root digest"},
		{"unknown hash", edit(t, base, func(st map[string]any) { ser(st)["hash_type"] = "md5" }), "unsupported hash_type"},
		{"unknown method", edit(t, base, func(st map[string]any) { ser(st)["method"] = "tree" }), "unsupported serialization method"},
		{"null field", edit(t, base, func(st map[string]any) { ser(st)["allow_symlinks"] = nil }), "is null"},
		{"missing resources", edit(t, base, func(st map[string]any) { delete(pred(st), "resources") }), `missing "resources"`},
		{"absolute name", edit(t, base, func(st map[string]any) { res0(st)["name"] = "/etc/passwd" }), "absolute path"},
		{"traversal", edit(t, base, func(st map[string]any) { res0(st)["name"] = "../../etc/passwd" }), "path traversal"},
		{"inner traversal", edit(t, base, func(st map[string]any) { res0(st)["name"] = "a/../../b" }), "path traversal"},
		{"unclean name", edit(t, base, func(st map[string]any) { res0(st)["name"] = "./.hidden" }), "not clean"},
		{"empty component", edit(t, base, func(st map[string]any) { res0(st)["name"] = "a//b" }), "not clean"},
		{"dot with others", edit(t, base, func(st map[string]any) { res0(st)["name"] = "." }), "single-file model"},
		{"ignore traversal", edit(t, base, func(st map[string]any) { ser(st)["ignore_paths"] = []any{"../x"} }), "path traversal"},
		{"wrong algorithm", edit(t, base, func(st map[string]any) { res0(st)["algorithm"] = "blake3" }), "algorithm"},
		{"short digest", edit(t, base, func(st map[string]any) { res0(st)["digest"] = "abcd" }), "2 bytes, want 32"},
		{"bad hex", edit(t, base, func(st map[string]any) { res0(st)["digest"] = strings.Repeat("zz", 32) }), "not hex"},
		{"out of order", edit(t, base, func(st map[string]any) {
			r := res(st)
			r[0], r[1] = r[1], r[0]
			fixRoot(st)
		}), "out of order"},
		{"duplicate", edit(t, base, func(st map[string]any) {
			r := res(st)
			r[1] = r[0]
			fixRoot(st)
		}), "duplicate resource"},
		{"shard size in files mode", edit(t, base, func(st map[string]any) { ser(st)["shard_size"] = 8 }), "shard_size is set"},
		{"fractional shard size", edit(t, shards, func(st map[string]any) { ser(st)["shard_size"] = 8.5 }), "not an integer"},
		{"zero shard size", edit(t, shards, func(st map[string]any) { ser(st)["shard_size"] = 0 }), "not an integer"},
		{"huge shard size", edit(t, shards, func(st map[string]any) { ser(st)["shard_size"] = 1e300 }), "not an integer"},
		{"string shard size", edit(t, shards, func(st map[string]any) { ser(st)["shard_size"] = "8" }), "is a string"},
		{"missing shard size", edit(t, shards, func(st map[string]any) { delete(ser(st), "shard_size") }), "shard_size is missing"},
		{"bad shard name", edit(t, shards, func(st map[string]any) { res0(st)["name"] = "big:0" }), "shard name"},
		{"leading zero offset", edit(t, shards, func(st map[string]any) { res0(st)["name"] = "big:00:8" }), "shard name"},
		{"shard gap", edit(t, shards, func(st map[string]any) { res(st)[1].(map[string]any)["name"] = "big:9:16" }), "starts at 9, want 8"},
		{"shard not from 0", edit(t, shards, func(st map[string]any) { res0(st)["name"] = "big:1:8" }), "starts at 1, want 0"},
		{"shard too long", edit(t, shards, func(st map[string]any) {
			res(st)[2].(map[string]any)["name"] = "big:16:30"
		}), "shard length"},
		{"shard after short shard", edit(t, shards, func(st map[string]any) {
			res(st)[0].(map[string]any)["name"] = "big:0:7"
		}), "follows a short shard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manifest.Parse(tt.data)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestCanonical pins the canonical form: a change to it changes every
// identity, so it must be deliberate.
func TestCanonical(t *testing.T) {
	m, err := manifest.Parse([]byte(referenceStatement()))
	if err != nil {
		t.Fatal(err)
	}
	d1 := sha256.Sum256([]byte("abcdefgh"))
	d2 := sha256.Sum256([]byte("ijklmnop"))
	root := sha256.Sum256(append(d1[:], d2[:]...))
	want := `{"_type":"https://in-toto.io/Statement/v1","predicate":{"resources":[` +
		`{"algorithm":"sha256-sharded-8","digest":"` + hex.EncodeToString(d1[:]) + `","name":"w:0:8"},` +
		`{"algorithm":"sha256-sharded-8","digest":"` + hex.EncodeToString(d2[:]) + `","name":"w:8:16"}],` +
		`"serialization":{"allow_symlinks":false,"hash_type":"sha256","ignore_paths":[".git",".gitignore","model.sig"],"method":"shards","shard_size":8}},` +
		`"predicateType":"https://model_signing/signature/v1.0",` +
		`"subject":[{"digest":{"sha256":"` + hex.EncodeToString(root[:]) + `"},"name":""}]}`
	if got := string(m.Canonical()); got != want {
		t.Errorf("canonical form\n got %s\nwant %s", got, want)
	}
	if id := m.Identity(); id != sha256.Sum256([]byte(want)) {
		t.Error("identity is not SHA-256 of the canonical form")
	}
	// Escaping follows JCS: control characters as \u00xx, no HTML escapes.
	m.Resources[0].Name = "a\x01<b>\"\\\u2028é"
	if got := string(m.Canonical()); !strings.Contains(got, `"name":"a\u0001<b>\"\\`+"\u2028é\"") {
		t.Errorf("JCS escaping wrong in %s", got)
	}
}

func TestIdentity(t *testing.T) {
	base, err := manifest.Parse(vectorJSON(t, "files-sort"))
	if err != nil {
		t.Fatal(err)
	}
	id := base.Identity()
	renamed := *base
	renamed.Name = "copy-of-model"
	if renamed.Identity() != id {
		t.Error("the subject name changed the identity")
	}
	if s := id.String(); !strings.HasPrefix(s, "sha256:") || len(s) != 7+64 {
		t.Errorf("identity string %q", s)
	}
	if back, err := manifest.ParseIdentity(id.String()); err != nil || back != id {
		t.Errorf("ParseIdentity(String()) = %v, %v", back, err)
	}
	for _, bad := range []string{"", "sha256:", "sha256:XYZ", "md5:" + strings.Repeat("0", 64), "sha256:" + strings.Repeat("A", 64)} {
		if _, err := manifest.ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity(%q) succeeded", bad)
		}
	}
	changes := map[string]func(m *manifest.Manifest){
		"resource name": func(m *manifest.Manifest) { m.Resources[0].Name = ".hidden2" },
		"digest":        func(m *manifest.Manifest) { m.Resources[0].Digest = make([]byte, 32) },
		"ignore paths":  func(m *manifest.Manifest) { m.Serialization.IgnorePaths = []string{".git"} },
		"symlinks":      func(m *manifest.Manifest) { m.Serialization.AllowSymlinks = true },
	}
	for name, change := range changes {
		m, _ := manifest.Parse(base.Statement())
		change(m)
		if m.Identity() == id {
			t.Errorf("changing the %s kept the identity", name)
		}
	}
}
