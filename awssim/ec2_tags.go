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
