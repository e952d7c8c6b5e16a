package ledger

import (
	"encoding/binary"

	json "github.com/go-json-experiment/json"
)

// DecodeJSON decodes strictly: unknown or duplicate members, invalid UTF-8
// and trailing data are errors. Every JSON the ledger reads (messages,
// genesis, queries) goes through it.
func DecodeJSON(b []byte, v any) error {
	return json.Unmarshal(b, v, json.RejectUnknownMembers(true))
}

// EncodeJSON encodes deterministically (map keys sorted), so state written
// as JSON is the same on every validator.
func EncodeJSON(v any) ([]byte, error) {
	return json.Marshal(v, json.Deterministic(true))
}

// MustEncodeJSON is EncodeJSON for values that always encode (plain structs).
func MustEncodeJSON(v any) []byte {
	b, err := EncodeJSON(v)
	if err != nil {
		panic(err)
	}
	return b
}

// PutUint64 encodes n as 8 big-endian bytes (so keys sort numerically).
func PutUint64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// Uint64 decodes 8 big-endian bytes; an absent value (nil) is 0.
func Uint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
