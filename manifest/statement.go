package manifest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Statement wire types, in the field order the OMS reference writes.

type statementJSON struct {
	Type          string        `json:"_type"`
	Subject       []subjectJSON `json:"subject"`
	PredicateType string        `json:"predicateType"`
	Predicate     predicateJSON `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type predicateJSON struct {
	Serialization serializationJSON `json:"serialization"`
	Resources     []resourceJSON    `json:"resources"`
}

type serializationJSON struct {
	Method        Method   `json:"method"`
	HashType      Hash     `json:"hash_type"`
	ShardSize     *int64   `json:"shard_size,omitempty"`
	AllowSymlinks bool     `json:"allow_symlinks"`
	IgnorePaths   []string `json:"ignore_paths,omitempty"`
}

type resourceJSON struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// Statement returns the in-toto statement as indented JSON, as the OMS
// reference writes it (2-space indent; shard_size as an integer, which every
// JSON reader accepts for the reference's double).
func (m *Manifest) Statement() []byte {
	root := m.RootDigest()
	s := m.Serialization
	st := statementJSON{
		Type:          StatementType,
		Subject:       []subjectJSON{{Name: m.Name, Digest: map[string]string{"sha256": hex.EncodeToString(root[:])}}},
		PredicateType: PredicateType,
		Predicate: predicateJSON{
			Serialization: serializationJSON{
				Method:        s.Method,
				HashType:      s.HashType,
				AllowSymlinks: s.AllowSymlinks,
				IgnorePaths:   s.IgnorePaths,
			},
			Resources: make([]resourceJSON, len(m.Resources)),
		},
	}
	if s.Method == Shards {
		size := s.ShardSize
		st.Predicate.Serialization.ShardSize = &size
	}
	for i, r := range m.Resources {
		st.Predicate.Resources[i] = resourceJSON{r.Name, r.Algorithm, hex.EncodeToString(r.Digest)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		// Only strings, bools and integers are encoded; this cannot fail.
		panic("manifest: encoding statement: " + err.Error())
	}
	return buf.Bytes()
}

// MarshalJSON implements json.Marshaler with the statement.
func (m *Manifest) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, m.Statement()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler with Parse.
func (m *Manifest) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*m = *p
	return nil
}

// Canonical returns the canonical statement whose SHA-256 digest is the
// manifest's identity. It is the RFC 8785 (JCS) serialization of the
// statement Statement writes, normalised as follows:
//
//   - the subject name is "" (OMS treats it as informative only, and a
//     renamed copy of a directory must keep its identity);
//   - ignore_paths is sorted and free of duplicates, and left out when empty;
//   - shard_size is an integer and present only in shards mode;
//   - predicate fields that vai does not know are not part of it.
//
// Every value is a string, boolean, integer below 2^53, array or object, so
// the JCS rules reduce to: no whitespace, object keys sorted by code point,
// strings escaped as in ECMAScript JSON.stringify, integers in decimal.
func (m *Manifest) Canonical() []byte {
	root := m.RootDigest()
	s := m.Serialization
	var b []byte
	b = append(b, `{"_type":`...)
	b = appendJCSString(b, StatementType)
	b = append(b, `,"predicate":{"resources":[`...)
	for i, r := range m.Resources {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"algorithm":`...)
		b = appendJCSString(b, r.Algorithm)
		b = append(b, `,"digest":"`...)
		b = hex.AppendEncode(b, r.Digest)
		b = append(b, `","name":`...)
		b = appendJCSString(b, r.Name)
		b = append(b, '}')
	}
	b = append(b, `],"serialization":{"allow_symlinks":`...)
	b = strconv.AppendBool(b, s.AllowSymlinks)
	b = append(b, `,"hash_type":`...)
	b = appendJCSString(b, string(s.HashType))
	if ignores := normaliseIgnores(s.IgnorePaths); len(ignores) > 0 {
		b = append(b, `,"ignore_paths":[`...)
		for i, p := range ignores {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJCSString(b, p)
		}
		b = append(b, ']')
	}
	b = append(b, `,"method":`...)
	b = appendJCSString(b, string(s.Method))
	if s.Method == Shards {
		b = append(b, `,"shard_size":`...)
		b = strconv.AppendInt(b, s.ShardSize, 10)
	}
	b = append(b, `}},"predicateType":`...)
	b = appendJCSString(b, PredicateType)
	b = append(b, `,"subject":[{"digest":{"sha256":"`...)
	b = hex.AppendEncode(b, root[:])
	b = append(b, `"},"name":""}]}`...)
	return b
}

// appendJCSString appends s as a JSON string escaped per RFC 8785 §3.2.2.2:
// the two-character escapes for \b \t \n \f \r " and \, \u00xx (lowercase
// hex) for other control characters, and everything else as UTF-8. Invalid
// UTF-8 never reaches here: names and paths are checked to be valid UTF-8.
func appendJCSString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			_, size := utf8.DecodeRuneInString(s[i:])
			b = append(b, s[i:i+size]...)
			i += size
			continue
		}
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}
