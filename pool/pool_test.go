package pool

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// issueJSON is the pool the issue shows users and scripts writing.
const issueJSON = `{"name": "linux-ci", "tokenId": "tok_abcdefghijklmnopqrst", "region": "us-east-1", "ami": "ami-0abc1234",
 "launchConfigs": [{"instanceType": "c6i.large", "capacity": 1}, {"instanceType": "c6i.2xlarge", "capacity": 4}],
 "minCapacity": 0, "maxCapacity": 50, "scalingRatio": 1.0, "idleTimeout": "10m", "maxLifetime": "12h",
 "labels": ["self-hosted", "linux"]}`

func valid(t *testing.T) Pool {
	t.Helper()
	var p Pool
	if err := json.Unmarshal([]byte(issueJSON), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func ud(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

func TestIssueJSONNormalizes(t *testing.T) {
	p := valid(t)
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"idleTimeout": 10 * time.Minute, "maxLifetime": 12 * time.Hour, "bootTimeout": DefaultBootTimeout,
		"staleDemandAfter": 2 * time.Minute, "scaleOutCooldown": time.Duration(0), "heartbeatTimeout": 3 * time.Minute,
		"heartbeatInterval": time.Minute, "capacity[1]": 4, "utility[0]": 1.0, "scalingRatio": 1.0,
	}
	got := map[string]any{
		"idleTimeout": time.Duration(p.IdleTimeout), "maxLifetime": time.Duration(p.MaxLifetime), "bootTimeout": time.Duration(p.BootTimeout),
		"staleDemandAfter": time.Duration(p.StaleDemandAfter), "scaleOutCooldown": time.Duration(p.ScaleOutCooldown),
		"heartbeatTimeout": time.Duration(p.HeartbeatTimeout), "heartbeatInterval": p.HeartbeatInterval(),
		"capacity[1]": p.LaunchConfigs[1].Capacity, "utility[0]": p.LaunchConfigs[0].Utility, "scalingRatio": p.ScalingRatio,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v; want %v", k, got[k], w)
		}
	}
	// Round trip: the names the issue gives come back out.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"name"`, `"tokenId"`, `"region"`, `"ami"`, `"launchConfigs"`, `"instanceType"`, `"capacity"`,
		`"minCapacity"`, `"maxCapacity"`, `"scalingRatio"`, `"idleTimeout":"10m0s"`, `"maxLifetime":"12h0m0s"`, `"labels"`, `"staleDemandAfter":"2m0s"`} {
		if !strings.Contains(string(b), name) {
			t.Errorf("marshalled pool lacks %s: %s", name, b)
		}
	}
	again := p
	if err := again.Normalize(); err != nil || again.IdleTimeout != p.IdleTimeout {
		t.Errorf("normalizing twice: %v, idle %v", err, again.IdleTimeout)
	}
}

func TestDefaults(t *testing.T) {
	p := Pool{Name: "a", TokenID: "tok_abcdefghijklmnopqrst", Region: "eu-west-1", AMI: "ami-1",
		LaunchConfigs: []LaunchConfig{{InstanceType: "m7g.*"}}, MaxCapacity: 1}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.IdleTimeout != DefaultIdleTimeout || p.MaxLifetime != Duration(DefaultMaxLifetime) || p.BootTimeout != Duration(DefaultBootTimeout) ||
		p.StaleDemandAfter != Duration(2*time.Minute) || p.ScalingRatio != 1 || p.LaunchConfigs[0].Capacity != 1 || p.LaunchConfigs[0].Utility != 1 {
		t.Errorf("defaults not filled: %+v", p)
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mut   func(p *Pool)
		field string // "" means valid
	}{
		"issue's example":          {mut: func(*Pool) {}},
		"name missing":             {mut: func(p *Pool) { p.Name = "" }, field: "name"},
		"name 63 chars":            {mut: func(p *Pool) { p.Name = strings.Repeat("a", 63) }},
		"name 64 chars":            {mut: func(p *Pool) { p.Name = strings.Repeat("a", 64) }, field: "name"},
		"name uppercase":           {mut: func(p *Pool) { p.Name = "Linux" }, field: "name"},
		"name trailing hyphen":     {mut: func(p *Pool) { p.Name = "linux-" }, field: "name"},
		"name one char":            {mut: func(p *Pool) { p.Name = "a" }},
		"tokenId wrong":            {mut: func(p *Pool) { p.TokenID = "tok_abc" }, field: "tokenId"},
		"region wrong":             {mut: func(p *Pool) { p.Region = "mars-1" }, field: "region"},
		"ami wrong":                {mut: func(p *Pool) { p.AMI = "ami_1" }, field: "ami"},
		"no launch configs":        {mut: func(p *Pool) { p.LaunchConfigs = nil }, field: "launchConfigs"},
		"20 launch configs":        {mut: func(p *Pool) { p.LaunchConfigs = configs(20) }},
		"21 launch configs":        {mut: func(p *Pool) { p.LaunchConfigs = configs(21) }, field: "launchConfigs"},
		"type pattern":             {mut: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "c6i.*" }},
		"type wrong":               {mut: func(p *Pool) { p.LaunchConfigs[1].InstanceType = "C6I" }, field: "launchConfigs[1].instanceType"},
		"type twice":               {mut: func(p *Pool) { p.LaunchConfigs[1].InstanceType = "c6i.large" }, field: "launchConfigs[1].instanceType"},
		"type bad pattern":         {mut: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "c6i.[" }, field: "launchConfigs[0].instanceType"},
		"weight 100":               {mut: func(p *Pool) { p.LaunchConfigs[1].Capacity = 100 }},
		"weight 101":               {mut: func(p *Pool) { p.LaunchConfigs[1].Capacity = 101 }, field: "launchConfigs[1].capacity"},
		"weight negative":          {mut: func(p *Pool) { p.LaunchConfigs[0].Capacity = -1 }, field: "launchConfigs[0].capacity"},
		"utility 100":              {mut: func(p *Pool) { p.LaunchConfigs[0].Utility = 100 }},
		"utility 100.5":            {mut: func(p *Pool) { p.LaunchConfigs[0].Utility = 100.5 }, field: "launchConfigs[0].utility"},
		"utility negative":         {mut: func(p *Pool) { p.LaunchConfigs[0].Utility = -1 }, field: "launchConfigs[0].utility"},
		"utility NaN":              {mut: func(p *Pool) { p.LaunchConfigs[0].Utility = math.NaN() }, field: "launchConfigs[0].utility"},
		"20 subnets":               {mut: func(p *Pool) { p.Subnets = subnets(20) }},
		"21 subnets":               {mut: func(p *Pool) { p.Subnets = subnets(21) }, field: "subnets"},
		"subnet wrong":             {mut: func(p *Pool) { p.Subnets = []string{"subnet-xyz"} }, field: "subnets"},
		"userData 16 KB":           {mut: func(p *Pool) { p.UserData = ud(16 << 10) }},
		"userData 16 KB + 1":       {mut: func(p *Pool) { p.UserData = ud(16<<10 + 1) }, field: "userData"},
		"userData not base64":      {mut: func(p *Pool) { p.UserData = "#!/bin/sh" }, field: "userData"},
		"maxCapacity 1000":         {mut: func(p *Pool) { p.MaxCapacity = 1000 }},
		"maxCapacity 1001":         {mut: func(p *Pool) { p.MaxCapacity = 1001 }, field: "maxCapacity"},
		"maxCapacity 0":            {mut: func(p *Pool) { p.MaxCapacity = 0 }, field: "maxCapacity"},
		"minCapacity = max":        {mut: func(p *Pool) { p.MinCapacity = 50 }},
		"minCapacity > max":        {mut: func(p *Pool) { p.MinCapacity = 51 }, field: "minCapacity"},
		"minCapacity negative":     {mut: func(p *Pool) { p.MinCapacity = -1 }, field: "minCapacity"},
		"scalingRatio 1":           {mut: func(p *Pool) { p.ScalingRatio = 1 }},
		"scalingRatio 1.01":        {mut: func(p *Pool) { p.ScalingRatio = 1.01 }, field: "scalingRatio"},
		"scalingRatio negative":    {mut: func(p *Pool) { p.ScalingRatio = -0.5 }, field: "scalingRatio"},
		"maxPrice 1000":            {mut: func(p *Pool) { p.MaxPrice = 1000 }},
		"maxPrice 1000.01":         {mut: func(p *Pool) { p.MaxPrice = 1000.01 }, field: "maxPrice"},
		"maxPrice negative":        {mut: func(p *Pool) { p.MaxPrice = -1 }, field: "maxPrice"},
		"maxHourlySpend = price":   {mut: func(p *Pool) { p.MaxPrice, p.MaxHourlySpend = 0.5, 0.5 }},
		"maxHourlySpend < price":   {mut: func(p *Pool) { p.MaxPrice, p.MaxHourlySpend = 0.5, 0.49 }, field: "maxHourlySpend"},
		"maxHourlySpend ceiling":   {mut: func(p *Pool) { p.MaxHourlySpend = 1e6 }},
		"maxHourlySpend past":      {mut: func(p *Pool) { p.MaxHourlySpend = 1e6 + 1 }, field: "maxHourlySpend"},
		"onDemandBase = max":       {mut: func(p *Pool) { p.OnDemandBase = 50 }},
		"onDemandBase > max":       {mut: func(p *Pool) { p.OnDemandBase = 51 }, field: "onDemandBase"},
		"idleTimeout 0":            {mut: func(p *Pool) { p.IdleTimeout = 0 }},
		"idleTimeout 24h":          {mut: func(p *Pool) { p.IdleTimeout = Duration(24 * time.Hour) }},
		"idleTimeout 24h+1s":       {mut: func(p *Pool) { p.IdleTimeout = Duration(24*time.Hour + time.Second) }, field: "idleTimeout"},
		"idleTimeout negative":     {mut: func(p *Pool) { p.IdleTimeout = Duration(-time.Second) }, field: "idleTimeout"},
		"maxLifetime 10m":          {mut: func(p *Pool) { p.MaxLifetime, p.BootTimeout = Duration(10*time.Minute), Duration(5*time.Minute) }},
		"maxLifetime 9m59s":        {mut: func(p *Pool) { p.MaxLifetime = Duration(10*time.Minute - time.Second) }, field: "maxLifetime"},
		"maxLifetime 7d":           {mut: func(p *Pool) { p.MaxLifetime = Duration(7 * 24 * time.Hour) }},
		"maxLifetime 7d+1s":        {mut: func(p *Pool) { p.MaxLifetime = Duration(7*24*time.Hour + time.Second) }, field: "maxLifetime"},
		"bootTimeout 1m":           {mut: func(p *Pool) { p.BootTimeout = Duration(time.Minute) }},
		"bootTimeout 59s":          {mut: func(p *Pool) { p.BootTimeout = Duration(59 * time.Second) }, field: "bootTimeout"},
		"bootTimeout 1h":           {mut: func(p *Pool) { p.BootTimeout = Duration(time.Hour) }},
		"bootTimeout 1h+1s":        {mut: func(p *Pool) { p.BootTimeout = Duration(time.Hour + time.Second) }, field: "bootTimeout"},
		"bootTimeout = lifetime":   {mut: func(p *Pool) { p.BootTimeout, p.MaxLifetime = Duration(time.Hour), Duration(time.Hour) }, field: "bootTimeout"},
		"scaleOutCooldown 1h":      {mut: func(p *Pool) { p.ScaleOutCooldown = Duration(time.Hour) }},
		"scaleOutCooldown 1h+1s":   {mut: func(p *Pool) { p.ScaleOutCooldown = Duration(time.Hour + time.Second) }, field: "scaleOutCooldown"},
		"scaleInCooldown negative": {mut: func(p *Pool) { p.ScaleInCooldown = Duration(-time.Second) }, field: "scaleInCooldown"},
		"scaleInCooldown 1h+1s":    {mut: func(p *Pool) { p.ScaleInCooldown = Duration(time.Hour + time.Second) }, field: "scaleInCooldown"},
		"staleDemandAfter 10s":     {mut: func(p *Pool) { p.StaleDemandAfter = Duration(10 * time.Second) }},
		"staleDemandAfter 9s":      {mut: func(p *Pool) { p.StaleDemandAfter = Duration(9 * time.Second) }, field: "staleDemandAfter"},
		"staleDemandAfter 1h+1s":   {mut: func(p *Pool) { p.StaleDemandAfter = Duration(time.Hour + time.Second) }, field: "staleDemandAfter"},
		"heartbeatTimeout 15s":     {mut: func(p *Pool) { p.HeartbeatTimeout = Duration(15 * time.Second) }},
		"heartbeatTimeout 14s":     {mut: func(p *Pool) { p.HeartbeatTimeout = Duration(14 * time.Second) }, field: "heartbeatTimeout"},
		"heartbeatTimeout 1h":      {mut: func(p *Pool) { p.HeartbeatTimeout = Duration(time.Hour) }},
		"heartbeatTimeout 1h+1s":   {mut: func(p *Pool) { p.HeartbeatTimeout = Duration(time.Hour + time.Second) }, field: "heartbeatTimeout"},
		"20 labels":                {mut: func(p *Pool) { p.Labels = labels(20) }},
		"21 labels":                {mut: func(p *Pool) { p.Labels = labels(21) }, field: "labels"},
		"label 64 chars":           {mut: func(p *Pool) { p.Labels = []string{strings.Repeat("x", 64)} }},
		"label 65 chars":           {mut: func(p *Pool) { p.Labels = []string{strings.Repeat("x", 65)} }, field: "labels"},
		"label with space":         {mut: func(p *Pool) { p.Labels = []string{"self hosted"} }, field: "labels"},
		"label twice":              {mut: func(p *Pool) { p.Labels = []string{"linux", "linux"} }, field: "labels"},
		"bootstrap template":       {mut: func(p *Pool) { p.Bootstrap, p.TerminateAfterJob = BootstrapGitHubRunner, true }},
		"bootstrap unknown":        {mut: func(p *Pool) { p.Bootstrap = "jenkins" }, field: "bootstrap"},
		"bootstrap with userData":  {mut: func(p *Pool) { p.Bootstrap, p.UserData = BootstrapBuildkite, ud(10) }, field: "userData"},
		"terminateAfterJob alone":  {mut: func(p *Pool) { p.TerminateAfterJob = true }, field: "terminateAfterJob"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := valid(t)
			tc.mut(&p)
			err := p.Normalize()
			checkField(t, err, tc.field)
		})
	}
}

// checkField asserts err is nil (field "") or an invalid_request whose
// details start with "<field>: ".
func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.Invalid {
		t.Fatalf("error %v; want %s", err, apperr.Invalid)
	}
	if !strings.HasPrefix(ae.Details, field+": ") {
		t.Fatalf("details %q do not name %s first", ae.Details, field)
	}
}

func configs(n int) []LaunchConfig {
	out := make([]LaunchConfig, n)
	for i := range out {
		out[i] = LaunchConfig{InstanceType: "c6i." + strings.Repeat("x", i+1)}
	}
	return out
}

func subnets(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("subnet-%04x", i)
	}
	return out
}

func labels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "l" + strings.Repeat("x", i)
	}
	return out
}
