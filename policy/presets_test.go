package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

const presetBase = `"regions":["us-east-1","eu-west-1"],"instanceTypes":["t3.micro","g5.*"],"amis":["ami-1234","ami-5678"],"maxCount":4,"maxTTL":"4h","maxPrice":1.5`

func TestPresetValidation(t *testing.T) {
	tests := []struct {
		name    string
		presets string
		wantErr string // substring of details; "" = valid
	}{
		{name: "inside the policy", presets: `{"gpu":{"instanceTypes":["g5.xlarge"],"ami":"ami-5678","ttl":"3h","count":2,"maxPrice":1.2,"region":"eu-west-1"}}`},
		{name: "empty preset", presets: `{"small":{}}`},
		{name: "type outside", presets: `{"gpu":{"instanceTypes":["p3.2xlarge"]}}`, wantErr: "presets.gpu.instanceTypes"},
		{name: "pattern as type", presets: `{"gpu":{"instanceTypes":["g5.*"]}}`, wantErr: "presets.gpu.instanceTypes"},
		{name: "ami outside", presets: `{"gpu":{"ami":"ami-9999"}}`, wantErr: "presets.gpu.ami"},
		{name: "ttl above maxTTL", presets: `{"gpu":{"ttl":"5h"}}`, wantErr: "presets.gpu.ttl"},
		{name: "count above maxCount", presets: `{"gpu":{"count":5}}`, wantErr: "presets.gpu.count"},
		{name: "price above maxPrice", presets: `{"gpu":{"maxPrice":2}}`, wantErr: "presets.gpu.maxPrice"},
		{name: "region outside", presets: `{"gpu":{"region":"ap-south-1"}}`, wantErr: "presets.gpu.region"},
		{name: "name with a dot", presets: `{"t3.micro":{}}`, wantErr: "policy.presets"},
		{name: "command word as name", presets: `{"status":{}}`, wantErr: "policy.presets"},
		{name: "upper case name", presets: `{"GPU":{}}`, wantErr: "policy.presets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Policy
			if err := json.Unmarshal([]byte(`{`+presetBase+`,"presets":`+tt.presets+`}`), &p); err != nil {
				t.Fatal(err)
			}
			err := p.Normalize("us-east-1")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Normalize(presets %s) = %v", tt.presets, err)
			}
			if tt.wantErr != "" && (apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), tt.wantErr)) {
				t.Fatalf("Normalize(presets %s) = %v; want invalid_request naming %s", tt.presets, err, tt.wantErr)
			}
		})
	}
}

func TestApplyPreset(t *testing.T) {
	var p Policy
	if err := json.Unmarshal([]byte(`{`+presetBase+`,"presets":{"gpu":{"instanceTypes":["g5.xlarge"],"ami":"ami-5678","ttl":"3h","count":2,"region":"eu-west-1"}}}`), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Normalize("us-east-1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		preset    string
		req       Request
		wantErr   string
		wantTypes []string
		wantCount int
		wantTTL   time.Duration
	}{
		{name: "fills the gaps", preset: "gpu", req: Request{Task: api.TaskLaunch}, wantTypes: []string{"g5.xlarge"}, wantCount: 2, wantTTL: 3 * time.Hour},
		{name: "request wins", preset: "gpu", req: Request{Task: api.TaskLaunch, Count: 1, TTL: time.Hour}, wantTypes: []string{"g5.xlarge"}, wantCount: 1, wantTTL: time.Hour},
		{name: "unknown preset", preset: "cpu", req: Request{Task: api.TaskLaunch}, wantErr: apperr.Invalid},
		{name: "not a launch", preset: "gpu", req: Request{Task: api.TaskStatus}, wantErr: apperr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := p.ApplyPreset(tt.preset, tt.req)
			if tt.wantErr != "" {
				if apperr.Code(err) != tt.wantErr {
					t.Fatalf("ApplyPreset(%q) = %v; want %s", tt.preset, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.InstanceTypes, tt.wantTypes) || r.Count != tt.wantCount || r.TTL != tt.wantTTL || r.Region != "eu-west-1" || r.AMI != "ami-5678" {
				t.Errorf("ApplyPreset(%q) = %+v", tt.preset, r)
			}
			// The filled request stays inside the policy.
			if _, err := p.ResolveLaunch(r, api.Usage{}); err != nil {
				t.Errorf("ResolveLaunch(preset %q) = %v", tt.preset, err)
			}
		})
	}
}
