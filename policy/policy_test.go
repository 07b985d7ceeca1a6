package policy

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string // substring of details; "" = valid
		check   func(t *testing.T, p Policy)
	}{
		{name: "defaults", json: `{"instanceTypes":["t3.micro"],"amis":["ami-1234"]}`, check: func(t *testing.T, p Policy) {
			if p.MaxCount != 1 || p.MaxRunning != 1 || time.Duration(p.DefaultTTL) != time.Hour || time.Duration(p.MaxTTL) != time.Hour {
				t.Errorf("defaults = count %d running %d ttl %s max %s", p.MaxCount, p.MaxRunning, time.Duration(p.DefaultTTL), time.Duration(p.MaxTTL))
			}
			if strings.Join(p.Tasks, ",") != "launch,terminate,status,price" || p.DryRunOnly || p.Regions[0] != "us-east-1" {
				t.Errorf("defaults = tasks %v dryRunOnly %v regions %v", p.Tasks, p.DryRunOnly, p.Regions)
			}
		}},
		{name: "short maxTTL lowers defaultTTL", json: `{"instanceTypes":["t3.micro"],"amis":["ami-1234"],"maxTTL":"20m"}`, check: func(t *testing.T, p Policy) {
			if time.Duration(p.DefaultTTL) != 20*time.Minute {
				t.Errorf("defaultTTL = %s; want 20m", time.Duration(p.DefaultTTL))
			}
		}},
		{name: "status only needs no types", json: `{"tasks":["status"]}`},
		{name: "launch without types", json: `{"amis":["ami-1234"]}`, wantErr: "policy.instanceTypes"},
		{name: "launch without amis", json: `{"instanceTypes":["t3.micro"]}`, wantErr: "policy.amis"},
		{name: "bad region", json: `{"tasks":["status"],"regions":["mars-1"]}`, wantErr: "policy.regions"},
		{name: "bad task", json: `{"tasks":["reboot"]}`, wantErr: "policy.tasks"},
		{name: "bad type", json: `{"instanceTypes":["m5 large"],"amis":["ami-1"]}`, wantErr: "policy.instanceTypes"},
		{name: "pattern ok", json: `{"instanceTypes":["m5.*","g5.xlarge"],"amis":["ami-1"]}`},
		{name: "bad ami", json: `{"instanceTypes":["t3.micro"],"amis":["img-1"]}`, wantErr: "policy.amis"},
		{name: "bad sg", json: `{"tasks":["status"],"securityGroups":["default"]}`, wantErr: "policy.securityGroups"},
		{name: "maxRunning below maxCount", json: `{"tasks":["status"],"maxCount":3,"maxRunning":2}`, wantErr: "policy.maxRunning"},
		{name: "huge price", json: `{"tasks":["status"],"maxPrice":1000.01}`, wantErr: "policy.maxPrice"},
		{name: "default above max", json: `{"tasks":["status"],"defaultTTL":"2h","maxTTL":"1h"}`, wantErr: "policy.defaultTTL"},
		{name: "ttl beyond a week", json: `{"tasks":["status"],"maxTTL":"200h"}`, wantErr: "policy.maxTTL"},
		{name: "user data not base64", json: `{"tasks":["status"],"userData":"#!/bin/sh"}`, wantErr: "policy.userData"},
		{name: "user data too big", json: `{"tasks":["status"],"userData":"` + base64.StdEncoding.EncodeToString(make([]byte, 16<<10+1)) + `"}`, wantErr: "policy.userData"},
		{name: "reserved tag", json: `{"tasks":["status"],"tags":{"spotter:token":"x"}}`, wantErr: "policy.tags"},
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
					t.Fatalf("Normalize(%s) = %v", tt.json, err)
				}
				if tt.check != nil {
					tt.check(t, p)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), tt.wantErr) {
				t.Fatalf("Normalize(%s) = %v; want invalid_request naming %s", tt.json, err, tt.wantErr)
			}
		})
	}
}

func mustPolicy(t *testing.T, js string) Policy {
	t.Helper()
	var p Policy
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Normalize("us-east-1"); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveLaunch(t *testing.T) {
	p := mustPolicy(t, `{"regions":["us-east-1","eu-west-1"],"instanceTypes":["m5.*","c5.large"],
		"maxCount":3,"maxRunning":4,"maxPrice":0.5,"maxHourlySpend":1.2,"maxTTL":"4h","defaultTTL":"1h",
		"amis":["ami-1111","ami-2222"],"keyName":"ops","securityGroups":["sg-1","sg-2"],
		"tags":{"team":"ml"},"onDemandFallback":false}`)
	yes := true
	b64 := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))
	tests := []struct {
		name     string
		req      Request
		usage    api.Usage
		wantCode string
		wantRule string
		check    func(t *testing.T, l api.Launch)
	}{
		{name: "within policy", req: Request{Task: "launch", InstanceTypes: []string{"m5.large", "c5.large"}, Count: 2, AMI: "ami-2222", TTL: 2 * time.Hour, Tags: map[string]string{"team": "other", "job": "x"}},
			check: func(t *testing.T, l api.Launch) {
				if l.Region != "us-east-1" || l.Count != 2 || l.AMI != "ami-2222" || l.TTL != 2*time.Hour || l.MaxPrice != 0.5 || l.KeyName != "ops" {
					t.Errorf("launch = %+v", l)
				}
				if l.Tags["team"] != "ml" || l.Tags["job"] != "x" {
					t.Errorf("tags = %v; operator tag must win, request tag kept", l.Tags)
				}
				if strings.Join(l.SecurityGroups, ",") != "sg-1,sg-2" {
					t.Errorf("security groups = %v; want the policy's", l.SecurityGroups)
				}
			}},
		{name: "task not allowed", req: Request{Task: "cancel"}, wantCode: apperr.PolicyDenied, wantRule: "rule tasks"},
		{name: "region", req: Request{Task: "launch", Region: "us-west-2", InstanceTypes: []string{"c5.large"}, AMI: "ami-1111"}, wantCode: apperr.PolicyDenied, wantRule: "rule regions"},
		{name: "type", req: Request{Task: "launch", InstanceTypes: []string{"p5.48xlarge"}, AMI: "ami-1111"}, wantCode: apperr.PolicyDenied, wantRule: "rule instanceTypes"},
		{name: "wildcard in body", req: Request{Task: "launch", InstanceTypes: []string{"m5.*"}, AMI: "ami-1111"}, wantCode: apperr.Invalid, wantRule: "instanceTypes"},
		{name: "count", req: Request{Task: "launch", Count: 4, AMI: "ami-1111"}, wantCode: apperr.PolicyDenied, wantRule: "rule maxCount"},
		{name: "running", req: Request{Task: "launch", Count: 2, AMI: "ami-1111"}, usage: api.Usage{Running: 3}, wantCode: apperr.PolicyDenied, wantRule: "rule maxRunning"},
		{name: "price", req: Request{Task: "launch", MaxPrice: 0.6, AMI: "ami-1111"}, wantCode: apperr.PolicyDenied, wantRule: "rule maxPrice"},
		{name: "spend", req: Request{Task: "launch", Count: 3, AMI: "ami-1111"}, usage: api.Usage{HourlySpend: 0.1}, wantCode: apperr.PolicyDenied, wantRule: "rule maxHourlySpend"},
		{name: "spend fits with lower price", req: Request{Task: "launch", Count: 3, MaxPrice: 0.3, AMI: "ami-1111"}, usage: api.Usage{HourlySpend: 0.1}},
		{name: "ttl", req: Request{Task: "launch", TTL: 5 * time.Hour, AMI: "ami-1111"}, wantCode: apperr.PolicyDenied, wantRule: "rule maxTTL"},
		{name: "ami", req: Request{Task: "launch", AMI: "ami-9999"}, wantCode: apperr.PolicyDenied, wantRule: "rule amis"},
		{name: "ami ambiguous", req: Request{Task: "launch"}, wantCode: apperr.Invalid, wantRule: "ami"},
		{name: "key", req: Request{Task: "launch", AMI: "ami-1111", KeyName: "mine"}, wantCode: apperr.PolicyDenied, wantRule: "rule keyName"},
		{name: "security group", req: Request{Task: "launch", AMI: "ami-1111", SecurityGroups: []string{"sg-9"}}, wantCode: apperr.PolicyDenied, wantRule: "rule securityGroups"},
		{name: "subnet", req: Request{Task: "launch", AMI: "ami-1111", Subnets: []string{"subnet-1"}}, wantCode: apperr.PolicyDenied, wantRule: "rule subnets"},
		{name: "user data", req: Request{Task: "launch", AMI: "ami-1111", UserData: b64}, wantCode: apperr.PolicyDenied, wantRule: "rule allowUserData"},
		{name: "fallback", req: Request{Task: "launch", AMI: "ami-1111", OnDemandFallback: &yes}, wantCode: apperr.PolicyDenied, wantRule: "rule onDemandFallback"},
		{name: "reserved tag", req: Request{Task: "launch", AMI: "ami-1111", Tags: map[string]string{"aws:x": "1"}}, wantCode: apperr.Invalid, wantRule: "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := p.ResolveLaunch(tt.req, tt.usage)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("ResolveLaunch = %v", err)
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

func TestResolveLaunchDryRunOnlyAndUserData(t *testing.T) {
	p := mustPolicy(t, `{"instanceTypes":["t3.micro"],"amis":["ami-1"],"dryRunOnly":true,"allowUserData":true,
		"userData":"`+base64.StdEncoding.EncodeToString([]byte("#cloud-config\n"))+`"}`)
	if _, err := p.ResolveLaunch(Request{Task: "launch"}, api.Usage{}); apperr.Code(err) != apperr.PolicyDenied {
		t.Errorf("real launch on a dry-run-only token = %v; want policy_denied", err)
	}
	l, err := p.ResolveLaunch(Request{Task: "launch", DryRun: true}, api.Usage{})
	if err != nil || string(l.UserData) != "#cloud-config\n" || l.InstanceTypes[0] != "t3.micro" {
		t.Fatalf("dry run = %+v, %v; want the policy's user data and type", l, err)
	}
	own := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n"))
	if l, err = p.ResolveLaunch(Request{Task: "launch", DryRun: true, UserData: own}, api.Usage{}); err != nil || string(l.UserData) != "#!/bin/sh\n" {
		t.Fatalf("own user data = %q, %v", l.UserData, err)
	}
}
