package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Fixed names of the in-toto statement that carries a manifest.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://model_signing/signature/v1.0"
)

// DefaultShardSize is the OMS default shard size in bytes.
const DefaultShardSize = 1_000_000_000

// maxShardSize keeps shard sizes exactly representable as a JSON double,
// since OMS writes them as one.
const maxShardSize = 1 << 53

// Hash names a content hash. The value is the name OMS records in
// serialization.hash_type.
type Hash string

// The supported content hashes.
const (
	SHA256  Hash = "sha256"
	BLAKE2b Hash = "blake2b" // BLAKE2b-512, as Python's hashlib.blake2b()
	BLAKE3  Hash = "blake3"  // 256-bit output
)

// ParseHash parses a hash name. It accepts the recorded names and "blake2",
// the reference tool's option name for BLAKE2b.
func ParseHash(s string) (Hash, error) {
	switch s {
	case "sha256":
		return SHA256, nil
	case "blake2b", "blake2":
		return BLAKE2b, nil
	case "blake3":
		return BLAKE3, nil
	}
	return "", fmt.Errorf("unknown hash %q (want sha256, blake2b or blake3)", s)
}

// Size returns the digest size in bytes, or 0 for an unknown hash.
func (h Hash) Size() int {
	switch h {
	case SHA256, BLAKE3:
		return 32
	case BLAKE2b:
		return 64
	}
	return 0
}

// Method is the OMS serialization method.
type Method string

// The serialization methods.
const (
	Files  Method = "files"
	Shards Method = "shards"
)

// Serialization is the predicate's serialization object: how the resources
// were produced.
type Serialization struct {
	Method        Method
	HashType      Hash
	ShardSize     int64 // Shards only
	AllowSymlinks bool
	// IgnorePaths are relative to the model root, sorted and without
	// duplicates. OMS records them as a set.
	IgnorePaths []string
}

// Algorithm returns the resource algorithm name this serialization gives:
// the hash name in files mode, "<hash>-sharded-<size>" in shards mode.
func (s Serialization) Algorithm() string {
	if s.Method == Shards {
		return string(s.HashType) + "-sharded-" + strconv.FormatInt(s.ShardSize, 10)
	}
	return string(s.HashType)
}

// Resource is one entry of the manifest: a whole file (files mode) or one
// shard of a file (shards mode, Name "<path>:<start>:<end>").
type Resource struct {
	Name      string
	Algorithm string
	Digest    []byte
}

// Manifest is the content of an OMS statement: the model name, how it was
// serialized and its resources in OMS order.
type Manifest struct {
	// Name is the subject name. It is informative only: it is not part of
	// the root digest, of the identity, or of comparisons.
	Name          string
	Serialization Serialization
	Resources     []Resource
}

// RootDigest returns the OMS root digest: SHA-256 over the concatenated raw
// digests of the resources, in order.
func (m *Manifest) RootDigest() [32]byte {
	h := sha256.New()
	for _, r := range m.Resources {
		h.Write(r.Digest)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Files returns the distinct file paths the manifest covers, in OMS order.
// In shards mode, files that are empty have no resource and are not listed.
func (m *Manifest) Files() []string {
	var out []string
	for _, r := range m.Resources {
		p := r.Name
		if m.Serialization.Method == Shards {
			p, _, _, _ = splitShardName(r.Name)
		}
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

// Identity is the SHA-256 digest of a manifest's canonical statement (see
// Manifest.Canonical). It identifies a dataset or model.
type Identity [32]byte

// String returns "sha256:" followed by the lowercase hex digest.
func (id Identity) String() string { return "sha256:" + hex.EncodeToString(id[:]) }

// ParseIdentity parses the form Identity.String returns.
func ParseIdentity(s string) (Identity, error) {
	var id Identity
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return id, fmt.Errorf("invalid identity %q: want sha256:<64 hex digits>", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(id) || strings.ToLower(h) != h {
		return id, fmt.Errorf("invalid identity %q: want sha256:<64 lowercase hex digits>", s)
	}
	copy(id[:], b)
	return id, nil
}

// Identity returns the manifest's identity.
func (m *Manifest) Identity() Identity {
	return sha256.Sum256(m.Canonical())
}

// shardName formats a shard resource name.
func shardName(path string, start, end int64) string {
	return path + ":" + strconv.FormatInt(start, 10) + ":" + strconv.FormatInt(end, 10)
}

var errShardName = errors.New("not of the form <path>:<start>:<end>")

// splitShardName parses "<path>:<start>:<end>". It splits at the last two
// colons, so unlike the reference a path may itself contain ':'.
func splitShardName(name string) (path string, start, end int64, err error) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return "", 0, 0, errShardName
	}
	j := strings.LastIndexByte(name[:i], ':')
	if j < 0 {
		return "", 0, 0, errShardName
	}
	path = name[:j]
	start, err1 := parseOffset(name[j+1 : i])
	end, err2 := parseOffset(name[i+1:])
	if err1 != nil || err2 != nil {
		return "", 0, 0, errShardName
	}
	return path, start, end, nil
}

// parseOffset parses a canonical decimal offset (no sign, no leading zeros).
func parseOffset(s string) (int64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, errShardName
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errShardName
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
