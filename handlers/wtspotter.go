package handlers

import (
	"encoding/json"
	"strings"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/task"
)

// wtBody is the body wt-spotter took. Its meaning is kept: construct.keys.region
// is the region, construct.upgrade.tokenCode the MFA code, attributes the
// launch, and an absent dryRun means a dry run.
type wtBody struct {
	Construct struct {
		Keys struct {
			Region          string `json:"region"`
			AccessKeyID     string `json:"accessKeyId"`
			SecretAccessKey string `json:"secretAccessKey"`
		} `json:"keys"`
		Upgrade struct {
			TokenCode    string `json:"tokenCode"`
			SerialNumber string `json:"serialNumber"`
		} `json:"upgrade"`
	} `json:"construct"`
	Attributes struct {
		Task           string          `json:"task"`
		Type           string          `json:"type"`
		Price          api.FlexPrice   `json:"price"`
		AMI            string          `json:"ami"`
		KeyName        string          `json:"keyName"`
		SecurityGroups json.RawMessage `json:"securityGroups"`
		DryRun         *api.FlexBool   `json:"dryRun"`
		IsLogging      *api.FlexBool   `json:"isLogging"`
		Count          *int            `json:"count"`
		InstanceIDs    []string        `json:"instanceIds"`
	} `json:"attributes"`
}

func decodeWTSpotter(body []byte) (task.Task, error) {
	var w wtBody
	if err := json.Unmarshal(body, &w); err != nil {
		return task.Task{}, apperr.New(apperr.Invalid, "wt-spotter body: %s", describeJSONError(err))
	}
	t := task.Task{TaskRequest: api.TaskRequest{
		Task:     strings.ToLower(w.Attributes.Task),
		Region:   w.Construct.Keys.Region,
		MFACode:  strings.TrimSpace(w.Construct.Upgrade.TokenCode),
		MaxPrice: w.Attributes.Price, AMI: w.Attributes.AMI, KeyName: w.Attributes.KeyName,
		Count: w.Attributes.Count, InstanceIDs: w.Attributes.InstanceIDs,
	}}
	if t.Task == "" {
		t.Task = "launch"
	}
	if w.Attributes.Type != "" {
		t.InstanceTypes = []string{w.Attributes.Type}
	}
	// wt-spotter launched for real only when told dryRun=false.
	t.DryRun = true
	if w.Attributes.DryRun != nil {
		t.DryRun = *w.Attributes.DryRun
	}
	sgs, err := stringOrList(w.Attributes.SecurityGroups)
	if err != nil {
		return task.Task{}, apperr.New(apperr.Invalid, "attributes.securityGroups: a list or a comma-separated string")
	}
	t.SecurityGroups = sgs
	if w.Construct.Keys.AccessKeyID != "" || w.Construct.Keys.SecretAccessKey != "" {
		// The seed system took AWS keys in the body. spotter never uses them
		// (the token's sealed credentials are used) and never logs them.
		t.Warnings = append(t.Warnings, "construct.keys credentials were ignored: spotter uses the token's stored credentials; remove them from the caller")
	}
	if w.Construct.Upgrade.SerialNumber != "" {
		t.Warnings = append(t.Warnings, "construct.upgrade.serialNumber was ignored: the token names its MFA device")
	}
	return t, t.Validate()
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}
