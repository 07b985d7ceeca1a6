package awssim

import (
	"fmt"
	"regexp"
	"time"
)

// launchTemplate is a template with a single version: spotter and its tests
// never create further versions, so "$Latest", "$Default" and "1" all
// name the same data.
type launchTemplate struct {
	ID          string      `json:"launchTemplateId"`
	Name        string      `json:"launchTemplateName"`
	CreateTime  time.Time   `json:"createTime"`
	CreatedBy   string      `json:"createdBy"`
	Description string      `json:"versionDescription,omitempty"`
	data        launchSpec  // read through Data for JSON
	Data        *launchSpec `json:"launchTemplateData"`
	tags        []tag
	clientToken string
	fingerprint string
}

var templateNameRE = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)

func (s *Sim) createLaunchTemplate(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	name := q.str("LaunchTemplateName")
	if name == "" {
		return errMissing("LaunchTemplateName")
	}
	if !templateNameRE.MatchString(name) {
		return &apiError{Code: "InvalidLaunchTemplateName.MalformedException", Message: "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'"}
	}
	token := q.str("ClientToken")
	if len(token) > 128 {
		return errInvalidParameterValue("ClientToken", token)
	}
	desc := q.str("VersionDescription")
	if len(desc) > 255 {
		return errInvalidParameterValue("VersionDescription", desc)
	}
	data, err := readSpec(q.sub("LaunchTemplateData"))
	if err != nil {
		return err
	}
	if err := r.resolve(&data); err != nil {
		return err
	}
	tags, err := tagSpecs(q, "TagSpecification")
	if err != nil {
		return err
	}
	for rt := range tags {
		if rt != "launch-template" {
			return errInvalidParameterValue("TagSpecification.ResourceType", rt)
		}
	}
	fp := q.fingerprint("Action", "Version", "ClientToken", "DryRun")
	r.mu.Lock()
	defer r.mu.Unlock()
	if token != "" {
		for _, t := range r.templates {
			if t.clientToken == token {
				if t.fingerprint != fp {
					return &apiError{Code: "IdempotentParameterMismatch", Message: "The client token you have provided is associated with a resource that has different parameters."}
				}
				writeTemplate(x, "launchTemplate", t)
				return nil
			}
		}
	}
	if _, exists := r.templateIDs[name]; exists {
		return &apiError{Code: "InvalidLaunchTemplateName.AlreadyExistsException", Message: "Launch template name already in use."}
	}
	if len(r.templates) >= 5000 {
		return &apiError{Code: "MaxTemplateLimitExceeded", Message: "You've reached the maximum number of launch templates for this account."}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	t := &launchTemplate{
		ID:          fmt.Sprintf("lt-0%016x", s.nextID()),
		Name:        name,
		CreateTime:  c.now,
		CreatedBy:   c.caller.arn,
		Description: desc,
		data:        data,
		tags:        tags["launch-template"],
		clientToken: token,
		fingerprint: fp,
	}
	t.Data = &t.data
	r.templates[t.ID] = t
	r.templateIDs[name] = t.ID
	writeTemplate(x, "launchTemplate", t)
	return nil
}

func writeTemplate(x *xmlWriter, elem string, t *launchTemplate) {
	x.open(elem)
	x.leaf("launchTemplateId", t.ID)
	x.leaf("launchTemplateName", t.Name)
	x.time("createTime", t.CreateTime)
	x.leaf("createdBy", t.CreatedBy)
	x.int("defaultVersionNumber", 1)
	x.int("latestVersionNumber", 1)
	if len(t.tags) > 0 {
		x.tags("tagSet", t.tags)
	}
	x.close(elem)
}

// findTemplate resolves a template by id or name (exactly one) and, when
// version is given or required, checks it. The caller holds r.mu.
func (r *region) findTemplate(id, name, version string, needVersion bool) (*launchTemplate, string, *apiError) {
	if (id == "") == (name == "") {
		return nil, "", &apiError{Code: "InvalidParameterCombination", Message: "Specify either a launch template ID or a launch template name, but not both."}
	}
	if id == "" {
		var ok bool
		if id, ok = r.templateIDs[name]; !ok {
			return nil, "", &apiError{Code: "InvalidLaunchTemplateName.NotFoundException", Message: fmt.Sprintf("The specified launch template, with template name %s, does not exist.", name)}
		}
	} else if !validID(id, "lt") {
		return nil, "", &apiError{Code: "InvalidLaunchTemplateId.Malformed", Message: fmt.Sprintf("The specified ID for the launch template (%s) is not valid.", id)}
	}
	t, ok := r.templates[id]
	if !ok {
		return nil, "", &apiError{Code: "InvalidLaunchTemplateId.NotFound", Message: fmt.Sprintf("The specified launch template, with template ID %s, does not exist.", id)}
	}
	if version == "" {
		if needVersion {
			return nil, "", errMissing("LaunchTemplateSpecification.Version")
		}
		version = "$Default"
	}
	if err := t.checkVersion(version); err != nil {
		return nil, "", err
	}
	return t, version, nil
}

// checkVersion accepts the names of a template's one version.
func (t *launchTemplate) checkVersion(version string) *apiError {
	switch version {
	case "$Latest", "$Default", "1":
		return nil
	}
	// Only version 1 exists; any other number or word names nothing.
	return &apiError{Code: "InvalidLaunchTemplateId.VersionNotFound", Message: fmt.Sprintf("Could not find launch template version %s for launch template with id %s.", version, t.ID)}
}

func (s *Sim) describeLaunchTemplates(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	ids, names := q.list("LaunchTemplateId"), q.list("LaunchTemplateName")
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	for _, f := range filters {
		if f.name != "launch-template-name" && f.name != "tag-key" && !hasTagPrefix(f.name) {
			return errUnknownFilter(f.name)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*launchTemplate
	switch {
	case len(ids) > 0 || len(names) > 0:
		for _, id := range ids {
			t, _, err := r.findTemplate(id, "", "", false)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		for _, n := range names {
			t, _, err := r.findTemplate("", n, "", false)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
	default:
		for _, id := range sortedIDs(r.templates) {
			out = append(out, r.templates[id])
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	x.open("launchTemplates")
	for _, t := range out {
		if !matchTemplate(t, filters) {
			continue
		}
		writeTemplate(x, "item", t)
	}
	x.close("launchTemplates")
	return nil
}

func hasTagPrefix(name string) bool { return len(name) > 4 && name[:4] == "tag:" }

func matchTemplate(t *launchTemplate, filters []filter) bool {
	for _, f := range filters {
		var vals []string
		switch {
		case f.name == "launch-template-name":
			vals = []string{t.Name}
		case f.name == "tag-key":
			for _, tg := range t.tags {
				vals = append(vals, tg.Key)
			}
		default:
			for _, tg := range t.tags {
				if tg.Key == f.name[4:] {
					vals = append(vals, tg.Value)
				}
			}
		}
		if !f.matches(vals) {
			return false
		}
	}
	return true
}

func (s *Sim) deleteLaunchTemplate(c *call, x *xmlWriter) *apiError {
	r := c.region
	r.mu.Lock()
	defer r.mu.Unlock()
	t, _, err := r.findTemplate(c.q.str("LaunchTemplateId"), c.q.str("LaunchTemplateName"), "", false)
	if err != nil {
		return err
	}
	if c.q.boolean("DryRun") {
		return errDryRun()
	}
	// Deleting a template deletes all of its versions; there is only one.
	delete(r.templates, t.ID)
	delete(r.templateIDs, t.Name)
	writeTemplate(x, "launchTemplate", t)
	return nil
}
