package awssim

import (
	"fmt"
	"sort"
	"time"
)

// State is the JSON document GET /_sim/state returns: everything a test or
// a person debugging a demo may want to look at.
type State struct {
	AccountID  string            `json:"accountId"`
	Time       time.Time         `json:"time"`
	Regions    []RegionState     `json:"regions"`
	MFADevices []string          `json:"mfaDevices"`
	Faults     []FaultState      `json:"faults"`
	Latency    map[string]string `json:"latency"`
	// Calls counts the requests per action since New or the last reset.
	Calls map[string]int `json:"calls"`
	// Frozen is whether the clock is virtual, moved only by /_sim/clock.
	Frozen bool `json:"clockFrozen"`
	// Boot is the boot delay of new instances, InterruptionRate the spot
	// interruptions per instance-hour, RebalanceLead how long before its
	// notice an instance gets its rebalance recommendation.
	Boot             string  `json:"bootDelay"`
	InterruptionRate float64 `json:"interruptionRate"`
	RebalanceLead    string  `json:"rebalanceLead"`
}

// FaultState is one active fault rule.
type FaultState struct {
	Action string  `json:"action"`
	Code   string  `json:"code"`
	Rate   float64 `json:"rate"`
	Count  int     `json:"count"`
}

// RegionState is one region's resources.
type RegionState struct {
	Name         string            `json:"name"`
	VpcID        string            `json:"vpcId"`
	Subnets      map[string]string `json:"subnets"` // zone → default subnet id
	Instances    []InstanceState   `json:"instances"`
	SpotRequests []*spotRequest    `json:"spotInstanceRequests"`
	Templates    []*launchTemplate `json:"launchTemplates"`
	Fleets       []FleetState      `json:"fleets"`
	// Pools lists the pools a launch or a capacity setting has touched;
	// Sim.Pools (GET /_sim/pools) gives any type's.
	Pools  []PoolState       `json:"pools"`
	Images map[string]string `json:"images,omitempty"` // AMIs registered with SetImage → architecture
}

// InstanceState is an instance as /_sim/state shows it.
type InstanceState struct {
	InstanceID    string    `json:"instanceId"`
	InstanceType  string    `json:"instanceType"`
	State         string    `json:"state"`
	AZ            string    `json:"availabilityZone"`
	Lifecycle     string    `json:"lifecycle"`
	SpotPrice     float64   `json:"spotPrice,omitempty"`
	LaunchTime    time.Time `json:"launchTime"`
	ClientToken   string    `json:"clientToken,omitempty"`
	SpotRequestID string    `json:"spotInstanceRequestId,omitempty"`
	FleetID       string    `json:"fleetId,omitempty"`
	RunningAt     time.Time `json:"runningAt"` // when its boot delay ends
	RebalanceAt   time.Time `json:"rebalanceAt,omitzero"`
	NoticeAt      time.Time `json:"interruptionNoticeAt,omitzero"`
	InterruptAt   time.Time `json:"interruptAt,omitzero"`
	Tags          []tag     `json:"tags"`
}

// FleetState is an instant fleet as /_sim/state shows it.
type FleetState struct {
	FleetID     string   `json:"fleetId"`
	InstanceIDs []string `json:"instanceIds"`
	Errors      []string `json:"errors"`
}

// PoolState is one (zone, type) pool: its current spot price and what is
// left of its capacity.
type PoolState struct {
	AZ                string  `json:"availabilityZone"`
	InstanceType      string  `json:"instanceType"`
	SpotPrice         float64 `json:"spotPrice"`
	OnDemandPrice     float64 `json:"onDemandPrice"`
	SpotAvailable     int     `json:"spotAvailable"`
	OnDemandAvailable int     `json:"onDemandAvailable"`
}

// State returns a snapshot of the whole world.
func (s *Sim) State() State {
	clk := s.Clock()
	now := clk.Time
	st := State{AccountID: s.opts.AccountID, Time: now, MFADevices: s.mfa.serials(), Calls: s.counters.snapshot(), Frozen: clk.Frozen}
	faults, lat := s.chaos.snapshot()
	st.Latency = lat
	for _, f := range faults {
		st.Faults = append(st.Faults, FaultState{f.Action, f.Code, f.Rate, f.Count})
	}
	// Every region has the same configuration; one speaks for all.
	def := s.regions[DefaultRegion]
	def.mu.Lock()
	st.Boot, st.InterruptionRate, st.RebalanceLead = def.boot.String(), def.rate, def.lead.String()
	def.mu.Unlock()
	for _, name := range s.catalog.regionNames() {
		st.Regions = append(st.Regions, s.regions[name].state(now))
	}
	return st
}

func (r *region) state(now time.Time) RegionState {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(now)
	r.purge(now)
	rs := RegionState{Name: r.name, VpcID: r.vpcID, Subnets: r.zoneSubnet, Instances: []InstanceState{}}
	for _, in := range r.order {
		if in.purged {
			continue
		}
		rs.Instances = append(rs.Instances, InstanceState{
			InstanceID: in.id, InstanceType: in.itype, State: in.state(now, r.sim.opts.PendingDelay),
			AZ: in.az, Lifecycle: lifecycleName(in), SpotPrice: in.spotPrice, LaunchTime: in.launchTime,
			ClientToken: in.clientToken, SpotRequestID: in.spotRequestID, FleetID: in.fleetID,
			RunningAt: in.launchTime.Add(in.bootDelay), RebalanceAt: in.rebalanceAt, NoticeAt: in.noticeAt,
			InterruptAt: in.interruptAt, Tags: append([]tag{}, in.tags...),
		})
	}
	for id, img := range r.images {
		if rs.Images == nil {
			rs.Images = map[string]string{}
		}
		rs.Images[id] = img.arch
	}
	for _, sr := range r.spotOrder {
		cp := *sr
		rs.SpotRequests = append(rs.SpotRequests, &cp)
	}
	for _, id := range sortedIDs(r.templates) {
		cp := *r.templates[id]
		cp.Data = &cp.data
		rs.Templates = append(rs.Templates, &cp)
	}
	for _, id := range sortedIDs(r.fleets) {
		f := r.fleets[id]
		fs := FleetState{FleetID: id, InstanceIDs: []string{}, Errors: []string{}}
		for _, g := range f.groups {
			for _, in := range g.instances {
				fs.InstanceIDs = append(fs.InstanceIDs, in.id)
			}
		}
		for _, e := range f.errors {
			fs.Errors = append(fs.Errors, e.code+": "+e.msg)
		}
		rs.Fleets = append(rs.Fleets, fs)
	}
	for k, p := range r.pools {
		rs.Pools = append(rs.Pools, r.poolState(k, p, now))
	}
	sort.Slice(rs.Pools, func(i, j int) bool {
		a, b := rs.Pools[i], rs.Pools[j]
		if a.InstanceType != b.InstanceType {
			return a.InstanceType < b.InstanceType
		}
		return a.AZ < b.AZ
	})
	return rs
}

func lifecycleName(in *instance) string {
	if in.spot() {
		return "spot"
	}
	return "on-demand"
}

func (r *region) poolState(k poolKey, p *pool, now time.Time) PoolState {
	od, _ := r.sim.catalog.price(r.name, k.itype)
	return PoolState{
		AZ: k.az, InstanceType: k.itype, SpotPrice: r.sim.spotPrice(r.name, k.az, k.itype, now),
		OnDemandPrice: od.OnDemand, SpotAvailable: p.available(true), OnDemandAvailable: p.available(false),
	}
}

// Pools returns the pools of an instance type in every zone of a region
// (DefaultRegion if empty), with their current spot price and capacity.
func (s *Sim) Pools(regionName, instanceType string) ([]PoolState, error) {
	if regionName == "" {
		regionName = DefaultRegion
	}
	r, ok := s.regions[regionName]
	if !ok {
		return nil, fmt.Errorf("unknown region %q", regionName)
	}
	if !r.offered(instanceType) {
		return nil, fmt.Errorf("instance type %q is not offered in %s", instanceType, regionName)
	}
	now := s.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PoolState, 0, len(r.zones))
	for _, z := range r.zones {
		k := poolKey{z.Name, instanceType}
		out = append(out, r.poolState(k, r.pool(z.Name, instanceType), now))
	}
	return out, nil
}
