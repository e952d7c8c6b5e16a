package provenance

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vai-dev/vai/internal/ledger/registry"
)

func short(id registry.ID) string {
	s := string(id)
	if len(s) > 19 {
		return s[:19] + "…"
	}
	return s
}

// Describe is a one-line description of a lineage node.
func Describe(n registry.Node) string {
	switch n.Kind {
	case "dataset":
		d := n.Dataset
		s := fmt.Sprintf("dataset %q %s, licence %s, owner %s, %d files, registered at height %d (%s)",
			d.Name, short(d.ID), d.License, d.Owner, d.Files, d.Registered.Height, d.Registered.Time.UTC().Format(time.RFC3339))
		if len(d.Contributors) > 0 {
			s += fmt.Sprintf(", %d contributor(s)", len(d.Contributors))
		}
		if d.Withdrawn != nil {
			s += fmt.Sprintf(" — WITHDRAWN at height %d: %s", d.Withdrawn.Height, d.Withdrawn.Reason)
		}
		return s
	case "model":
		m := n.Model
		return fmt.Sprintf("model %q %s, licence %s, owner %s, registered at height %d (%s)",
			m.Name, short(m.ID), m.License, m.Owner, m.Registered.Height, m.Registered.Time.UTC().Format(time.RFC3339))
	case "run":
		r := n.Run
		return fmt.Sprintf("training run %s by %s, code %s (%s), hyper-parameters %s",
			short(r.ID), r.Trainer, r.CodeURI, r.CodeDigest, short(registry.ID(r.HyperparamsDigest)))
	}
	return string(n.ID)
}

// RenderText writes the lineage as a tree, root first. A record reached
// twice is printed once and referred to after.
func RenderText(w io.Writer, l *registry.Lineage) {
	nodes := map[registry.ID]registry.Node{}
	for _, n := range l.Nodes {
		nodes[n.ID] = n
	}
	children := map[registry.ID][]registry.Edge{}
	for _, e := range l.Edges {
		children[e.From] = append(children[e.From], e)
	}
	printed := map[registry.ID]bool{}
	var walk func(id registry.ID, prefix, rel string, last bool, root bool)
	walk = func(id registry.ID, prefix, rel string, last bool, root bool) {
		n := nodes[id]
		line, next := "", prefix
		if !root {
			if last {
				line, next = prefix+"└─ ", prefix+"   "
			} else {
				line, next = prefix+"├─ ", prefix+"│  "
			}
			line += rel + ": "
		}
		if printed[id] {
			fmt.Fprintf(w, "%s%s %s (above)\n", line, n.Kind, short(id))
			return
		}
		printed[id] = true
		desc := Describe(n)
		for _, f := range n.Flags {
			desc += fmt.Sprintf(" — FLAGGED: %s is deny-listed %s", f.File, f.Hash)
		}
		fmt.Fprintf(w, "%s%s\n", line, desc)
		kids := children[id]
		for i, e := range kids {
			walk(e.To, next, e.Rel, i == len(kids)-1, false)
		}
	}
	walk(l.Root, "", "", true, true)
	fmt.Fprintln(w, StatusLine(l.Status))
}

// StatusLine summarises a derived status.
func StatusLine(s registry.RecordStatus) string {
	if s.Clean() {
		return "status: clean (nothing in the lineage is flagged or withdrawn)"
	}
	var parts []string
	for _, f := range s.Flags {
		parts = append(parts, fmt.Sprintf("%s flagged (%s contains deny-listed %s)", short(f.Record), f.File, f.Hash))
	}
	for _, d := range s.Withdrawn {
		parts = append(parts, fmt.Sprintf("dataset %s withdrawn at height %d (%s)", short(d.Dataset), d.Height, d.Reason))
	}
	return "status: " + strings.Join(parts, "; ")
}

// Licences lists the distinct licences in a lineage, in order met.
func Licences(l *registry.Lineage) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range l.Nodes {
		var lic string
		switch n.Kind {
		case "dataset":
			lic = n.Dataset.License
		case "model":
			lic = n.Model.License
		}
		if lic != "" && !seen[lic] {
			seen[lic] = true
			out = append(out, lic)
		}
	}
	return out
}

// RenderDOT writes the lineage as a Graphviz digraph.
func RenderDOT(w io.Writer, l *registry.Lineage) {
	fmt.Fprintln(w, "digraph lineage {")
	fmt.Fprintln(w, `  rankdir=BT; node [shape=box, fontname="Helvetica"];`)
	for _, n := range l.Nodes {
		label, shape := string(n.ID), "box"
		switch n.Kind {
		case "dataset":
			label = fmt.Sprintf("dataset\\n%s\\n%s", n.Dataset.Name, n.Dataset.License)
			shape = "cylinder"
		case "model":
			label = fmt.Sprintf("model\\n%s\\n%s", n.Model.Name, n.Model.License)
		case "run":
			label = fmt.Sprintf("run\\n%s", short(n.ID))
			shape = "ellipse"
		}
		attrs := fmt.Sprintf(`label="%s\n%s", shape=%s`, escapeDOT(label), short(n.ID), shape)
		if len(n.Flags) > 0 || (n.Dataset != nil && n.Dataset.Withdrawn != nil) {
			attrs += `, color=red, fontcolor=red`
		}
		fmt.Fprintf(w, "  %q [%s];\n", string(n.ID), attrs)
	}
	for _, e := range l.Edges {
		fmt.Fprintf(w, "  %q -> %q [label=%q];\n", string(e.To), string(e.From), e.Rel)
	}
	fmt.Fprintln(w, "}")
}

func escapeDOT(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }

// OpenLineageEvent is an OpenLineage run event (spec 2-0-2).
type OpenLineageEvent struct {
	EventType string      `json:"eventType"`
	EventTime string      `json:"eventTime"`
	Run       olRun       `json:"run"`
	Job       olJob       `json:"job"`
	Inputs    []olDataset `json:"inputs"`
	Outputs   []olDataset `json:"outputs"`
	Producer  string      `json:"producer"`
	SchemaURL string      `json:"schemaURL"`
}

type olRun struct {
	RunID  string         `json:"runId"`
	Facets map[string]any `json:"facets,omitempty"`
}

type olJob struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

type olDataset struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    map[string]any `json:"facets,omitempty"`
}

const (
	olProducer = "https://github.com/vai-dev/vai"
	olSchema   = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
)

// uuidOf derives a stable UUID (version 8, RFC 9562) from a record id.
func uuidOf(id registry.ID) string {
	h := sha256.Sum256([]byte(id))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// OpenLineage turns the training runs and model registrations of a lineage
// into OpenLineage run events: a run's inputs are its datasets and base
// model, its output the checkpoint.
func OpenLineage(l *registry.Lineage, chainID string) []OpenLineageEvent {
	ns := "vai://" + chainID
	nodes := map[registry.ID]registry.Node{}
	for _, n := range l.Nodes {
		nodes[n.ID] = n
	}
	ds := func(id registry.ID) olDataset {
		d := olDataset{Namespace: ns, Name: string(id), Facets: map[string]any{}}
		if n, ok := nodes[id]; ok {
			switch n.Kind {
			case "dataset":
				d.Facets["vai"] = map[string]any{"kind": "dataset", "name": n.Dataset.Name, "license": n.Dataset.License, "manifest_cid": n.Dataset.ManifestCID}
			case "model":
				d.Facets["vai"] = map[string]any{"kind": "model", "name": n.Model.Name, "license": n.Model.License, "manifest_cid": n.Model.ManifestCID}
			}
		}
		return d
	}
	var out []OpenLineageEvent
	for _, n := range l.Nodes {
		if n.Kind != "model" {
			continue
		}
		m := n.Model
		ev := OpenLineageEvent{EventType: "COMPLETE", EventTime: m.Registered.Time.UTC().Format(time.RFC3339Nano),
			Job: olJob{Namespace: ns, Name: "train/" + m.Name}, Inputs: []olDataset{}, Outputs: []olDataset{ds(m.ID)},
			Producer: olProducer, SchemaURL: olSchema}
		ev.Run.RunID = uuidOf(m.ID)
		if m.Run != "" {
			ev.Run.RunID = uuidOf(m.Run)
			if r, ok := nodes[m.Run]; ok && r.Run != nil {
				ev.Run.Facets = map[string]any{"vai_run": map[string]any{"id": r.Run.ID, "trainer": r.Run.Trainer,
					"code_uri": r.Run.CodeURI, "code_digest": r.Run.CodeDigest, "hyperparameters_digest": r.Run.HyperparamsDigest, "statement_cid": r.Run.StatementCID}}
			}
		}
		for _, d := range m.Datasets {
			ev.Inputs = append(ev.Inputs, ds(d))
		}
		if m.Base != "" {
			ev.Inputs = append(ev.Inputs, ds(m.Base))
		}
		out = append(out, ev)
	}
	return out
}
