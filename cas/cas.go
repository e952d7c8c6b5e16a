// Package cas is vai's content-addressed blob store: manifests, run
// statements and large payloads live in it, and the chain stores only
// their CIDs.
//
// # Addresses
//
// A blob's address is a CIDv1 that IPFS kubo gives the same bytes with
// `ipfs add --cid-version=1` (256 KiB chunks, raw leaves, balanced DAG of
// at most 174 links per node, SHA-256). A blob of at most 256 KiB therefore
// has the plain raw CID of its bytes (bafkrei…), and a larger one the CID of
// a dag-pb UnixFS root (bafybei…). Sum computes it from the bytes alone, so
// every backend, and any IPFS node, agrees on a blob's CID, and a CID read
// from the chain can be fetched from any IPFS gateway.
//
// # Backends
//
// Store is the interface every backend implements:
//
//   - cas/local keeps blobs in a directory (the default, in the vai home);
//   - cas/kubo keeps them in an IPFS kubo node, over its HTTP RPC API.
//
// Handler serves a Store over HTTP for the node's REST API.
//
// # Verification
//
// Readers returned by Get check the bytes against the CID as they stream
// and fail at the end with an error wrapping ErrCorrupt on a mismatch: read
// to io.EOF before trusting what was read.
package cas

import (
	"context"
	"errors"
	"io"

	"github.com/ipfs/go-cid"
)

// Errors of the Store contract.
var (
	// ErrNotFound: no blob has that CID.
	ErrNotFound = errors.New("blob not found")
	// ErrCorrupt: the bytes read do not have the CID they were asked for.
	ErrCorrupt = errors.New("blob does not match its CID")
	// ErrTooLarge: a blob exceeds a size limit.
	ErrTooLarge = errors.New("blob too large")
	// ErrUnsupportedCID: the CID is not one a Store can hold or verify
	// (CIDv1 or v0, raw or dag-pb, SHA-256).
	ErrUnsupportedCID = errors.New("unsupported CID")
)

// Info describes a stored blob.
type Info struct {
	CID  cid.Cid
	Size int64 // bytes of content
}

// Store is a content-addressed blob store.
//
// Implementations must be safe for concurrent use, and must return errors
// wrapping ErrNotFound when a CID is not stored (Get, Stat) and
// ErrUnsupportedCID when a CID cannot be verified. Put must store a blob
// entirely or not at all: a failed or cancelled Put leaves nothing behind.
type Store interface {
	// Put stores the bytes of r and returns their CID (see Sum). Putting
	// bytes that are already stored is not an error.
	Put(ctx context.Context, r io.Reader) (cid.Cid, error)
	// Get returns the blob's bytes. The reader verifies them against c and
	// fails at the end with an error wrapping ErrCorrupt if they differ.
	Get(ctx context.Context, c cid.Cid) (io.ReadCloser, error)
	// Has reports whether the blob is stored.
	Has(ctx context.Context, c cid.Cid) (bool, error)
	// Stat returns the blob's size.
	Stat(ctx context.Context, c cid.Cid) (Info, error)
}
