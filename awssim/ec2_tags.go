package awssim

import (
	"fmt"
	"sort"
	"strings"
)

// taggable finds a resource by id for CreateTags/DeleteTags; the caller
// holds r.mu. An instance is returned too, for its tag index entries must
// follow the change.
func (r *region) taggable(id string) (*[]tag, *instance, *apiError) {
	switch {
	case strings.HasPrefix(id, "i-"):
		if in, ok := r.instances[id]; ok {
			return &in.tags, in, nil
		}
		return nil, nil, &apiError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance ID '%s' does not exist", id)}
	case strings.HasPrefix(id, "sir-"):
		if sr, ok := r.spotRequests[id]; ok {
			return &sr.tags, nil, nil
		}
		return nil, nil, &apiError{Code: "InvalidSpotInstanceRequestID.NotFound", Message: fmt.Sprintf("The spot instance request ID '%s' does not exist", id)}
	case strings.HasPrefix(id, "lt-"):
		if t, ok := r.templates[id]; ok {
			return &t.tags, nil, nil
		}
		return nil, nil, &apiError{Code: "InvalidLaunchTemplateId.NotFound", Message: fmt.Sprintf("The specified launch template, with template ID %s, does not exist.", id)}
	case strings.HasPrefix(id, "fleet-"):
		if f, ok := r.fleets[id]; ok {
			return &f.tags, nil, nil
		}
		return nil, nil, &apiError{Code: "InvalidFleetId.NotFound", Message: fmt.Sprintf("The fleet ID '%s' does not exist", id)}
	}
	return nil, nil, &apiError{Code: "InvalidID", Message: fmt.Sprintf("The ID '%s' is not valid", id)}
}

func (s *Sim) createTags(c *call, x *xmlWriter) *apiError { return s.changeTags(c, x, true) }

func (s *Sim) deleteTags(c *call, x *xmlWriter) *apiError { return s.changeTags(c, x, false) }

func (s *Sim) changeTags(c *call, x *xmlWriter, create bool) *apiError {
	ids := c.q.list("ResourceId")
	if len(ids) == 0 {
		return errMissing("ResourceId")
	}
	var tags []tag
	for _, t := range c.q.structs("Tag") {
		if t.str("Key") == "" {
			return errInvalidParameterValue("Tag.Key", "")
		}
		if create && strings.HasPrefix(strings.ToLower(t.str("Key")), "aws:") {
			return &apiError{Code: "InvalidParameterValue", Message: "Tag keys starting with 'aws:' are reserved for internal use"}
		}
		tags = append(tags, tag{t.str("Key"), t.str("Value")})
	}
	if create && len(tags) == 0 {
		return errMissing("Tag")
	}
	r := c.region
	r.mu.Lock()
	defer r.mu.Unlock()
	targets := make([]*[]tag, 0, len(ids))
	owners := make([]*instance, 0, len(ids))
	for _, id := range ids {
		t, in, err := r.taggable(id)
		if err != nil {
			return err
		}
		targets = append(targets, t)
		owners = append(owners, in)
	}
	if c.q.boolean("DryRun") {
		return errDryRun()
	}
	for i, t := range targets {
		// Both setTag and removeTag change the slice in place, so the old
		// entries must leave the index before the change.
		if in := owners[i]; in != nil {
			r.byTag.remove(in)
		}
		for _, tg := range tags {
			if create {
				*t = setTag(*t, tg.Key, tg.Value)
			} else {
				*t = removeTag(*t, tg)
			}
		}
		if in := owners[i]; in != nil {
			r.byTag.add(in)
		}
	}
	x.bool("return", true)
	return nil
}

// removeTag deletes a key, or only a key with the given value if DeleteTags
// named one.
func removeTag(tags []tag, del tag) []tag {
	out := tags[:0]
	for _, t := range tags {
		if t.Key == del.Key && (del.Value == "" || del.Value == t.Value) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// sortedIDs is a helper for deterministic JSON in /_sim/state.
func sortedIDs[T any](m map[string]T) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// tagEntry is one DescribeTags item.
type tagEntry struct {
	id, kind string
	tag
}

// describeTags lists the tags of the region's instances, launch templates,
// spot requests and fleets, filtered by key, value, resource-id,
// resource-type or tag:<key>, in pages of MaxResults (5–1000).
func (s *Sim) describeTags(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	for _, f := range filters {
		switch f.name {
		case "key", "value", "resource-id", "resource-type":
		default:
			if !strings.HasPrefix(f.name, "tag:") {
				return errUnknownFilter(f.name)
			}
		}
	}
	maxResults, hasMax, err := q.integer("MaxResults")
	if err != nil {
		return err
	}
	if hasMax && (maxResults < 5 || maxResults > 1000) {
		return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", maxResults)}
	}
	if !hasMax {
		maxResults = 1000
	}
	offset := 0
	if tok := q.str("NextToken"); tok != "" {
		if offset, err = decodeToken(tok); err != nil {
			return err
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	r.purge(c.now)
	var all []tagEntry
	add := func(id, kind string, tags []tag) {
		for _, t := range tags {
			e := tagEntry{id, kind, t}
			if matchTagEntry(e, tags, filters) {
				all = append(all, e)
			}
		}
	}
	for _, in := range r.order {
		if !in.purged {
			add(in.id, "instance", in.tags)
		}
	}
	for _, id := range sortedIDs(r.templates) {
		add(id, "launch-template", r.templates[id].tags)
	}
	for _, sr := range r.spotOrder {
		add(sr.ID, "spot-instances-request", sr.tags)
	}
	for _, id := range sortedIDs(r.fleets) {
		add(id, "fleet", r.fleets[id].tags)
	}
	// Pages are offsets into a list ordered by launch, id and request
	// order, so they hold while nothing is tagged in between.
	offset = min(offset, len(all))
	page := all[offset:]
	next := ""
	if len(page) > maxResults {
		page = page[:maxResults]
		next = encodeToken(offset + maxResults)
	}
	x.open("tagSet")
	for _, e := range page {
		x.open("item")
		x.leaf("resourceId", e.id)
		x.leaf("resourceType", e.kind)
		x.leaf("key", e.Key)
		x.leaf("value", e.Value)
		x.close("item")
	}
	x.close("tagSet")
	x.opt("nextToken", next)
	return nil
}

// matchTagEntry applies DescribeTags filters to one tag; tag:<key> asks
// that the resource carry that key with one of the values.
func matchTagEntry(e tagEntry, resourceTags []tag, filters []filter) bool {
	for _, f := range filters {
		var vals []string
		switch f.name {
		case "key":
			vals = []string{e.Key}
		case "value":
			vals = []string{e.Value}
		case "resource-id":
			vals = []string{e.id}
		case "resource-type":
			vals = []string{e.kind}
		default:
			k := strings.TrimPrefix(f.name, "tag:")
			for _, t := range resourceTags {
				if t.Key == k {
					vals = append(vals, t.Value)
				}
			}
		}
		if !f.matches(vals) {
			return false
		}
	}
	return true
}
