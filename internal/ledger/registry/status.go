package registry

import (
	"slices"

	"github.com/vai-dev/vai/internal/ledger"
)

// MaxLineage bounds how many records a lineage walk visits.
const MaxLineage = 10_000

// RecordStatus is what the lineage of a record says about it: flags on the
// record or anything it derives from, and withdrawn datasets among them.
type RecordStatus struct {
	Flags     []Flag      `json:"flags"`
	Withdrawn []Withdrawn `json:"withdrawn"`
}

// Withdrawn names a withdrawn dataset in a record's lineage.
type Withdrawn struct {
	Dataset ID `json:"dataset"`
	Tombstone
}

// Clean reports whether nothing in the lineage is flagged or withdrawn.
func (s RecordStatus) Clean() bool { return len(s.Flags) == 0 && len(s.Withdrawn) == 0 }

// Node is a record in a lineage graph.
type Node struct {
	ID      ID       `json:"id"`
	Kind    string   `json:"kind"` // dataset, model or run
	Dataset *Dataset `json:"dataset,omitempty"`
	Model   *Model   `json:"model,omitempty"`
	Run     *Run     `json:"run,omitempty"`
	Flags   []Flag   `json:"flags,omitempty"`
}

// Edge says From was made from To: "parent", "dataset", "base" or "run".
type Edge struct {
	From ID     `json:"from"`
	To   ID     `json:"to"`
	Rel  string `json:"rel"`
}

// Lineage is the graph of everything a record derives from.
type Lineage struct {
	Root   ID           `json:"root"`
	Nodes  []Node       `json:"nodes"`
	Edges  []Edge       `json:"edges"`
	Status RecordStatus `json:"status"`
}

// LineageOf walks a record's lineage upwards: parents of datasets, base
// models, datasets and runs of models. Nodes come in the order met
// (breadth first from the root), so the output is deterministic.
func LineageOf(ctx *ledger.Context, id ID) (*Lineage, error) {
	l := &Lineage{Root: id, Nodes: []Node{}, Edges: []Edge{}, Status: RecordStatus{Flags: []Flag{}, Withdrawn: []Withdrawn{}}}
	seen := map[ID]bool{id: true}
	queue := []ID{id}
	for len(queue) > 0 {
		if len(l.Nodes) >= MaxLineage {
			return nil, ErrLineageTooDeep.Wrapf("more than %d records in the lineage of %s", MaxLineage, id)
		}
		cur := queue[0]
		queue = queue[1:]
		n := Node{ID: cur}
		var next []Edge
		if d, ok := GetDataset(ctx, cur); ok {
			n.Kind, n.Dataset = "dataset", d
			for _, p := range d.Parents {
				next = append(next, Edge{From: cur, To: p, Rel: "parent"})
			}
			if d.Withdrawn != nil {
				l.Status.Withdrawn = append(l.Status.Withdrawn, Withdrawn{Dataset: cur, Tombstone: *d.Withdrawn})
			}
		} else if md, ok := GetModel(ctx, cur); ok {
			n.Kind, n.Model = "model", md
			if md.Base != "" {
				next = append(next, Edge{From: cur, To: md.Base, Rel: "base"})
			}
			for _, d := range md.Datasets {
				next = append(next, Edge{From: cur, To: d, Rel: "dataset"})
			}
			if md.Run != "" {
				next = append(next, Edge{From: cur, To: md.Run, Rel: "run"})
			}
		} else if r, ok := GetRun(ctx, cur); ok {
			n.Kind, n.Run = "run", r
			for _, d := range r.Datasets {
				next = append(next, Edge{From: cur, To: d, Rel: "dataset"})
			}
			if r.Base != "" {
				next = append(next, Edge{From: cur, To: r.Base, Rel: "base"})
			}
		} else {
			if cur == id {
				return nil, ErrNotFound.Wrapf("no dataset, model or run %s", id)
			}
			return nil, ErrNotFound.Wrapf("%s, in the lineage of %s, is not registered", cur, id)
		}
		n.Flags = flagsOf(ctx, cur)
		l.Status.Flags = append(l.Status.Flags, n.Flags...)
		l.Nodes = append(l.Nodes, n)
		for _, e := range next {
			l.Edges = append(l.Edges, e)
			if !seen[e.To] {
				seen[e.To] = true
				queue = append(queue, e.To)
			}
		}
	}
	return l, nil
}

// Status derives a record's flags and withdrawals from its lineage.
func Status(ctx *ledger.Context, id ID) (RecordStatus, error) {
	l, err := LineageOf(ctx, id)
	if err != nil {
		return RecordStatus{}, err
	}
	return l.Status, nil
}

func flagsOf(ctx *ledger.Context, id ID) []Flag {
	prefix := []byte(pFlag + string(id) + "/")
	it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
	defer it.Close()
	var out []Flag
	for ; it.Valid(); it.Next() {
		var f Flag
		if err := ledger.DecodeJSON(it.Value(), &f); err != nil {
			panic(&ledger.StorageError{Err: err})
		}
		out = append(out, f)
	}
	return out
}

// UsedBy lists the records that name id in their lineage directly.
func UsedBy(ctx *ledger.Context, id ID, limit int) []ID {
	prefix := []byte(pUsers + string(id) + "/")
	it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
	defer it.Close()
	var out []ID
	for ; it.Valid() && len(out) < limit; it.Next() {
		out = append(out, ID(it.Key()[len(prefix):]))
	}
	slices.Sort(out)
	return out
}
