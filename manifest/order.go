package manifest

import (
	"cmp"
	"slices"
	"strings"
)

// OMS sorts resources with Python's sorted() on _File(path) or
// _Shard(path, start, end) keys, where path is a PurePosixPath. Paths compare
// component by component, so "a/b" < "a b/y" < "a-b/x" < "a.txt", and shards
// compare by integer offsets, so 8:16 comes before 16:24. Byte-wise
// comparison of UTF-8 components equals Python's code-point order.

// comparePaths compares two POSIX paths component by component.
func comparePaths(a, b string) int {
	for {
		ca, resta, moreA := strings.Cut(a, "/")
		cb, restb, moreB := strings.Cut(b, "/")
		if c := strings.Compare(ca, cb); c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1 // a is a prefix of b
		case !moreB:
			return 1
		}
		a, b = resta, restb
	}
}

// sortKey is a resource's position in OMS order.
type sortKey struct {
	path       string
	start, end int64
}

func compareKeys(a, b sortKey) int {
	if c := comparePaths(a.path, b.path); c != 0 {
		return c
	}
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	return cmp.Compare(a.end, b.end)
}

// resourceKey returns the sort key of a resource name under method.
func resourceKey(method Method, name string) (sortKey, error) {
	if method != Shards {
		return sortKey{path: name}, nil
	}
	p, start, end, err := splitShardName(name)
	return sortKey{p, start, end}, err
}

// sortResources puts resources in OMS order. Names must be valid for method.
func sortResources(method Method, rs []Resource) {
	slices.SortFunc(rs, func(a, b Resource) int {
		ka, _ := resourceKey(method, a.Name)
		kb, _ := resourceKey(method, b.Name)
		return compareKeys(ka, kb)
	})
}
