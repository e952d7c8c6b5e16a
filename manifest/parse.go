package manifest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error Parse returns for a malformed or
// inconsistent statement.
var ErrInvalid = errors.New("invalid manifest")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Parse parses and checks an OMS in-toto statement (the DSSE payload, not
// the Sigstore bundle around it).
//
// It follows the reference's reading rules: object keys may come in any
// order, unknown fields are ignored, shard_size may be an integral double
// (1000000000.0), and ignore_paths is a set. It is stricter where a lax
// reading could be exploited: duplicate object keys, resource names that
// are absolute or contain "..", resources out of OMS order or duplicated,
// shards that do not tile their file, algorithm names that disagree with the
// serialization, and a subject digest that is not the root digest are all
// errors.
func Parse(data []byte) (*Manifest, error) {
	top, err := object(data, "statement")
	if err != nil {
		return nil, err
	}
	var typ, ptype string
	if err := field(top, "_type", &typ, true); err != nil {
		return nil, err
	}
	if typ != StatementType {
		return nil, invalidf("_type is %q, want %q", typ, StatementType)
	}
	if err := field(top, "predicateType", &ptype, true); err != nil {
		return nil, err
	}
	if ptype != PredicateType {
		return nil, invalidf("unsupported predicateType %q (want %q)", ptype, PredicateType)
	}

	var subjects []json.RawMessage
	if err := field(top, "subject", &subjects, true); err != nil {
		return nil, err
	}
	if len(subjects) != 1 {
		return nil, invalidf("statement has %d subjects, want exactly 1", len(subjects))
	}
	subj, err := object(subjects[0], "subject")
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := field(subj, "name", &m.Name, true); err != nil {
		return nil, err
	}
	digests, err := objectField(subj, "digest")
	if err != nil {
		return nil, err
	}
	var rootHex string
	if err := field(digests, "sha256", &rootHex, true); err != nil {
		return nil, err
	}
	root, err := decodeDigest(rootHex, 32)
	if err != nil {
		return nil, invalidf("subject digest: %v", err)
	}

	pred, err := objectField(top, "predicate")
	if err != nil {
		return nil, err
	}
	ser, err := objectField(pred, "serialization")
	if err != nil {
		return nil, err
	}
	if m.Serialization, err = parseSerialization(ser); err != nil {
		return nil, err
	}
	var resources []json.RawMessage
	if err := field(pred, "resources", &resources, true); err != nil {
		return nil, err
	}
	if m.Resources, err = parseResources(resources, m.Serialization); err != nil {
		return nil, err
	}
	if got := m.RootDigest(); !bytes.Equal(got[:], root) {
		return nil, invalidf("subject digest %x does not match the root digest of the resources %x", root, got)
	}
	return m, nil
}

func parseSerialization(ser map[string]json.RawMessage) (Serialization, error) {
	var s Serialization
	var method, hash string
	if err := field(ser, "method", &method, true); err != nil {
		return s, err
	}
	if err := field(ser, "hash_type", &hash, true); err != nil {
		return s, err
	}
	switch Hash(hash) {
	case SHA256, BLAKE2b, BLAKE3:
		s.HashType = Hash(hash)
	default:
		return s, invalidf("unsupported hash_type %q", hash)
	}
	if err := field(ser, "allow_symlinks", &s.AllowSymlinks, false); err != nil {
		return s, err
	}
	var size json.Number
	hasSize := ser["shard_size"] != nil
	if hasSize {
		if raw := ser["shard_size"]; len(raw) > 0 && raw[0] == '"' {
			return s, invalidf("shard_size is a string, want a number")
		}
		if err := field(ser, "shard_size", &size, true); err != nil {
			return s, err
		}
	}
	switch Method(method) {
	case Files:
		if hasSize {
			return s, invalidf("shard_size is set for method %q", method)
		}
	case Shards:
		if !hasSize {
			return s, invalidf("shard_size is missing for method %q", method)
		}
		f, err := size.Float64()
		if err != nil || f != math.Trunc(f) || f < 1 || f > maxShardSize {
			return s, invalidf("shard_size %s is not an integer in [1, 2^53]", size)
		}
		s.ShardSize = int64(f)
	default:
		return s, invalidf("unsupported serialization method %q", method)
	}
	s.Method = Method(method)
	var ignores []string
	if err := field(ser, "ignore_paths", &ignores, false); err != nil {
		return s, err
	}
	for _, p := range ignores {
		if err := checkRelPath(p); err != nil {
			return s, invalidf("ignore path %q: %v", p, err)
		}
	}
	s.IgnorePaths = normaliseIgnores(ignores)
	return s, nil
}

func parseResources(raw []json.RawMessage, s Serialization) ([]Resource, error) {
	alg := s.Algorithm()
	size := s.HashType.Size()
	out := make([]Resource, 0, len(raw))
	var prev sortKey
	var single, multi bool // seen ".", seen other paths
	for i, rr := range raw {
		obj, err := object(rr, "resource")
		if err != nil {
			return nil, err
		}
		var r Resource
		var digest string
		if err := field(obj, "name", &r.Name, true); err != nil {
			return nil, err
		}
		if err := field(obj, "algorithm", &r.Algorithm, true); err != nil {
			return nil, err
		}
		if err := field(obj, "digest", &digest, true); err != nil {
			return nil, err
		}
		if r.Algorithm != alg {
			return nil, invalidf("resource %q: algorithm %q, want %q", r.Name, r.Algorithm, alg)
		}
		if r.Digest, err = decodeDigest(digest, size); err != nil {
			return nil, invalidf("resource %q: %v", r.Name, err)
		}
		key, err := resourceKey(s.Method, r.Name)
		if err != nil {
			return nil, invalidf("resource %q: shard name %v", r.Name, err)
		}
		if key.path == "." {
			single = true
		} else if err := checkRelPath(key.path); err != nil {
			return nil, invalidf("resource %q: %v", r.Name, err)
		} else {
			multi = true
		}
		if single && multi {
			return nil, invalidf("resource %q: \".\" names a single-file model and cannot appear with other paths", r.Name)
		}
		if i > 0 {
			if c := compareKeys(prev, key); c >= 0 {
				if c == 0 {
					return nil, invalidf("duplicate resource %q", r.Name)
				}
				return nil, invalidf("resource %q is out of order (resources must be sorted as OMS sorts them)", r.Name)
			}
		}
		if s.Method == Shards {
			if err := checkShard(prev, key, i == 0, s.ShardSize); err != nil {
				return nil, invalidf("resource %q: %v", r.Name, err)
			}
		}
		prev = key
		out = append(out, r)
	}
	if s.Method == Shards && len(out) > 0 && prev.end-prev.start > s.ShardSize {
		return nil, invalidf("resource %q is longer than shard_size", out[len(out)-1].Name)
	}
	return out, nil
}

// checkShard checks that shard key follows prev in a tiling of its file:
// [0,k), [k,2k), …, [mk,S), each a full shard but the last.
func checkShard(prev, key sortKey, first bool, shardSize int64) error {
	if key.end <= key.start || key.end-key.start > shardSize {
		return fmt.Errorf("shard length is not in [1, %d]", shardSize)
	}
	if first || prev.path != key.path {
		if !first && prev.end-prev.start > shardSize {
			return fmt.Errorf("previous shard is longer than shard_size")
		}
		if key.start != 0 {
			return fmt.Errorf("first shard of %q starts at %d, want 0", key.path, key.start)
		}
		return nil
	}
	if prev.end-prev.start != shardSize {
		return fmt.Errorf("shard follows a short shard of %q", key.path)
	}
	if key.start != prev.end {
		return fmt.Errorf("shard starts at %d, want %d", key.start, prev.end)
	}
	return nil
}

// checkRelPath checks that p is a clean, relative, slash-separated path that
// stays inside the model root: no leading "/", no empty, "." or ".."
// components, valid UTF-8 and no NUL.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case !utf8.ValidString(p):
		return errors.New("path is not valid UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains NUL")
	case p[0] == '/':
		return errors.New("absolute path")
	}
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "..":
			return errors.New("path traversal (\"..\")")
		case "", ".":
			return errors.New("path is not clean (empty or \".\" component)")
		}
	}
	return nil
}

func decodeDigest(s string, size int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("digest %q is not hex", s)
	}
	if len(b) != size {
		return nil, fmt.Errorf("digest has %d bytes, want %d", len(b), size)
	}
	return b, nil
}

// object decodes a JSON object into its members, rejecting duplicate keys
// and trailing data.
func object(data []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, invalidf("%s: %v", what, err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, invalidf("%s is not a JSON object", what)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, invalidf("%s: %v", what, err)
		}
		key := t.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, invalidf("%s: %v", what, err)
		}
		if _, dup := out[key]; dup {
			return nil, invalidf("%s has duplicate key %q", what, key)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalidf("%s: %v", what, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalidf("%s: trailing data", what)
	}
	return out, nil
}

func objectField(obj map[string]json.RawMessage, key string) (map[string]json.RawMessage, error) {
	raw, ok := obj[key]
	if !ok {
		return nil, invalidf("missing %q", key)
	}
	return object(raw, key)
}

// field decodes obj[key] into v. A missing key is an error when required;
// null is always an error.
func field(obj map[string]json.RawMessage, key string, v any, required bool) error {
	raw, ok := obj[key]
	if !ok {
		if required {
			return invalidf("missing %q", key)
		}
		return nil
	}
	if string(raw) == "null" {
		return invalidf("%q is null", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return invalidf("%q: %v", key, err)
	}
	return nil
}
