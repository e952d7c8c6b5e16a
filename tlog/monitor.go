package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/cometbft/cometbft/types"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/logs"
)

// Source is where a Monitor reads a log: tessera's HTTPFetcher (or any
// tlog-tiles reader).
type Source interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// ChainView is what the chain says of a log: its origin and operator key,
// and the latest checkpoint it witnessed (size 0 if none) at Height.
type ChainView struct {
	Origin        string
	OperatorKey   string
	WitnessedSize uint64
	WitnessedRoot []byte
	Height        int64
	// ProvenAt is the state height ReadChainView read, with proofs
	// checked against the app hash of the header at ProvenAt+1.
	ProvenAt int64
}

// ProvenState reads raw chain state with ICS23 proofs (height 0: the
// latest); *client.Client does.
type ProvenState interface {
	ProveKey(ctx context.Context, key []byte, height int64) (*client.KeyProof, error)
}

// ReadChainView reads what the chain says of log name, trusting the node
// for nothing: the log's record and its witnessed checkpoint are read at
// the latest height h with their ICS23 proofs, which are checked against
// the app hash of the header at h+1 that header returns. header must give
// a light-client-verified header, waiting for it to exist (a block
// interval at most): client.Client's WaitHeader with a client.Verifier.
// An answer that does not match its proof is an error wrapping ErrVerify.
func ReadChainView(ctx context.Context, st ProvenState, header func(ctx context.Context, height int64) (*types.LightBlock, error), name string) (ChainView, error) {
	var kps [2]*client.KeyProof
	var h int64
	for i, key := range [][]byte{logs.LogKey(name), logs.CheckpointKey(name)} {
		kp, err := st.ProveKey(ctx, key, h)
		if err != nil {
			return ChainView{}, err
		}
		if h == 0 {
			h = kp.Height
		}
		if kp.Height != h || h < 1 {
			return ChainView{}, fmt.Errorf("%w: asked for the state at height %d, the node answered for %d", ErrVerify, h, kp.Height)
		}
		kps[i] = kp
	}
	lb, err := header(ctx, h+1)
	if err != nil {
		return ChainView{}, err
	}
	for _, kp := range kps {
		if err := kp.Verify(lb.AppHash); err != nil {
			return ChainView{}, fmt.Errorf("%w: the node's answer for log %s: %v", ErrVerify, name, err)
		}
	}
	if len(kps[0].Value) == 0 {
		return ChainView{}, fmt.Errorf("%w: log %s is not registered on the chain (proven at height %d)", ErrNotFound, name, h)
	}
	var rec logs.Log
	if err := json.Unmarshal(kps[0].Value, &rec); err != nil {
		return ChainView{}, fmt.Errorf("log %s's record: %w", name, err)
	}
	view := ChainView{Origin: rec.Origin, OperatorKey: rec.OperatorKey, ProvenAt: h}
	if len(kps[1].Value) > 0 {
		var wc logs.Checkpoint
		if err := json.Unmarshal(kps[1].Value, &wc); err != nil {
			return ChainView{}, fmt.Errorf("log %s's witnessed checkpoint: %w", name, err)
		}
		view.WitnessedSize, view.WitnessedRoot, view.Height = wc.Size, wc.Root, wc.Height
	}
	return view, nil
}

// Monitor follows a log and checks what it serves: every checkpoint is
// signed by the operator and commits to the entries served (it rebuilds
// the tree from the entry bundles), every tile holds the hashes of those
// entries, the log never shrinks, and the chain's witnessed checkpoint is
// a prefix of what is served. Any contradiction is an error wrapping
// ErrInconsistent.
type Monitor struct {
	src    Source
	levels [][][]byte // levels[h][i]: hash of the complete subtree at height h, index i
	size   uint64
}

// NewMonitor returns a monitor reading from src.
func NewMonitor(src Source) *Monitor { return &Monitor{src: src, levels: [][][]byte{nil}} }

// Report is one check's outcome.
type Report struct {
	Size          uint64 `json:"size"`
	Root          []byte `json:"root"`
	WitnessedSize uint64 `json:"witnessed_size"`
	Height        int64  `json:"height"`
	NewEntries    uint64 `json:"new_entries"`
	TilesChecked  int    `json:"tiles_checked"`
}

func inconsistent(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInconsistent}, args...)...)
}

// Check fetches the latest checkpoint and verifies everything new since
// the last check against it and against the chain.
func (m *Monitor) Check(ctx context.Context, chain ChainView) (*Report, error) {
	v, err := note.NewVerifier(chain.OperatorKey)
	if err != nil {
		return nil, fmt.Errorf("operator key on the chain: %w", err)
	}
	raw, err := m.src.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch the checkpoint: %w", err)
	}
	cp, err := ParseCheckpoint(raw, chain.Origin, v)
	if err != nil {
		return nil, inconsistent("the served checkpoint is not the operator's: %v", err)
	}
	if cp.Size < m.size {
		return nil, inconsistent("the log shrank from %d to %d entries", m.size, cp.Size)
	}
	if cp.Size < chain.WitnessedSize {
		return nil, inconsistent("the log serves %d entries, the chain witnessed %d at height %d: it rolled back", cp.Size, chain.WitnessedSize, chain.Height)
	}
	from := m.size
	for i := from; i < cp.Size; {
		bundle, err := tclient.GetEntryBundle(ctx, m.src.ReadEntryBundle, i/layout.EntryBundleWidth, cp.Size)
		if err != nil {
			return nil, fmt.Errorf("failed to fetch the entries from %d: %w", i, err)
		}
		first := i % layout.EntryBundleWidth
		want := min(uint64(len(bundle.Entries)), first+(cp.Size-i))
		if uint64(len(bundle.Entries)) < want || want <= first {
			return nil, inconsistent("entry bundle %d holds %d entries, the checkpoint of %d implies more", i/layout.EntryBundleWidth, len(bundle.Entries), cp.Size)
		}
		for _, e := range bundle.Entries[first:want] {
			m.add(rfc6962.DefaultHasher.HashLeaf(e))
		}
		i += want - first
	}
	if got := m.rootAt(cp.Size); !bytes.Equal(got, cp.Root) {
		return nil, inconsistent("the entries served hash to root %x, the checkpoint of %d entries says %x: an entry was rewritten", got, cp.Size, cp.Root)
	}
	if chain.WitnessedSize > 0 {
		if got := m.rootAt(chain.WitnessedSize); !bytes.Equal(got, chain.WitnessedRoot) {
			return nil, inconsistent("the first %d entries served hash to %x, the chain witnessed %x at height %d: the log forked", chain.WitnessedSize, got, chain.WitnessedRoot, chain.Height)
		}
	}
	tiles, err := m.checkTiles(ctx, from, cp.Size)
	if err != nil {
		return nil, err
	}
	m.size = cp.Size
	return &Report{Size: cp.Size, Root: cp.Root, WitnessedSize: chain.WitnessedSize, Height: chain.Height, NewEntries: cp.Size - from, TilesChecked: tiles}, nil
}

// add appends a leaf hash and every complete subtree it finishes.
func (m *Monitor) add(h []byte) {
	m.levels[0] = append(m.levels[0], h)
	for lv := 0; len(m.levels[lv])%2 == 0; lv++ {
		n := len(m.levels[lv])
		if lv+1 == len(m.levels) {
			m.levels = append(m.levels, nil)
		}
		m.levels[lv+1] = append(m.levels[lv+1], rfc6962.DefaultHasher.HashChildren(m.levels[lv][n-2], m.levels[lv][n-1]))
	}
}

// rootAt is the RFC 6962 root of the first size leaves.
func (m *Monitor) rootAt(size uint64) []byte {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	// The complete subtrees of size's binary decomposition, right to left.
	var root []byte
	var start uint64
	var parts [][]byte
	for lv := len(m.levels) - 1; lv >= 0; lv-- {
		if size&(1<<uint(lv)) != 0 {
			parts = append(parts, m.levels[lv][start>>uint(lv)])
			start += 1 << uint(lv)
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if root == nil {
			root = parts[i]
		} else {
			root = rfc6962.DefaultHasher.HashChildren(parts[i], root)
		}
	}
	return root
}

// checkTiles compares every tile touched by entries [from, size) with
// the hashes rebuilt from the entries.
func (m *Monitor) checkTiles(ctx context.Context, from, size uint64) (int, error) {
	n := 0
	for tl := uint64(0); ; tl++ {
		h := tl * layout.TileHeight
		if int(h) >= len(m.levels) || size>>h == 0 {
			return n, nil
		}
		row := m.levels[h]
		count := size >> h // complete nodes at height h in a tree of size
		first := (from >> h) / layout.TileWidth
		last := (count - 1) / layout.TileWidth
		if count == 0 {
			return n, nil
		}
		for ti := first; ti <= last; ti++ {
			w := layout.PartialTileSize(tl, ti, size)
			raw, err := m.src.ReadTile(ctx, tl, ti, w)
			if err != nil {
				return n, fmt.Errorf("failed to fetch tile %s: %w", layout.TilePath(tl, ti, w), err)
			}
			var tile api.HashTile
			if err := tile.UnmarshalText(raw); err != nil {
				return n, inconsistent("tile %s: %v", layout.TilePath(tl, ti, w), err)
			}
			lo := ti * layout.TileWidth
			hi := min(lo+layout.TileWidth, count)
			if uint64(len(tile.Nodes)) < hi-lo {
				return n, inconsistent("tile %s holds %d hashes, want %d", layout.TilePath(tl, ti, w), len(tile.Nodes), hi-lo)
			}
			for j := lo; j < hi; j++ {
				if !bytes.Equal(tile.Nodes[j-lo], row[j]) {
					return n, inconsistent("tile %s: hash %d is %x, the entries give %x: the tile was tampered with", layout.TilePath(tl, ti, w), j-lo, tile.Nodes[j-lo], row[j])
				}
			}
			n++
		}
	}
}
