package cas

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/ipfs/go-cid"
)

// VerifyReader returns a reader of r's bytes that checks them against c:
// when r reaches io.EOF, the reader returns an error wrapping ErrCorrupt
// instead if the bytes do not have CID c. c must be normalized (see
// Normalize). A raw CID is checked as the SHA-256 of all the bytes, so raw
// CIDs of blobs larger than a chunk, which other tools make, verify too.
func VerifyReader(r io.Reader, c cid.Cid) io.Reader {
	v := &verifier{r: r, want: c}
	if c.Prefix().Codec == cid.Raw {
		v.sha = sha256.New()
	} else {
		v.h = NewHasher()
	}
	return v
}

type verifier struct {
	r    io.Reader
	want cid.Cid
	h    *Hasher
	sha  hash.Hash
	err  error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if v.sha != nil {
		v.sha.Write(p[:n])
	} else {
		v.h.Write(p[:n])
	}
	if err == io.EOF {
		err = v.check()
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifier) check() error {
	if v.sha != nil {
		dec, _ := decodeDigest(v.want)
		if !bytes.Equal(v.sha.Sum(nil), dec) {
			return fmt.Errorf("%w: %s", ErrCorrupt, v.want)
		}
		return io.EOF
	}
	if got := v.h.CID(); !got.Equals(v.want) {
		return fmt.Errorf("%w: %s (content has %s)", ErrCorrupt, v.want, got)
	}
	return io.EOF
}
