package awssim

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// tagIndex maps tag key → tag value → the instances carrying that pair, in
// seq order. Callers such as spotter filter every DescribeInstances by a
// per-launch tag, and answering that by scanning made each call cost as much
// as every instance the region still remembers.
//
// Only the first tag of each key is indexed, because filterValues reads only
// that one. The index must be updated with the tags as they were indexed, so
// anything that changes an instance's tags removes it first and adds it back
// afterwards.
type tagIndex map[string]map[string][]*instance

func (ix tagIndex) add(in *instance) {
	forIndexedTags(in.tags, func(t tag) {
		vals := ix[t.Key]
		if vals == nil {
			vals = map[string][]*instance{}
			ix[t.Key] = vals
		}
		list := vals[t.Value]
		// Launches arrive in seq order, so this is nearly always an append;
		// a CreateTags on an older instance inserts in the middle.
		vals[t.Value] = slices.Insert(list, seqIndex(list, in.seq), in)
	})
}

func (ix tagIndex) remove(in *instance) {
	forIndexedTags(in.tags, func(t tag) {
		vals := ix[t.Key]
		list := vals[t.Value]
		i := seqIndex(list, in.seq)
		if i == len(list) || list[i] != in {
			panic("awssim: tag index lost instance " + in.id) // a missed update would silently hide instances
		}
		if list = slices.Delete(list, i, i+1); len(list) > 0 {
			vals[t.Value] = list
			return
		}
		delete(vals, t.Value)
		if len(vals) == 0 {
			delete(ix, t.Key)
		}
	})
}

// forIndexedTags calls fn with the first tag of each key. Tag sets are small
// (EC2 allows 50), so the quadratic check is cheaper than a map.
func forIndexedTags(tags []tag, fn func(tag)) {
	for i, t := range tags {
		if !slices.ContainsFunc(tags[:i], func(u tag) bool { return u.Key == t.Key }) {
			fn(t)
		}
	}
}

// seqIndex is the position of the first instance in list with seq >= seq.
func seqIndex(list []*instance, seq int) int {
	i, _ := slices.BinarySearchFunc(list, seq, func(in *instance, seq int) int { return cmp.Compare(in.seq, seq) })
	return i
}

// exactTagFilter returns the key of a tag:K filter whose values can only
// match literally, which is when the index can answer it.
func exactTagFilter(f filter) (string, bool) {
	k, ok := strings.CutPrefix(f.name, "tag:")
	if !ok {
		return "", false
	}
	for _, v := range f.values {
		if strings.ContainsAny(v, `*?\`) { // the characters glob gives meaning to
			return "", false
		}
	}
	return k, true
}

// indexedCandidates returns, in seq order, a superset of the instances that
// match filters, taken from the index for the most selective exact tag
// filter; ok is false when no filter can use the index and the caller must
// walk every instance.
//
// Filters after the first unknown one are not used: the scan answers
// InvalidParameterValue as soon as an instance matches every filter before
// it, so those instances must stay candidates for the error to come out the
// same.
func (r *region) indexedCandidates(filters []filter) (_ []*instance, ok bool) {
	var best [][]*instance
	bestSize := 0
	for _, f := range filters {
		if _, known := r.filterValues(&instance{}, f.name, time.Time{}); !known {
			break // filterValues knows names by name alone, so any instance will do
		}
		k, exact := exactTagFilter(f)
		if !exact {
			continue
		}
		var lists [][]*instance
		size := 0
		for i, v := range f.values {
			if l := r.byTag[k][v]; len(l) > 0 && !slices.Contains(f.values[:i], v) {
				lists = append(lists, l)
				size += len(l)
			}
		}
		if !ok || size < bestSize {
			best, bestSize, ok = lists, size, true
		}
	}
	switch {
	case !ok:
		return nil, false
	case len(best) == 0:
		return nil, true
	case len(best) == 1:
		return best[0], true
	}
	// An instance has one value per key, so the lists are disjoint.
	out := make([]*instance, 0, bestSize)
	for _, l := range best {
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b *instance) int { return cmp.Compare(a.seq, b.seq) })
	return out, true
}
