package provenance

import (
	"context"
	"fmt"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/manifest"
)

// VerifyOptions shape Verify.
type VerifyOptions struct {
	// ID, if set, is the registration to compare against; PATH is then
	// hashed the way that registration's manifest was.
	ID registry.ID
	// Build is how to hash PATH without ID (and the cache to use with it).
	Build manifest.Config
	// Verifier, if set, checks every fact reported with ICS23 proofs
	// against light-client-verified headers.
	Verifier *client.Verifier
}

// VerifyReport says what PATH is, according to the registry.
type VerifyReport struct {
	Path     string                   `json:"path"`
	Identity registry.ID              `json:"identity"`
	Record   *registry.RecordResponse `json:"record,omitempty"`
	Lineage  *registry.Lineage        `json:"lineage,omitempty"`
	// Diff lists the files that differ from the registration given by ID.
	Diff *manifest.Diff `json:"diff,omitempty"`
	// Proofs are the facts checked with --prove: every record of the
	// lineage, and the absence (or presence) of flags on each.
	Proofs []ProvenFact `json:"proofs,omitempty"`
	// OK: PATH matches a registration neither flagged nor withdrawn (and,
	// with proofs, every fact verified).
	OK      bool     `json:"ok"`
	Reasons []string `json:"reasons,omitempty"`
}

// ProvenFact is one state key checked against a verified header.
type ProvenFact struct {
	Fact         string `json:"fact"`
	Key          string `json:"key"`
	Height       int64  `json:"height"`
	HeaderHeight int64  `json:"header_height"`
	Verified     bool   `json:"verified"`
}

// Verify hashes path and reports its registration: kind, name, owner,
// time, licence, lineage, flags. OK is true only when path matches a
// registration that is neither flagged nor withdrawn.
func (c *Client) Verify(ctx context.Context, path string, o VerifyOptions) (*VerifyReport, error) {
	rep := &VerifyReport{Path: path}
	cfg := o.Build
	var want *manifest.Manifest
	if o.ID != "" {
		rec, err := c.Record(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		if rec == nil || (rec.Kind != "dataset" && rec.Kind != "model") {
			return nil, fmt.Errorf("no dataset or model is registered as %s", o.ID)
		}
		content := contentOf(rec)
		if want, _, err = c.Manifest(ctx, o.ID, content); err != nil {
			return nil, err
		}
		cache := cfg.CacheDir
		cfg = want.Serialization.Config()
		cfg.CacheDir, cfg.Progress = cache, o.Build.Progress
	}
	b, err := Build(ctx, path, cfg)
	if err != nil {
		return nil, err
	}
	rep.Identity = b.ID
	lookup := b.ID
	if o.ID != "" {
		lookup = o.ID
		if b.ID != o.ID {
			d, err := manifest.Compare(want, b.Manifest)
			if err != nil {
				return nil, err
			}
			rep.Diff = &d
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("%s does not match registration %s: %d changed, %d missing, %d extra file(s)",
				path, o.ID, len(d.Changed), len(d.Missing), len(d.Extra)))
		}
	}
	rec, err := c.Record(ctx, lookup)
	if err != nil {
		return nil, err
	}
	if rec == nil || (rec.Kind != "dataset" && rec.Kind != "model") {
		rep.Reasons = append(rep.Reasons, fmt.Sprintf("no dataset or model is registered with identity %s (hashed as %s; pass --id to compare with a registration, or the --hash it was registered with)",
			b.ID, b.Manifest.Serialization.Algorithm()))
		return rep, nil
	}
	rep.Record = rec
	if rep.Lineage, err = c.Lineage(ctx, lookup); err != nil {
		return nil, err
	}
	if !rec.Status.Clean() {
		rep.Reasons = append(rep.Reasons, StatusLine(rec.Status))
	}
	if o.Verifier != nil {
		if err := c.proveLineage(ctx, o.Verifier, rep); err != nil {
			return nil, err
		}
	}
	rep.OK = len(rep.Reasons) == 0
	return rep, nil
}

func contentOf(rec *registry.RecordResponse) registry.Content {
	if rec.Dataset != nil {
		return rec.Dataset.Content
	}
	return rec.Model.Content
}

// proveLineage checks every lineage record and its flags at one height.
func (c *Client) proveLineage(ctx context.Context, v *client.Verifier, rep *VerifyReport) error {
	facts, err := c.ProveLineage(ctx, rep.Lineage, 0)
	if err != nil {
		return err
	}
	if len(facts) == 0 {
		return nil
	}
	lb, err := c.Chain.WaitHeader(ctx, v, facts[0].Proof.Height+1)
	if err != nil {
		return err
	}
	for _, f := range facts {
		pf := ProvenFact{Fact: f.Fact, Key: string(f.Proof.Key), Height: f.Proof.Height, HeaderHeight: lb.Height}
		err := f.Check(lb.AppHash)
		pf.Verified = err == nil
		if err != nil {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("proof failed: %s: %v", f.Fact, err))
		}
		rep.Proofs = append(rep.Proofs, pf)
	}
	return nil
}
