package cas_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/vai-dev/vai/cas"
)

// patterned is the content of the kubo vectors: byte i is i % 251.
type patterned struct{ off, n int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.off == p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range k {
		b[i] = byte((p.off + i) % 251)
	}
	p.off += k
	return int(k), nil
}

type vector struct {
	size int64
	cid  string
}

func kuboVectors(t *testing.T) []vector {
	f, err := os.Open("testdata/kubo-cids.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		size, c, _ := strings.Cut(line, " ")
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			t.Fatalf("bad vector line %q", line)
		}
		vs = append(vs, vector{n, c})
	}
	return vs
}

// TestSumMatchesKubo checks Sum against CIDs a real kubo daemon gave, from
// one raw leaf up to a two-level DAG with a partial last subtree.
func TestSumMatchesKubo(t *testing.T) {
	vs := kuboVectors(t)
	if len(vs) < 9 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		c, n, err := cas.Sum(&patterned{n: v.size})
		if err != nil || n != v.size {
			t.Fatalf("Sum(%d bytes) = %d bytes, %v", v.size, n, err)
		}
		if c.String() != v.cid {
			t.Errorf("Sum(%d bytes) = %s, kubo gave %s", v.size, c, v.cid)
		}
	}
}

func TestHasherIncremental(t *testing.T) {
	data := make([]byte, 3*cas.ChunkSize+5)
	io.ReadFull(&patterned{n: int64(len(data))}, data)
	want, _, _ := cas.Sum(bytes.NewReader(data))
	h := cas.NewHasher()
	for i := 0; i < len(data); i += 1000 {
		h.Write(data[i:min(i+1000, len(data))])
		if i == 2*cas.ChunkSize {
			h.CID() // CID must not disturb the state
		}
	}
	if got := h.CID(); !got.Equals(want) || h.Size() != int64(len(data)) {
		t.Errorf("incremental CID %s (size %d), want %s", got, h.Size(), want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"raw v1", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", nil},
		{"v0 becomes v1", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y", nil},
		{"dag-cbor", "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua", "", cas.ErrUnsupportedCID},
		{"identity hash", "bafkqaaa", "", cas.ErrUnsupportedCID},
		{"garbage", "not-a-cid", "", cas.ErrUnsupportedCID},
		{"empty", "", "", cas.ErrUnsupportedCID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cas.Parse(tt.in)
			if !errors.Is(err, tt.err) || (err == nil && c.String() != tt.want) {
				t.Errorf("Parse(%q) = %s, %v; want %s, %v", tt.in, c, err, tt.want, tt.err)
			}
		})
	}
}

func TestVerifyReader(t *testing.T) {
	data := make([]byte, 2*cas.ChunkSize+7)
	io.ReadFull(&patterned{n: int64(len(data))}, data)
	good, _, _ := cas.Sum(bytes.NewReader(data))
	if b, err := io.ReadAll(cas.VerifyReader(bytes.NewReader(data), good)); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("verified read of good data: %v", err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	if _, err := io.ReadAll(cas.VerifyReader(bytes.NewReader(bad), good)); !errors.Is(err, cas.ErrCorrupt) {
		t.Errorf("flipped bit: error %v, want ErrCorrupt", err)
	}
	if _, err := io.ReadAll(cas.VerifyReader(bytes.NewReader(data[:len(data)-1]), good)); !errors.Is(err, cas.ErrCorrupt) {
		t.Errorf("truncated: error %v, want ErrCorrupt", err)
	}
	// A raw CID of a large blob (as other tools make) verifies as SHA-256
	// of all the bytes.
	mh, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: 32}.Sum(data)
	if _, err := io.ReadAll(cas.VerifyReader(bytes.NewReader(data), mh)); err != nil {
		t.Errorf("large raw CID: %v", err)
	}
	if _, err := io.ReadAll(cas.VerifyReader(bytes.NewReader(bad), mh)); !errors.Is(err, cas.ErrCorrupt) {
		t.Errorf("large raw CID, flipped bit: error %v, want ErrCorrupt", err)
	}
}

func BenchmarkSum(b *testing.B) {
	data := make([]byte, 64<<20)
	io.ReadFull(&patterned{n: int64(len(data))}, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		cas.Sum(bytes.NewReader(data))
	}
}
