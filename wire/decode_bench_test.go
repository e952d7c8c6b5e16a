package wire_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/vai-dev/vai/wire"
)

// BenchmarkDecode is strict decoding of a signed transfer (the first test
// vector), without the signature check.
func BenchmarkDecode(b *testing.B) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		b.Fatal(err)
	}
	var vs []struct{ Envelope string }
	if err := json.Unmarshal(raw, &vs); err != nil {
		b.Fatal(err)
	}
	env := []byte(vs[0].Envelope)
	b.SetBytes(int64(len(env)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(env, 0); err != nil {
			b.Fatal(err)
		}
	}
}
