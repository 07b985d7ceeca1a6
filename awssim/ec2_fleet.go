package awssim

import (
	"fmt"
	"strconv"
	"time"
)

// fleetPool is one candidate (template config × override × zone) of a
// CreateFleet request.
type fleetPool struct {
	ltID, ltName, ltVersion string // as the caller named the template
	override                query  // as the caller sent it, echoed back
	spec                    launchSpec
	az                      string
	weight                  float64
	priority                float64
	hasPriority             bool
	avail                   int
	price                   float64 // hourly, spot or on-demand per the allocation
}

type fleetGroup struct {
	pool      *fleetPool
	lifecycle string
	instances []*instance
}

type fleetError struct {
	pool      *fleetPool
	lifecycle string
	code, msg string
}

// fleetRecord is a created instant fleet, kept for ClientToken replay and
// /_sim/state.
type fleetRecord struct {
	id          string
	created     time.Time
	fingerprint string
	tags        []tag
	groups      []fleetGroup
	errors      []fleetError
}

// fleetOptions are the SpotOptions or OnDemandOptions members that shape
// one market's allocation.
type fleetOptions struct {
	strategy    string
	maxTotal    float64
	minTarget   int
	singleType  bool
	singleAZ    bool
	poolsToUse  int
	spot        bool
	targetUnits float64
}

var spotStrategies = []string{"lowest-price", "diversified", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"}

func (s *Sim) createFleet(c *call, x *xmlWriter) *apiError {
	q := c.q
	typ := q.str("Type")
	if typ == "" {
		typ = "maintain"
	}
	if typ != "instant" {
		return &apiError{Code: "Unsupported", Message: fmt.Sprintf("awssim emulates only instant fleets, not %q.", typ)}
	}
	tcs := q.sub("TargetCapacitySpecification")
	total, ok, err := tcs.integer("TotalTargetCapacity")
	if err != nil {
		return err
	}
	if !ok {
		return errMissing("TargetCapacitySpecification.TotalTargetCapacity")
	}
	def := tcs.str("DefaultTargetCapacityType")
	if def != "spot" && def != "on-demand" {
		if def == "" {
			return errMissing("TargetCapacitySpecification.DefaultTargetCapacityType")
		}
		return errInvalidParameterValue("DefaultTargetCapacityType", def)
	}
	spotTarget, hasSpot, err := tcs.integer("SpotTargetCapacity")
	if err != nil {
		return err
	}
	odTarget, hasOD, err := tcs.integer("OnDemandTargetCapacity")
	if err != nil {
		return err
	}
	switch {
	case !hasSpot && !hasOD && def == "spot":
		spotTarget = total
	case !hasSpot && !hasOD:
		odTarget = total
	case !hasSpot:
		spotTarget = total - odTarget
	case !hasOD:
		odTarget = total - spotTarget
	}
	if total < 1 || spotTarget < 0 || odTarget < 0 || spotTarget+odTarget > total {
		return &apiError{Code: "InvalidTargetCapacitySpecification", Message: fmt.Sprintf("Invalid target capacity: total %d, spot %d, on-demand %d.", total, spotTarget, odTarget)}
	}
	spotOpts, err := readFleetOptions(q.sub("SpotOptions"), true)
	if err != nil {
		return err
	}
	odOpts, err := readFleetOptions(q.sub("OnDemandOptions"), false)
	if err != nil {
		return err
	}
	spotOpts.targetUnits, odOpts.targetUnits = float64(spotTarget), float64(odTarget)
	tags, err := tagSpecs(q, "TagSpecification")
	if err != nil {
		return err
	}
	for rt := range tags {
		if rt != "instance" && rt != "fleet" {
			return errInvalidParameterValue("TagSpecification.ResourceType", rt)
		}
	}
	token := q.str("ClientToken")
	if len(token) > 64 {
		return errInvalidParameterValue("ClientToken", token)
	}
	configs := q.structs("LaunchTemplateConfigs")
	if len(configs) == 0 {
		return errMissing("LaunchTemplateConfigs")
	}
	req := fleetRequest{configs: configs, tags: tags, markets: []fleetOptions{spotOpts, odOpts}, token: token,
		fingerprint: q.fingerprint("Action", "Version", "ClientToken", "DryRun"), dryRun: q.boolean("DryRun")}
	return s.instantFleet(c, x, req)
}

// fleetRequest is a decoded instant CreateFleet.
type fleetRequest struct {
	configs     []query // LaunchTemplateConfigs
	tags        map[string][]tag
	markets     []fleetOptions // spot, then on-demand
	token       string         // ClientToken
	fingerprint string
	dryRun      bool
}

// instantFleet runs a decoded CreateFleet under the region's lock: the
// pools, DryRun, ClientToken replay (the same fleet for the same request,
// IdempotentParameterMismatch for another), then each market's allocation.
func (s *Sim) instantFleet(c *call, x *xmlWriter, req fleetRequest) *apiError {
	r := c.region
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	pools, err := r.fleetPools(req.configs)
	if err != nil {
		return err
	}
	if req.dryRun {
		return errDryRun()
	}
	if req.token != "" {
		if rec, ok := r.fleetTokens[req.token]; ok {
			if rec.fingerprint != req.fingerprint {
				return &apiError{Code: "IdempotentParameterMismatch", Message: "The client token you have provided is associated with a resource that has different parameters."}
			}
			writeFleet(x, rec)
			return nil
		}
	}
	rec := &fleetRecord{id: fmt.Sprintf("fleet-%08x-%04x-%04x-%04x-%012x", uint32(s.nextID()), uint16(s.nextID()), uint16(s.nextID()), uint16(s.nextID()), s.nextID()&0xffffffffffff), created: c.now, fingerprint: req.fingerprint, tags: req.tags["fleet"]}
	extra := append([]tag{{"aws:ec2:fleet-id", rec.id}}, req.tags["instance"]...)
	for _, opts := range req.markets {
		if opts.targetUnits <= 0 {
			continue
		}
		r.allocate(c, rec, pools, opts, extra)
	}
	r.fleets[rec.id] = rec
	if req.token != "" {
		r.fleetTokens[req.token] = rec
	}
	writeFleet(x, rec)
	return nil
}

func readFleetOptions(q query, spot bool) (fleetOptions, *apiError) {
	o := fleetOptions{
		strategy:   q.str("AllocationStrategy"),
		singleType: q.boolean("SingleInstanceType"),
		singleAZ:   q.boolean("SingleAvailabilityZone"),
		spot:       spot,
	}
	allowed := []string{"lowest-price", "prioritized"}
	if spot {
		allowed = spotStrategies
	}
	if o.strategy == "" {
		o.strategy = "lowest-price"
	}
	if !contains(allowed, o.strategy) {
		return o, errInvalidParameterValue("AllocationStrategy", o.strategy)
	}
	var err *apiError
	if o.maxTotal, _, err = q.float("MaxTotalPrice"); err != nil {
		return o, err
	}
	if o.minTarget, _, err = q.integer("MinTargetCapacity"); err != nil {
		return o, err
	}
	if o.poolsToUse, _, err = q.integer("InstancePoolsToUseCount"); err != nil {
		return o, err
	}
	return o, nil
}

// fleetPools expands each template config and override into pools; an
// override without a zone or subnet stands for every zone of the region.
func (r *region) fleetPools(configs []query) ([]*fleetPool, *apiError) {
	var pools []*fleetPool
	for _, cfg := range configs {
		lts := cfg.sub("LaunchTemplateSpecification")
		t, version, err := r.findTemplate(lts.str("LaunchTemplateId"), lts.str("LaunchTemplateName"), lts.str("Version"), true)
		if err != nil {
			return nil, err
		}
		overrides := cfg.structs("Overrides")
		if len(overrides) == 0 {
			overrides = []query{{}}
		}
		for _, o := range overrides {
			spec := t.data
			spec.MarketType = ""
			over := launchSpec{
				InstanceType:     o.str("InstanceType"),
				SubnetID:         o.str("SubnetId"),
				AvailabilityZone: o.str("AvailabilityZone"),
				ImageID:          o.str("ImageId"),
			}
			if over.AvailabilityZone == "" {
				over.AvailabilityZone = o.str("Placement.AvailabilityZone")
			}
			mp, _, err := o.float("MaxPrice")
			if err != nil {
				return nil, err
			}
			over.MaxPrice = mp
			spec = spec.merge(over)
			if spec.SubnetID != "" && over.AvailabilityZone == "" && over.SubnetID != "" {
				spec.AvailabilityZone = ""
			}
			if err := r.resolve(&spec); err != nil {
				return nil, err
			}
			if spec.InstanceType == "" {
				return nil, errMissing("Overrides.InstanceType")
			}
			if spec.ImageID == "" {
				return nil, errMissing("ImageId")
			}
			weight := 1.0
			if w, ok, err := o.float("WeightedCapacity"); err != nil {
				return nil, err
			} else if ok && w > 0 {
				weight = w
			}
			prio, hasPrio, err := o.float("Priority")
			if err != nil {
				return nil, err
			}
			zones := []string{spec.AvailabilityZone}
			if spec.AvailabilityZone == "" {
				zones = zones[:0]
				for _, z := range r.zones {
					zones = append(zones, z.Name)
				}
			}
			for _, az := range zones {
				sp := spec
				sp.AvailabilityZone = az
				pools = append(pools, &fleetPool{
					ltID: lts.str("LaunchTemplateId"), ltName: lts.str("LaunchTemplateName"), ltVersion: version,
					override: o, spec: sp, az: az, weight: weight, priority: prio, hasPriority: hasPrio,
				})
			}
		}
	}
	return pools, nil
}

func writeFleet(x *xmlWriter, rec *fleetRecord) {
	x.leaf("fleetId", rec.id)
	x.open("errorSet")
	for _, e := range rec.errors {
		x.open("item")
		if e.pool != nil {
			writeTemplateAndOverrides(x, e.pool)
		}
		x.leaf("lifecycle", e.lifecycle)
		x.leaf("errorCode", e.code)
		x.leaf("errorMessage", e.msg)
		x.close("item")
	}
	x.close("errorSet")
	x.open("fleetInstanceSet")
	for _, g := range rec.groups {
		x.open("item")
		writeTemplateAndOverrides(x, g.pool)
		x.leaf("lifecycle", g.lifecycle)
		x.open("instanceIds")
		for _, in := range g.instances {
			x.leaf("item", in.id)
		}
		x.close("instanceIds")
		x.leaf("instanceType", g.pool.spec.InstanceType)
		x.close("item")
	}
	x.close("fleetInstanceSet")
}

func writeTemplateAndOverrides(x *xmlWriter, p *fleetPool) {
	x.open("launchTemplateAndOverrides")
	x.open("launchTemplateSpecification")
	x.opt("launchTemplateId", p.ltID)
	x.opt("launchTemplateName", p.ltName)
	x.leaf("version", p.ltVersion)
	x.close("launchTemplateSpecification")
	x.open("overrides")
	x.leaf("instanceType", p.spec.InstanceType)
	if v := p.override.str("MaxPrice"); v != "" {
		x.leaf("maxPrice", v)
	}
	x.opt("subnetId", p.override.str("SubnetId"))
	x.leaf("availabilityZone", p.az)
	if p.weight != 1 || p.override.has("WeightedCapacity") {
		x.leaf("weightedCapacity", strconv.FormatFloat(p.weight, 'f', -1, 64))
	}
	if p.hasPriority {
		x.leaf("priority", strconv.FormatFloat(p.priority, 'f', -1, 64))
	}
	x.opt("imageId", p.override.str("ImageId"))
	x.close("overrides")
	x.close("launchTemplateAndOverrides")
}
