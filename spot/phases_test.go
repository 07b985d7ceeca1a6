package spot

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// TestPriceCap is the price cap phase alone: a fleet cap that pays for
// one instance in the cheapest pool passes, exactly at its price too; one
// that does not is refused as the policy rule it comes from, or as too
// low a price, unless on-demand may make up for spot.
func TestPriceCap(t *testing.T) {
	cheapest := Pool{Type: "t3.micro", AZ: "us-east-1a", Price: money.FromDollars(0.0104)}
	tests := []struct {
		name     string
		cap      float64
		rule     string
		fallback bool
		wantCode string // "" = passes
	}{
		{name: "no cap", cap: 0},
		{name: "well over the cheapest", cap: 1},
		{name: "at the cheapest", cap: 0.0104},
		{name: "under the cheapest", cap: 0.0103, wantCode: apperr.PriceTooLow},
		{name: "under the cheapest, from a rule", cap: 0.0103, rule: "maxHourlySpend", wantCode: apperr.PolicyDenied},
		{name: "under the cheapest, with fallback", cap: 0.0103, fallback: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &launch{pools: []Pool{cheapest}}
			l.spec.MaxTotalPrice, l.spec.MaxTotalPriceRule, l.spec.OnDemandFallback = tt.cap, tt.rule, tt.fallback
			err := l.priceCap()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("priceCap(%v) = %v; want nil", tt.cap, err)
				}
				return
			}
			if apperr.Code(err) != tt.wantCode {
				t.Fatalf("priceCap(%v) = %v; want %s", tt.cap, err, tt.wantCode)
			}
			if d := apperr.Details(err); !strings.Contains(d, "t3.micro/us-east-1a at $0.0104/h") || tt.rule != "" && !strings.Contains(d, "rule "+tt.rule) {
				t.Errorf("details %q; want the cheapest pool named (and the rule %q)", d, tt.rule)
			}
		})
	}
}

// fleetRecorder is an ec2API that records the CreateFleet call it gets;
// any other call panics on the nil interface.
type fleetRecorder struct {
	ec2API
	in *ec2.CreateFleetInput
}

func (r *fleetRecorder) CreateFleet(_ context.Context, in *ec2.CreateFleetInput, _ ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	r.in = in
	return &ec2.CreateFleetOutput{}, nil
}

// TestFleetCreate is one CreateFleet call from its request: the on-demand
// fallback asks for on-demand capacity, lowest price first, and no
// per-instance price; the spot call for spot, price-capacity-optimized,
// each pool capped at maxPrice; each carries the fleet's total cap only
// when there is one, to the micro-dollar.
func TestFleetCreate(t *testing.T) {
	tests := []struct {
		name      string
		req       fleetRequest
		wantType  types.DefaultTargetCapacityType
		wantPool  string // each override's MaxPrice; "" = none
		wantTotal string // "" = no cap sent
	}{
		{name: "spot, no caps", req: fleetRequest{clientToken: "sp-1", count: 2}, wantType: types.DefaultTargetCapacityTypeSpot},
		{name: "spot, capped", req: fleetRequest{clientToken: "sp-1", count: 2, maxPrice: 0.05, maxTotal: 0.0016800000000000005},
			wantType: types.DefaultTargetCapacityTypeSpot, wantPool: "0.05", wantTotal: "0.00168"},
		{name: "spot dry run", req: fleetRequest{clientToken: "sp-1", count: 1, dryRun: true}, wantType: types.DefaultTargetCapacityTypeSpot},
		{name: "on-demand ignores maxPrice", req: fleetRequest{clientToken: "sp-2", count: 1, onDemand: true, maxPrice: 0.05},
			wantType: types.DefaultTargetCapacityTypeOnDemand},
		{name: "on-demand, capped", req: fleetRequest{clientToken: "sp-2", count: 1, onDemand: true, maxTotal: 0.5},
			wantType: types.DefaultTargetCapacityTypeOnDemand, wantTotal: "0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fleetRecorder{}
			f := fleetCall{api: rec, tmpl: template{name: "spotter-t"}, tags: map[string]string{TagToken: "tokA"},
				pools: []Pool{{Type: "m5.large", AZ: "us-east-1a"}, {Type: "c5.large", Subnet: "subnet-1"}}}
			if _, err := f.create(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			in := rec.in
			if aws.ToString(in.ClientToken) != tt.req.clientToken || aws.ToInt32(in.TargetCapacitySpecification.TotalTargetCapacity) != int32(tt.req.count) || aws.ToBool(in.DryRun) != tt.req.dryRun {
				t.Errorf("CreateFleet(token %s, %d, dry run %v); want %+v", aws.ToString(in.ClientToken), aws.ToInt32(in.TargetCapacitySpecification.TotalTargetCapacity), aws.ToBool(in.DryRun), tt.req)
			}
			if got := in.TargetCapacitySpecification.DefaultTargetCapacityType; got != tt.wantType {
				t.Errorf("capacity type = %s; want %s", got, tt.wantType)
			}
			for _, o := range in.LaunchTemplateConfigs[0].Overrides {
				if got := aws.ToString(o.MaxPrice); got != tt.wantPool {
					t.Errorf("override %s MaxPrice = %q; want %q", o.InstanceType, got, tt.wantPool)
				}
			}
			var total *string
			switch {
			case tt.req.onDemand && (in.OnDemandOptions == nil || in.SpotOptions != nil):
				t.Fatalf("options = spot %+v, on-demand %+v; want on-demand only", in.SpotOptions, in.OnDemandOptions)
			case tt.req.onDemand:
				total = in.OnDemandOptions.MaxTotalPrice
				if in.OnDemandOptions.AllocationStrategy != types.FleetOnDemandAllocationStrategyLowestPrice {
					t.Errorf("on-demand strategy = %s; want lowest-price", in.OnDemandOptions.AllocationStrategy)
				}
			case in.SpotOptions == nil || in.OnDemandOptions != nil:
				t.Fatalf("options = spot %+v, on-demand %+v; want spot only", in.SpotOptions, in.OnDemandOptions)
			default:
				total = in.SpotOptions.MaxTotalPrice
				if in.SpotOptions.AllocationStrategy != types.SpotAllocationStrategyPriceCapacityOptimized {
					t.Errorf("spot strategy = %s; want price-capacity-optimized", in.SpotOptions.AllocationStrategy)
				}
			}
			if got := aws.ToString(total); got != tt.wantTotal {
				t.Errorf("MaxTotalPrice = %q; want %q", got, tt.wantTotal)
			}
		})
	}
}

// TestTypePools: the pools of one type are each subnet asked (at the
// type's cheapest zone price), else each zone asked that offers it (a
// warning for one that does not), else every zone that offers it, sorted.
func TestTypePools(t *testing.T) {
	prices := map[poolKey]float64{
		{"m5.large", "us-east-1b"}: 0.04, {"m5.large", "us-east-1a"}: 0.03, {"c5.large", "us-east-1a"}: 0.02,
	}
	tests := []struct {
		name     string
		spec     LaunchSpec
		typ      string
		want     []Pool
		wantWarn string
	}{
		{name: "every zone, sorted", typ: "m5.large",
			want: []Pool{{Type: "m5.large", AZ: "us-east-1a", Price: money.FromDollars(0.03)}, {Type: "m5.large", AZ: "us-east-1b", Price: money.FromDollars(0.04)}}},
		{name: "zones asked", typ: "m5.large", spec: LaunchSpec{AvailabilityZones: []string{"us-east-1b", "us-east-1c"}},
			want:     []Pool{{Type: "m5.large", AZ: "us-east-1b", Price: money.FromDollars(0.04)}},
			wantWarn: "m5.large is not offered as spot in us-east-1c"},
		{name: "subnets at the cheapest zone's price", typ: "m5.large", spec: LaunchSpec{Launch: api.Launch{Subnets: []string{"subnet-1", "subnet-1", "subnet-2"}}},
			want: []Pool{{Type: "m5.large", Subnet: "subnet-1", Price: money.FromDollars(0.03)}, {Type: "m5.large", Subnet: "subnet-2", Price: money.FromDollars(0.03)}}},
		{name: "type offered nowhere", typ: "p5.48xlarge", wantWarn: "p5.48xlarge is not offered as spot in us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warns := typePools(tt.spec, "us-east-1", tt.typ, prices)
			if !slices.Equal(got, tt.want) {
				t.Errorf("typePools(%s) = %+v; want %+v", tt.typ, got, tt.want)
			}
			if w := strings.Join(warns, "; "); w != tt.wantWarn {
				t.Errorf("warnings = %q; want %q", w, tt.wantWarn)
			}
		})
	}
}
