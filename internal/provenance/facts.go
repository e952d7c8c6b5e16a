package provenance

import (
	"bytes"
	"context"
	"fmt"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
)

// Fact is a state key's proof and what it must show.
type Fact struct {
	// Fact describes it: "dataset sha256:…", "no flags on sha256:…", …
	Fact  string
	Proof *client.KeyProof
	// Want is the value the record must have (nil: checked elsewhere).
	Want []byte
	// Prefix, for absence facts: no key may start with it.
	Prefix []byte
}

// Check verifies the proof against an app hash and what it must show.
func (f Fact) Check(appHash []byte) error {
	if err := f.Proof.Verify(appHash); err != nil {
		return err
	}
	if f.Prefix != nil {
		return client.NoKeyWithPrefix(f.Proof, f.Prefix)
	}
	if f.Want != nil && !bytes.Equal(f.Want, f.Proof.Value) {
		return fmt.Errorf("the proven value differs from the record reported")
	}
	if f.Proof.Value == nil {
		return fmt.Errorf("absent")
	}
	return nil
}

func recordKey(n registry.Node) []byte {
	k, _ := registry.StateKey(n.Kind, string(n.ID))
	return k
}

func flagPrefix(id registry.ID) []byte { return []byte(registry.Name + "/fl/" + string(id) + "/") }

// ProveLineage fetches, at one height (0: the latest), the proof of every
// record in the lineage and of its flags: each flag's own key, or the
// absence of any.
func (c *Client) ProveLineage(ctx context.Context, l *registry.Lineage, height int64) ([]Fact, error) {
	var facts []Fact
	prove := func(desc string, key []byte) (*client.KeyProof, error) {
		p, err := c.Chain.ProveKey(ctx, key, height)
		if err != nil {
			return nil, fmt.Errorf("prove %s: %w", desc, err)
		}
		height = p.Height // every fact at the height of the first
		return p, nil
	}
	for _, n := range l.Nodes {
		desc := n.Kind + " " + string(n.ID)
		p, err := prove(desc, recordKey(n))
		if err != nil {
			return nil, err
		}
		facts = append(facts, Fact{Fact: desc, Proof: p, Want: nodeValue(n)})
		if n.Kind == "run" {
			continue // runs are not flagged
		}
		if len(n.Flags) == 0 {
			prefix := flagPrefix(n.ID)
			p, err := prove("no flags on "+string(n.ID), prefix)
			if err != nil {
				return nil, err
			}
			facts = append(facts, Fact{Fact: "no flags on " + string(n.ID), Proof: p, Prefix: prefix})
			continue
		}
		for _, f := range n.Flags {
			key := append(flagPrefix(n.ID), f.Hash...)
			p, err := prove("flag", key)
			if err != nil {
				return nil, err
			}
			facts = append(facts, Fact{Fact: fmt.Sprintf("flag of %s by %s", n.ID, f.Hash), Proof: p, Want: ledger.MustEncodeJSON(f)})
		}
	}
	return facts, nil
}

// nodeValue is the stored form of a node's record.
func nodeValue(n registry.Node) []byte {
	switch n.Kind {
	case "dataset":
		return ledger.MustEncodeJSON(n.Dataset)
	case "model":
		return ledger.MustEncodeJSON(n.Model)
	case "run":
		return ledger.MustEncodeJSON(n.Run)
	}
	return nil
}
