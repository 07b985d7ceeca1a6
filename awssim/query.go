package awssim

import (
	"sort"
	"strconv"
	"strings"
)

// query is one decoded Query request: flat names such as
// "TagSpecification.1.Tag.2.Key" mapped to their first value.
type query map[string]string

// str returns a parameter or "".
func (q query) str(name string) string { return q[name] }

// has reports whether a parameter was sent at all, even empty.
func (q query) has(name string) bool {
	_, ok := q[name]
	return ok
}

// boolean reads "true"/"false"; anything else is false, as botocore and the
// SDK only ever send those two spellings.
func (q query) boolean(name string) bool { return q[name] == "true" }

// integer parses an integer parameter; ok is false if absent, and err is set
// if present but not a number.
func (q query) integer(name string) (n int, ok bool, err *apiError) {
	v, present := q[name]
	if !present {
		return 0, false, nil
	}
	n, e := strconv.Atoi(v)
	if e != nil {
		return 0, true, errInvalidParameterValue(name, v)
	}
	return n, true, nil
}

// float parses a decimal parameter such as a price.
func (q query) float(name string) (f float64, ok bool, err *apiError) {
	v, present := q[name]
	if !present || v == "" {
		return 0, false, nil
	}
	f, e := strconv.ParseFloat(v, 64)
	if e != nil || f < 0 {
		return 0, true, errInvalidParameterValue(name, v)
	}
	return f, true, nil
}

// indexed returns the 1-based index groups under prefix, in index order:
// for prefix "Filter" it finds "Filter.1.Name", "Filter.2.Value.1", … . EC2
// flattens lists this way; STS puts ".member" before the index, so callers
// pass "Tags.member" there.
func (q query) indexed(prefix string) []int {
	p := prefix + "."
	seen := map[int]bool{}
	for k := range q {
		if !strings.HasPrefix(k, p) {
			continue
		}
		rest := k[len(p):]
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 {
			continue
		}
		seen[n] = true
	}
	idx := make([]int, 0, len(seen))
	for n := range seen {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	return idx
}

// list returns a list of scalars such as InstanceId.1, InstanceId.2.
func (q query) list(prefix string) []string {
	idx := q.indexed(prefix)
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		if v, ok := q[prefix+"."+strconv.Itoa(n)]; ok {
			out = append(out, v)
		}
	}
	return out
}

// structs returns a list of structures such as Filter.1.Name, each as a
// query with the prefix and index stripped.
func (q query) structs(prefix string) []query {
	idx := q.indexed(prefix)
	if len(idx) == 0 {
		return nil
	}
	out := make([]query, len(idx))
	pos := make(map[int]int, len(idx))
	for i, n := range idx {
		out[i] = query{}
		pos[n] = i
	}
	p := prefix + "."
	for k, v := range q {
		if !strings.HasPrefix(k, p) {
			continue
		}
		rest := k[len(p):]
		dot := strings.IndexByte(rest, '.')
		if dot < 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:dot])
		if err != nil {
			continue
		}
		if i, ok := pos[n]; ok {
			out[i][rest[dot+1:]] = v
		}
	}
	return out
}

// sub returns the members of one nested structure, e.g. "Placement".
func (q query) sub(prefix string) query {
	p := prefix + "."
	out := query{}
	for k, v := range q {
		if strings.HasPrefix(k, p) {
			out[k[len(p):]] = v
		}
	}
	return out
}

// fingerprint is a canonical form of the request minus the parameters that
// do not make it a different request, for ClientToken comparison.
func (q query) fingerprint(ignore ...string) string {
	keys := make([]string, 0, len(q))
outer:
	for k := range q {
		for _, ig := range ignore {
			if k == ig {
				continue outer
			}
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(q[k])
		b.WriteByte('&')
	}
	return b.String()
}

// tag is one key/value pair, in the order the caller gave it.
type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// tagSpecs reads TagSpecification.N.{ResourceType,Tag.M.{Key,Value}} and
// returns the tags for each resource type.
func tagSpecs(q query, prefix string) (map[string][]tag, *apiError) {
	out := map[string][]tag{}
	for _, spec := range q.structs(prefix) {
		rt := spec.str("ResourceType")
		if rt == "" {
			return nil, &apiError{Code: "MissingParameter", Message: "The request must contain the parameter " + prefix + ".ResourceType"}
		}
		tags, err := tagList(spec, "Tag")
		if err != nil {
			return nil, err
		}
		out[rt] = append(out[rt], tags...)
	}
	return out, nil
}

func tagList(q query, prefix string) ([]tag, *apiError) {
	var tags []tag
	for _, t := range q.structs(prefix) {
		k := t.str("Key")
		if k == "" || len(k) > 128 {
			return nil, errInvalidParameterValue("Tag.Key", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, &apiError{Code: "InvalidParameterValue", Message: "Tag keys starting with 'aws:' are reserved for internal use"}
		}
		if len(t.str("Value")) > 256 {
			return nil, errInvalidParameterValue("Tag.Value", t.str("Value"))
		}
		tags = setTag(tags, k, t.str("Value"))
	}
	return tags, nil
}

// setTag adds or replaces one tag, keeping order stable.
func setTag(tags []tag, k, v string) []tag {
	for i := range tags {
		if tags[i].Key == k {
			tags[i].Value = v
			return tags
		}
	}
	return append(tags, tag{k, v})
}
