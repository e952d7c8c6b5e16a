package tlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a checkpoint whose signature was verified.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	// Raw is the signed note as received.
	Raw []byte
}

// ParseCheckpoint verifies a signed checkpoint of origin with v and
// parses it (C2SP tlog-checkpoint).
func ParseCheckpoint(raw []byte, origin string, v note.Verifier) (*Checkpoint, error) {
	cp, _, _, err := flog.ParseCheckpoint(raw, origin, v)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint of %s: %v", ErrVerify, origin, err)
	}
	if len(cp.Hash) != 32 {
		return nil, fmt.Errorf("%w: checkpoint of %s: root of %d bytes", ErrVerify, origin, len(cp.Hash))
	}
	return &Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Raw: raw}, nil
}

// ProofHeader is the first line of a C2SP tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// ProofFile is a C2SP tlog-proof (https://c2sp.org/tlog-proof): an
// inclusion proof of the entry at Index in the tree of Checkpoint. vai
// puts the entry and the chain's evidence that it witnessed the checkpoint
// in Extra (see Evidence); the format leaves Extra unauthenticated, and
// Verify checks every part of it.
type ProofFile struct {
	Extra      []byte
	Index      uint64
	Proof      [][]byte
	Checkpoint []byte
}

// Marshal encodes the proof in the tlog-proof text format.
func (p *ProofFile) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(ProofHeader + "\n")
	if len(p.Extra) > 0 {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	b.WriteString("index " + strconv.FormatUint(p.Index, 10) + "\n")
	for _, h := range p.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseProofFile decodes a tlog-proof strictly. It checks the format
// only; Verify checks the proof.
func ParseProofFile(b []byte) (*ProofFile, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("not a tlog-proof: "+format, args...)
	}
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok || len(cp) == 0 {
		return nil, bad("no checkpoint after the proof lines")
	}
	if bytes.IndexByte(head, '\r') >= 0 {
		// Base64 decoding skips it: the same proof would have two spellings.
		return nil, bad("carriage return in the proof lines")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != ProofHeader {
		return nil, bad("first line %q, want %q", lines[0], ProofHeader)
	}
	lines = lines[1:]
	p := &ProofFile{Checkpoint: cp}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		var err error
		if p.Extra, err = base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(lines[0], "extra ")); err != nil {
			return nil, bad("extra: %v", err)
		}
		if len(p.Extra) == 0 {
			// Without extra data the line is omitted: one spelling per proof.
			return nil, bad("empty extra line")
		}
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, bad("no index line")
	}
	is := strings.TrimPrefix(lines[0], "index ")
	idx, err := strconv.ParseUint(is, 10, 64)
	if err != nil || strconv.FormatUint(idx, 10) != is {
		return nil, bad("index %q", is)
	}
	p.Index = idx
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return nil, bad("proof hash %q", l)
		}
		p.Proof = append(p.Proof, h)
	}
	if len(p.Proof) > 64 {
		return nil, errors.New("not a tlog-proof: more than 64 proof hashes")
	}
	return p, nil
}
