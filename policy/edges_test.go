package policy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Every limit is tested at the limit (allowed) and one step past it
// (refused): a test of only the far side cannot tell > from >=.

func TestNormalizeLimits(t *testing.T) {
	const base = `"instanceTypes":["t3.micro"],"amis":["ami-1234"]`
	tags := func(n int) string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	presets := func(n int) string {
		m := map[string]Preset{}
		for i := range n {
			m[fmt.Sprintf("p%d", i)] = Preset{}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	userData := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name    string
		json    string
		wantErr string // substring of details; "" = valid
	}{
		{name: "maxCount at ceiling", json: fmt.Sprintf(`{%s,"maxCount":%d}`, base, MaxCountCeiling)},
		{name: "maxCount past ceiling", json: fmt.Sprintf(`{%s,"maxCount":%d}`, base, MaxCountCeiling+1), wantErr: "policy.maxCount"},
		{name: "maxCount negative", json: `{` + base + `,"maxCount":-1}`, wantErr: "policy.maxCount"},
		{name: "maxRunning equal to maxCount", json: `{` + base + `,"maxCount":3,"maxRunning":3}`},
		{name: "maxRunning at ceiling", json: fmt.Sprintf(`{%s,"maxRunning":%d}`, base, MaxCountCeiling)},
		{name: "maxRunning past ceiling", json: fmt.Sprintf(`{%s,"maxRunning":%d}`, base, MaxCountCeiling+1), wantErr: "policy.maxRunning"},
		{name: "maxPrice at ceiling", json: fmt.Sprintf(`{%s,"maxPrice":%g}`, base, MaxPriceCeiling)},
		{name: "maxPrice past ceiling", json: fmt.Sprintf(`{%s,"maxPrice":%g}`, base, MaxPriceCeiling+0.01), wantErr: "policy.maxPrice"},
		{name: "maxPrice negative", json: `{` + base + `,"maxPrice":-0.01}`, wantErr: "policy.maxPrice"},
		{name: "maxHourlySpend at ceiling", json: fmt.Sprintf(`{%s,"maxHourlySpend":%g}`, base, MaxPriceCeiling*MaxCountCeiling)},
		{name: "maxHourlySpend past ceiling", json: fmt.Sprintf(`{%s,"maxHourlySpend":%g}`, base, MaxPriceCeiling*MaxCountCeiling+1), wantErr: "policy.maxHourlySpend"},
		{name: "maxHourlySpend negative", json: `{` + base + `,"maxHourlySpend":-1}`, wantErr: "policy.maxHourlySpend"},
		{name: "maxTTL at ceiling", json: `{` + base + `,"maxTTL":"168h"}`},
		{name: "maxTTL past ceiling", json: `{` + base + `,"maxTTL":"168h0m1s"}`, wantErr: "policy.maxTTL"},
		{name: "defaultTTL at floor", json: `{` + base + `,"defaultTTL":"1m"}`},
		{name: "defaultTTL under floor", json: `{` + base + `,"defaultTTL":"59s"}`, wantErr: "policy.maxTTL"},
		{name: "defaultTTL equal to maxTTL", json: `{` + base + `,"defaultTTL":"3h","maxTTL":"3h"}`},
		{name: "defaultTTL past maxTTL", json: `{` + base + `,"defaultTTL":"3h0m1s","maxTTL":"3h"}`, wantErr: "policy.defaultTTL"},
		{name: "user data at EC2's limit", json: `{` + base + `,"userData":"` + userData(MaxUserDataBytes) + `"}`},
		{name: "user data past EC2's limit", json: `{` + base + `,"userData":"` + userData(MaxUserDataBytes+1) + `"}`, wantErr: "policy.userData"},
		{name: "tags at the limit", json: `{` + base + `,"tags":` + tags(maxTags) + `}`},
		{name: "tags past the limit", json: `{` + base + `,"tags":` + tags(maxTags+1) + `}`, wantErr: "policy.tags"},
		{name: "tag key of 128", json: `{` + base + `,"tags":{"` + strings.Repeat("k", 128) + `":"v"}}`},
		{name: "tag key of 129", json: `{` + base + `,"tags":{"` + strings.Repeat("k", 129) + `":"v"}}`, wantErr: "policy.tags"},
		{name: "tag value of 256", json: `{` + base + `,"tags":{"k":"` + strings.Repeat("v", 256) + `"}}`},
		{name: "tag value of 257", json: `{` + base + `,"tags":{"k":"` + strings.Repeat("v", 257) + `"}}`, wantErr: "policy.tags"},
		{name: "empty tag value", json: `{` + base + `,"tags":{"k":""}}`},
		{name: "aws: tag prefix in any case", json: `{` + base + `,"tags":{"AWS:x":"v"}}`, wantErr: "policy.tags"},
		{name: "presets at the limit", json: `{` + base + `,"presets":` + presets(MaxPresets) + `}`},
		{name: "presets past the limit", json: `{` + base + `,"presets":` + presets(MaxPresets+1) + `}`, wantErr: "policy.presets"},
		{name: "presets without launch", json: `{"tasks":["status"],"presets":{"p":{}}}`, wantErr: "policy.presets"},
		{name: "key name", json: `{` + base + `,"keyName":"ops key 1"}`},
		{name: "key name of 255", json: `{` + base + `,"keyName":"` + strings.Repeat("k", 255) + `"}`},
		{name: "key name of 256", json: `{` + base + `,"keyName":"` + strings.Repeat("k", 256) + `"}`, wantErr: "policy.keyName"},
		{name: "key name with a newline", json: `{` + base + `,"keyName":"a\nb"}`, wantErr: "policy.keyName"},
		{name: "subnet", json: `{` + base + `,"subnets":["subnet-0abc1234"]}`},
		{name: "bad subnet", json: `{` + base + `,"subnets":["net-1"]}`, wantErr: "policy.subnets"},
		{name: "bad pattern", json: `{"amis":["ami-1"],"instanceTypes":["m5.[x"]}`, wantErr: "policy.instanceTypes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Policy
			if err := json.Unmarshal([]byte(tt.json), &p); err != nil {
				t.Fatal(err)
			}
			err := p.Normalize("us-east-1")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Normalize = %v; want valid", err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), tt.wantErr) {
				t.Fatalf("Normalize = %v; want invalid_request naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestPresetLimits(t *testing.T) {
	tests := []struct {
		name    string
		presets string
		wantErr string
	}{
		{name: "ttl at maxTTL", presets: `{"p":{"ttl":"4h"}}`},
		{name: "ttl past maxTTL", presets: `{"p":{"ttl":"4h0m1s"}}`, wantErr: "presets.p.ttl"},
		{name: "ttl at 1m", presets: `{"p":{"ttl":"1m"}}`},
		{name: "ttl under 1m", presets: `{"p":{"ttl":"59s"}}`, wantErr: "presets.p.ttl"},
		{name: "count at maxCount", presets: `{"p":{"count":4}}`},
		{name: "count negative", presets: `{"p":{"count":-1}}`, wantErr: "presets.p.count"},
		{name: "maxPrice at the policy's", presets: `{"p":{"maxPrice":1.5}}`},
		{name: "maxPrice negative", presets: `{"p":{"maxPrice":-0.1}}`, wantErr: "presets.p.maxPrice"},
		{name: "name of 32", presets: `{"` + "p" + strings.Repeat("x", 31) + `":{}}`},
		{name: "name of 33", presets: `{"` + "p" + strings.Repeat("x", 32) + `":{}}`, wantErr: "policy.presets"},
		{name: "a pattern type", presets: `{"p":{"instanceTypes":["t3.*"]}}`, wantErr: "presets.p.instanceTypes"},
		{name: "a malformed type", presets: `{"p":{"instanceTypes":["t3 micro"]}}`, wantErr: "presets.p.instanceTypes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Policy
			if err := json.Unmarshal([]byte(`{`+presetBase+`,"presets":`+tt.presets+`}`), &p); err != nil {
				t.Fatal(err)
			}
			err := p.Normalize("us-east-1")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Normalize(presets %s) = %v; want valid", tt.presets, err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), tt.wantErr) {
				t.Fatalf("Normalize(presets %s) = %v; want invalid_request naming %s", tt.presets, err, tt.wantErr)
			}
		})
	}
}

// A policy without a price cap but with a spend cap: its preset's maxPrice
// is the only price the launch has, so losing it would launch uncapped and
// skip the spend check.
func TestPresetMaxPriceIsInherited(t *testing.T) {
	p := mustPolicy(t, `{"instanceTypes":["g5.xlarge","t3.micro"],"amis":["ami-1234"],"maxCount":4,"maxHourlySpend":1.0,
		"presets":{"gpu":{"instanceTypes":["g5.xlarge"],"maxPrice":0.4,"count":2},"cheap":{"instanceTypes":["t3.micro"]}}}`)
	tests := []struct {
		name      string
		preset    string
		req       Request
		usage     api.Usage
		wantPrice float64
		wantCode  string
	}{
		{name: "preset price kept", preset: "gpu", req: Request{Task: api.TaskLaunch}, wantPrice: 0.4},
		{name: "preset price feeds the spend cap", preset: "gpu", req: Request{Task: api.TaskLaunch}, usage: api.Usage{HourlySpend: 0.21}, wantCode: apperr.PolicyDenied},
		{name: "preset price fits at the spend cap", preset: "gpu", req: Request{Task: api.TaskLaunch}, usage: api.Usage{HourlySpend: 0.2}, wantPrice: 0.4},
		{name: "request price wins", preset: "gpu", req: Request{Task: api.TaskLaunch, MaxPrice: 0.25}, usage: api.Usage{HourlySpend: 0.5}, wantPrice: 0.25},
		{name: "no preset price, no cap", preset: "cheap", req: Request{Task: api.TaskLaunch}, usage: api.Usage{HourlySpend: 5}, wantPrice: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := p.ApplyPreset(tt.preset, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			l, err := p.ResolveLaunch(r, tt.usage)
			if tt.wantCode != "" {
				if apperr.Code(err) != tt.wantCode || !strings.Contains(apperr.Details(err), "rule maxHourlySpend") {
					t.Fatalf("ResolveLaunch(preset %s) = %v; want %s naming maxHourlySpend", tt.preset, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveLaunch(preset %s) = %v", tt.preset, err)
			}
			if l.MaxPrice != tt.wantPrice {
				t.Fatalf("ResolveLaunch(preset %s).MaxPrice = %v; want %v", tt.preset, l.MaxPrice, tt.wantPrice)
			}
		})
	}
}

func TestApplyPresetErrors(t *testing.T) {
	none := mustPolicy(t, `{"instanceTypes":["t3.micro"],"amis":["ami-1234"]}`)
	_, err := none.ApplyPreset("gpu", Request{Task: api.TaskLaunch})
	if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), "no presets") {
		t.Errorf("ApplyPreset on a token without presets = %v; want invalid_request saying it has none", err)
	}
	some := mustPolicy(t, `{"instanceTypes":["t3.micro"],"amis":["ami-1234"],"presets":{"b":{},"a":{}}}`)
	_, err = some.ApplyPreset("gpu", Request{Task: api.TaskLaunch})
	if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), "a, b") {
		t.Errorf("ApplyPreset(unknown) = %v; want invalid_request listing a, b", err)
	}
	// What the request gives is kept: the preset fills only the gaps.
	full := mustPolicy(t, `{"regions":["us-east-1","eu-west-1"],"instanceTypes":["t3.micro","t3.small"],"amis":["ami-1234","ami-5678"],"maxCount":3,
		"presets":{"p":{"instanceTypes":["t3.small"],"ami":"ami-5678","region":"eu-west-1","ttl":"30m","count":2}}}`)
	asked := Request{Task: api.TaskLaunch, InstanceTypes: []string{"t3.micro"}, AMI: "ami-1234", Region: "us-east-1", TTL: time.Hour, Count: 1, MaxPrice: 0.1}
	got, err := full.ApplyPreset("p", asked)
	if err != nil {
		t.Fatal(err)
	}
	if got.InstanceTypes[0] != "t3.micro" || got.AMI != "ami-1234" || got.Region != "us-east-1" || got.TTL != time.Hour || got.Count != 1 || got.MaxPrice != 0.1 {
		t.Errorf("ApplyPreset over a full request = %+v; want the request unchanged", got)
	}
}

func TestResolveLaunchLimits(t *testing.T) {
	p := mustPolicy(t, `{"instanceTypes":["t3.micro"],"amis":["ami-1234"],"maxCount":3,"maxRunning":5,
		"maxPrice":0.5,"maxHourlySpend":1.0,"maxTTL":"4h","allowUserData":true}`)
	ud := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name     string
		req      Request
		usage    api.Usage
		wantCode string
		wantRule string
		check    func(t *testing.T, l api.Launch)
	}{
		{name: "count at maxCount", req: Request{Count: 3, MaxPrice: 0.1}},
		{name: "count past maxCount", req: Request{Count: 4, MaxPrice: 0.1}, wantCode: apperr.PolicyDenied, wantRule: "rule maxCount"},
		{name: "negative count", req: Request{Count: -1}, wantCode: apperr.Invalid, wantRule: "count"},
		{name: "running reaches maxRunning", req: Request{Count: 2, MaxPrice: 0.1}, usage: api.Usage{Running: 3}},
		{name: "running past maxRunning", req: Request{Count: 3, MaxPrice: 0.1}, usage: api.Usage{Running: 3}, wantCode: apperr.PolicyDenied, wantRule: "rule maxRunning"},
		{name: "price at maxPrice", req: Request{MaxPrice: 0.5}},
		{name: "price past maxPrice", req: Request{MaxPrice: 0.5001}, wantCode: apperr.PolicyDenied, wantRule: "rule maxPrice"},
		{name: "negative price", req: Request{MaxPrice: -0.1}, wantCode: apperr.Invalid, wantRule: "maxPrice"},
		{name: "no price asked: the policy's", req: Request{}, check: func(t *testing.T, l api.Launch) {
			if l.MaxPrice != 0.5 {
				t.Errorf("MaxPrice = %v; want the policy's 0.5", l.MaxPrice)
			}
		}},
		{name: "spend exactly at maxHourlySpend", req: Request{Count: 2, MaxPrice: 0.3}, usage: api.Usage{HourlySpend: 0.4}},
		{name: "spend a cent past maxHourlySpend", req: Request{Count: 2, MaxPrice: 0.3}, usage: api.Usage{HourlySpend: 0.41}, wantCode: apperr.PolicyDenied, wantRule: "rule maxHourlySpend"},
		{name: "spend at the cap through float noise", req: Request{Count: 1, MaxPrice: 0.2}, usage: api.Usage{HourlySpend: 0.8000000000000002}},
		{name: "ttl at maxTTL", req: Request{TTL: 4 * time.Hour}},
		{name: "ttl past maxTTL", req: Request{TTL: 4*time.Hour + time.Second}, wantCode: apperr.PolicyDenied, wantRule: "rule maxTTL"},
		{name: "ttl at 1m", req: Request{TTL: time.Minute}},
		{name: "ttl under 1m", req: Request{TTL: time.Minute - time.Second}, wantCode: apperr.Invalid, wantRule: "ttl"},
		{name: "no ttl: the default", req: Request{}, check: func(t *testing.T, l api.Launch) {
			if l.TTL != time.Hour {
				t.Errorf("TTL = %s; want the default 1h", l.TTL)
			}
		}},
		{name: "user data at EC2's limit", req: Request{UserData: ud(MaxUserDataBytes)}, check: func(t *testing.T, l api.Launch) {
			if len(l.UserData) != MaxUserDataBytes {
				t.Errorf("user data = %d bytes; want %d", len(l.UserData), MaxUserDataBytes)
			}
		}},
		{name: "user data past EC2's limit", req: Request{UserData: ud(MaxUserDataBytes + 1)}, wantCode: apperr.Invalid, wantRule: "userData"},
		{name: "user data not base64", req: Request{UserData: "#!/bin/sh"}, wantCode: apperr.Invalid, wantRule: "userData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Task = api.TaskLaunch
			l, err := p.ResolveLaunch(tt.req, tt.usage)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("ResolveLaunch(%+v) = %v", tt.req, err)
				}
				if tt.check != nil {
					tt.check(t, l)
				}
				return
			}
			if apperr.Code(err) != tt.wantCode || !strings.Contains(apperr.Details(err), tt.wantRule) {
				t.Fatalf("ResolveLaunch = %v; want %s naming %q", err, tt.wantCode, tt.wantRule)
			}
		})
	}
}

func TestCheckSpend(t *testing.T) {
	capped := Policy{MaxHourlySpend: 2}
	tests := []struct {
		name           string
		p              Policy
		current, added float64
		wantErr        bool
	}{
		{name: "below", p: capped, current: 0.5, added: 1},
		{name: "at the cap", p: capped, current: 0.5, added: 1.5},
		{name: "at the cap with float noise", p: capped, current: 0.1 + 0.2, added: 1.7},
		{name: "at the cap plus its float tolerance", p: capped, added: 2 + 1e-9},
		{name: "past the cap", p: capped, current: 0.5, added: 1.51, wantErr: true},
		{name: "nothing running, too much asked", p: capped, added: 2.01, wantErr: true},
		{name: "no cap", p: Policy{}, current: 1e6, added: 1e6},
	}
	for _, tt := range tests {
		err := tt.p.CheckSpend(tt.current, tt.added)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: CheckSpend(%v, %v) = %v; want error %v", tt.name, tt.current, tt.added, err, tt.wantErr)
		}
		if err != nil && apperr.Code(err) != apperr.PolicyDenied {
			t.Errorf("%s: CheckSpend code %s; want %s", tt.name, apperr.Code(err), apperr.PolicyDenied)
		}
	}
}

// The operator's tags and the request's together: at most maxTags.
func TestMergedTagsLimit(t *testing.T) {
	own := map[string]string{}
	for i := range maxTags / 2 {
		own[fmt.Sprintf("op%d", i)] = "v"
	}
	b, _ := json.Marshal(own)
	p := mustPolicy(t, `{"instanceTypes":["t3.micro"],"amis":["ami-1234"],"tags":`+string(b)+`}`)
	asked := func(n int) map[string]string {
		m := map[string]string{"op0": "ignored because the operator tag wins"}
		for i := range n {
			m[fmt.Sprintf("req%d", i)] = "v"
		}
		return m
	}
	l, err := p.ResolveLaunch(Request{Task: api.TaskLaunch, Tags: asked(maxTags - len(own))}, api.Usage{})
	if err != nil || len(l.Tags) != maxTags || l.Tags["op0"] != "v" {
		t.Fatalf("ResolveLaunch(%d tags in all) = %d tags, %v; want %d with the operator's op0", maxTags, len(l.Tags), err, maxTags)
	}
	_, err = p.ResolveLaunch(Request{Task: api.TaskLaunch, Tags: asked(maxTags - len(own) + 1)}, api.Usage{})
	if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), "tags") {
		t.Fatalf("ResolveLaunch(%d tags in all) = %v; want invalid_request about tags", maxTags+1, err)
	}
}

// dedupeWindow: absent means the default (filled in by Normalize, so the
// stored policy shows it), "0" turns deduplication off, and the window is
// bounded at MaxDedupeWindow.
func TestDedupeWindow(t *testing.T) {
	if got := (&Policy{}).Dedupe(); got != DefaultDedupeWindow {
		t.Errorf("Dedupe() of a policy naming none = %s; want %s", got, DefaultDedupeWindow)
	}
	tests := []struct {
		name    string
		window  string // "" = absent
		want    time.Duration
		wantErr bool
	}{
		{name: "absent", want: DefaultDedupeWindow},
		{name: "off", window: `"0s"`, want: 0},
		{name: "at the bound", window: `"` + MaxDedupeWindow.String() + `"`, want: MaxDedupeWindow},
		{name: "past the bound", window: `"` + (MaxDedupeWindow + time.Second).String() + `"`, wantErr: true},
		{name: "negative", window: `"-1s"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := `{"instanceTypes":["t3.micro"],"amis":["ami-1234"]`
			if tt.window != "" {
				js += `,"dedupeWindow":` + tt.window
			}
			var p Policy
			if err := json.Unmarshal([]byte(js+`}`), &p); err != nil {
				t.Fatal(err)
			}
			err := p.Normalize("us-east-1")
			if tt.wantErr {
				if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), "policy.dedupeWindow") {
					t.Fatalf("Normalize = %v; want invalid_request naming policy.dedupeWindow", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.DedupeWindow == nil || time.Duration(*p.DedupeWindow) != tt.want || p.Dedupe() != tt.want {
				t.Fatalf("after Normalize: dedupeWindow %v, Dedupe() %s; want %s stored", p.DedupeWindow, p.Dedupe(), tt.want)
			}
		})
	}
}

// The spend ceiling's details name the number a person may use.
func TestMaxHourlySpendDetails(t *testing.T) {
	p := Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-1234"}, MaxHourlySpend: MaxPriceCeiling*MaxCountCeiling + 1}
	err := p.Normalize("us-east-1")
	if want := fmt.Sprintf("%.0f dollars per hour", MaxPriceCeiling*MaxCountCeiling); !strings.Contains(apperr.Details(err), want) {
		t.Fatalf("Normalize(maxHourlySpend past the ceiling) = %v; want details naming %q", err, want)
	}
}
