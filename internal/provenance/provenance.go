// Package provenance holds the client side of vai's provenance commands:
// hashing a directory into a manifest, storing blobs in the node's content
// store, registering datasets, models, runs and works, verifying a
// directory against the registry, rendering lineage, and exporting and
// checking offline audit bundles.
package provenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/vai-dev/vai/cas"
	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/manifest"
)

// Client talks to a node: its RPC (the chain) and its REST API (blobs).
type Client struct {
	Chain *client.Client
	// API is the REST API's base URL, e.g. http://127.0.0.1:1317.
	API  string
	HTTP *http.Client
}

// New returns a client of the node at rpc and api.
func New(chain *client.Client, api string) *Client {
	return &Client{Chain: chain, API: strings.TrimSuffix(api, "/"), HTTP: &http.Client{Timeout: 10 * time.Minute}}
}

// PutBlob stores data in the node's content store and returns its CID,
// after checking the node computed the same CID as this client.
func (c *Client) PutBlob(ctx context.Context, data []byte) (string, error) {
	want, _, err := cas.Sum(bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.API+"/blobs/"+want.String(), bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("upload to %s: %w", c.API, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return "", fmt.Errorf("upload to %s: %s: %s", c.API, res.Status, strings.TrimSpace(string(b)))
	}
	return want.String(), nil
}

// ErrBlobNotFound: the node's content store does not have the blob.
var ErrBlobNotFound = errors.New("blob not in the content store")

// GetBlob fetches a blob (at most max bytes) and checks it has the CID.
func (c *Client) GetBlob(ctx context.Context, cidStr string, max int64) ([]byte, error) {
	want, err := cas.Parse(cidStr)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.API+"/blobs/"+want.String(), nil)
	if err != nil {
		return nil, err
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", cidStr, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, cidStr)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s", cidStr, res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", cidStr, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", cidStr, max)
	}
	got, _, err := cas.Sum(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if !got.Equals(want) {
		return nil, fmt.Errorf("%w: the node sent bytes of %s for %s", cas.ErrCorrupt, got, want)
	}
	return data, nil
}

// Record reads a registered dataset, model or run (nil if none).
func (c *Client) Record(ctx context.Context, id registry.ID) (*registry.RecordResponse, error) {
	var r registry.RecordResponse
	if _, err := c.Chain.Query(ctx, "/registry/record", map[string]any{"id": id}, &r, 0); err != nil {
		var qe *client.QueryError
		if errors.As(err, &qe) && qe.Codespace == registry.Name && qe.Code == registry.ErrNotFound.Code {
			return nil, nil
		}
		return nil, err
	}
	return &r, nil
}

// Lineage reads a record's lineage.
func (c *Client) Lineage(ctx context.Context, id registry.ID) (*registry.Lineage, error) {
	var l registry.Lineage
	if _, err := c.Chain.Query(ctx, "/registry/lineage", map[string]any{"id": id}, &l, 0); err != nil {
		return nil, err
	}
	return &l, nil
}

// BuildOptions are how a directory is hashed.
type BuildOptions struct {
	manifest.Config
}

// Built is a hashed directory ready to register.
type Built struct {
	*manifest.Result
	ID        registry.ID
	Canonical []byte
}

// Build hashes path into a manifest.
func Build(ctx context.Context, path string, cfg manifest.Config) (*Built, error) {
	res, err := manifest.Build(ctx, path, cfg)
	if err != nil {
		return nil, err
	}
	return &Built{Result: res, ID: registry.ID(res.Manifest.Identity().String()), Canonical: res.Manifest.Canonical()}, nil
}

// Store uploads a built manifest's canonical statement and returns the
// registration content (CID, Merkle commitment, sizes).
func (c *Client) Store(ctx context.Context, b *Built) (registry.Content, error) {
	cidStr, err := c.PutBlob(ctx, b.Canonical)
	if err != nil {
		return registry.Content{}, err
	}
	_, content := registry.ManifestRecord(b.Manifest, b.Files, b.Bytes, cidStr)
	return content, nil
}

// Manifest fetches and parses a registered record's manifest, checking it
// is the preimage of the identity.
func (c *Client) Manifest(ctx context.Context, id registry.ID, content registry.Content) (*manifest.Manifest, []byte, error) {
	data, err := c.GetBlob(ctx, content.ManifestCID, 256<<20)
	if err != nil {
		return nil, nil, err
	}
	m, err := checkManifest(id, content, data)
	return m, data, err
}

// checkManifest parses a registered manifest and checks it against the
// record: identity, Merkle root and resource count.
func checkManifest(id registry.ID, content registry.Content, data []byte) (*manifest.Manifest, error) {
	m, err := manifest.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", id, err)
	}
	if got := registry.ID(m.Identity().String()); got != id {
		return nil, fmt.Errorf("the manifest stored for %s has identity %s", id, got)
	}
	// The stored blob is the canonical statement itself, the identity's
	// preimage, byte for byte.
	if !bytes.Equal(m.Canonical(), data) {
		return nil, fmt.Errorf("the manifest stored for %s is not its canonical statement", id)
	}
	_, c := registry.ManifestRecord(m, 0, 0, "")
	if c.MerkleRoot != content.MerkleRoot || c.Resources != content.Resources {
		return nil, fmt.Errorf("the registration of %s commits to Merkle root %s over %d resources, its manifest gives %s over %d",
			id, content.MerkleRoot, content.Resources, c.MerkleRoot, c.Resources)
	}
	return m, nil
}

func jsonIndent(v any) ([]byte, error) {
	return json.Marshal(v, json.Deterministic(true))
}
