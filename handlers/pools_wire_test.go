package handlers

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
)

func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// TestPoolWireMatchesDefinition holds the client's types (api) to the
// server's (pool) field by field, both ways.
func TestPoolWireMatchesDefinition(t *testing.T) {
	tests := map[string]struct {
		wire, domain any
		domainOnly   []string
	}{
		"pool":           {wire: api.Pool{}, domain: pool.Pool{}},
		"launch config":  {wire: api.PoolLaunchConfig{}, domain: pool.LaunchConfig{}},
		"instance":       {wire: api.PoolInstance{}, domain: pool.Instance{}},
		"demand":         {wire: api.PoolDemand{}, domain: pool.Demand{}},
		"demand request": {wire: api.DemandRequest{}, domain: pool.Demand{}, domainOnly: []string{"at"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			w := jsonNames(reflect.TypeOf(tt.wire))
			d := slices.DeleteFunc(jsonNames(reflect.TypeOf(tt.domain)), func(s string) bool { return slices.Contains(tt.domainOnly, s) })
			if !slices.Equal(w, d) {
				t.Errorf("api fields %v\npool fields %v", w, d)
			}
		})
	}
}

// TestPoolDefinitionRoundTrip: a pool with every field set survives being
// shown (api.Pool) and sent back, as a client's update or re-create does.
func TestPoolDefinitionRoundTrip(t *testing.T) {
	p := pool.Pool{Name: "linux-ci", TokenID: "tok_abcdefghij2345234567", Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 2, Utility: 1.5}}, Subnets: []string{"subnet-0a"},
		UserData: "IyEvYmluL3NoCg==", MinCapacity: 1, MaxCapacity: 9, ScalingRatio: 0.5, MaxPrice: 0.2, MaxHourlySpend: 3,
		OnDemandBase: 1, OnDemandFallback: true, IdleTimeout: pool.Duration(time.Minute), MaxLifetime: pool.Duration(time.Hour),
		BootTimeout: pool.Duration(5 * time.Minute), ScaleOutCooldown: pool.Duration(time.Second), ScaleInCooldown: pool.Duration(2 * time.Second),
		StaleDemandAfter: pool.Duration(time.Minute), Paused: true, Draining: true, Labels: []string{"linux"}}
	info := poolInfo(pools.Record{Pool: p}, time.Now())
	b, err := json.Marshal(info.Pool)
	if err != nil {
		t.Fatal(err)
	}
	var back pool.Pool
	if err := decodeJSON(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, p)
	}
}
