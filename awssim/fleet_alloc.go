package awssim

import (
	"fmt"
	"math"
	"sort"
)

// allocate fills one market's target from the pools in the order its
// strategy gives, within MaxTotalPrice and each pool's max price, and
// records capacity shortfalls in the fleet's errorSet.
func (r *region) allocate(c *call, rec *fleetRecord, pools []*fleetPool, o fleetOptions, extra []tag) {
	lifecycle := "on-demand"
	if o.spot {
		lifecycle = "spot"
	}
	cands := r.fleetCandidates(c, rec, pools, o, lifecycle)
	orderPools(cands, o.strategy)
	if o.singleType || o.singleAZ {
		cands = pickGroup(cands, o)
	}
	plan, remaining := planFleet(cands, o)
	if got := o.targetUnits - remaining; o.minTarget > 0 && got < float64(o.minTarget) {
		clear(plan)
		rec.errors = append(rec.errors, fleetError{nil, lifecycle, "UnfulfillableCapacity", fmt.Sprintf("Unable to fulfill the minimum target capacity of %d.", o.minTarget)})
		remaining = o.targetUnits
	}
	if remaining > 1e-9 {
		for i, p := range cands {
			if plan[i] < p.avail || p.avail > 0 && o.maxTotal > 0 {
				continue
			}
			rec.errors = append(rec.errors, fleetError{p, lifecycle, "InsufficientInstanceCapacity", fmt.Sprintf("There is no %s capacity available that matches your request for %s in %s.", lifecycle, p.spec.InstanceType, p.az)})
		}
	}
	for i, p := range cands {
		if plan[i] == 0 {
			continue
		}
		spec := p.spec
		if o.spot {
			spec.MarketType = "spot"
		}
		lo := launchOpts{
			az: p.az, count: plan[i], reservationID: fmt.Sprintf("r-0%016x", r.sim.nextID()),
			fleetID: rec.id, spotPrice: p.price, extraTags: extra,
		}
		var ins []*instance
		if o.spot {
			// An instant fleet's spot instances each stand behind a
			// one-time spot request, fulfilled, as on EC2: that request is
			// where DescribeSpotInstanceRequests shows an interruption
			// notice (marked-for-termination).
			ins = r.launchWithSpotRequests(spec, lo, c.now)
		} else {
			ins = r.launch(spec, lo, c.now)
		}
		rec.groups = append(rec.groups, fleetGroup{p, lifecycle, ins})
	}
}

// fleetCandidates copies the pools one market may use, with their
// capacity and price now. A pool whose type is not offered or cannot run
// the AMI, or whose spot price is above its max, is refused on its own in
// rec.errors, as EC2 does, so the fleet still fills from the pools that
// match.
func (r *region) fleetCandidates(c *call, rec *fleetRecord, pools []*fleetPool, o fleetOptions, lifecycle string) []*fleetPool {
	var cands []*fleetPool
	for _, p := range pools {
		cp := *p
		aerr := r.checkOffered(p.spec.InstanceType)
		if aerr == nil {
			aerr = r.checkArch(p.spec.InstanceType, p.spec.ImageID)
		}
		if aerr != nil {
			rec.errors = append(rec.errors, fleetError{&cp, lifecycle, aerr.Code, aerr.Message})
			continue
		}
		cp.avail = r.pool(p.az, p.spec.InstanceType).available(o.spot)
		if o.spot {
			price, perr := r.spotPriceCheck(p.spec.InstanceType, p.az, p.spec.MaxPrice, c.now)
			if perr != nil {
				rec.errors = append(rec.errors, fleetError{&cp, lifecycle, perr.Code, perr.Message})
				continue
			}
			cp.price = price
		} else {
			od, _ := r.sim.catalog.price(r.name, p.spec.InstanceType)
			cp.price = od.OnDemand
		}
		cands = append(cands, &cp)
	}
	return cands
}

// planFleet decides how many instances each ordered candidate gets: round
// robin over the pools in use for diversified (and lowest-price over
// several pools), else filling each pool before the next. It returns the
// plan and the target units left unfilled.
func planFleet(cands []*fleetPool, o fleetOptions) (plan []int, remaining float64) {
	plan = make([]int, len(cands))
	remaining, spent := o.targetUnits, 0.0
	room := func(p *fleetPool) int {
		n := p.avail
		if o.maxTotal > 0 {
			n = min(n, int(math.Floor((o.maxTotal-spent)/p.price+1e-9)))
		}
		return n
	}
	if o.strategy == "diversified" || o.strategy == "lowest-price" && o.poolsToUse > 1 {
		limit := len(cands)
		if o.strategy == "lowest-price" {
			limit = min(o.poolsToUse, len(cands))
		}
		for progress := true; remaining > 1e-9 && progress; {
			progress = false
			for i := 0; i < limit && remaining > 1e-9; i++ {
				if room(cands[i])-plan[i] >= 1 {
					plan[i]++
					remaining -= cands[i].weight
					spent += cands[i].price
					progress = true
				}
			}
		}
		return plan, remaining
	}
	for i, p := range cands {
		if remaining <= 1e-9 {
			break
		}
		n := min(room(p), int(math.Ceil(remaining/p.weight-1e-9)))
		if n <= 0 {
			continue
		}
		plan[i] = n
		remaining -= float64(n) * p.weight
		spent += float64(n) * p.price
	}
	return plan, remaining
}

// orderPools sorts candidates the way the allocation strategy prefers them.
// Ties break on zone and type so allocations are reproducible.
func orderPools(ps []*fleetPool, strategy string) {
	unitPrice := func(p *fleetPool) float64 { return p.price / p.weight }
	byPrice := func(a, b *fleetPool) int {
		switch {
		case unitPrice(a) < unitPrice(b):
			return -1
		case unitPrice(a) > unitPrice(b):
			return 1
		case a.az != b.az:
			return cmpStr(a.az, b.az)
		}
		return cmpStr(a.spec.InstanceType, b.spec.InstanceType)
	}
	prio := func(p *fleetPool) float64 {
		if p.hasPriority {
			return p.priority
		}
		return math.Inf(1) // no priority ranks last (CreateFleet docs)
	}
	deepest := 0
	for _, p := range ps {
		deepest = max(deepest, p.avail)
	}
	// price-capacity-optimized: the pools with the most capacity, then the
	// cheapest of those. "Most" is taken as at least half the deepest pool.
	deep := func(p *fleetPool) bool { return p.avail > 0 && 2*p.avail >= deepest }
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		switch strategy {
		case "capacity-optimized":
			if a.avail != b.avail {
				return a.avail > b.avail
			}
		case "capacity-optimized-prioritized", "prioritized":
			if prio(a) != prio(b) {
				return prio(a) < prio(b)
			}
			if strategy == "capacity-optimized-prioritized" && a.avail != b.avail {
				return a.avail > b.avail
			}
		case "price-capacity-optimized":
			if deep(a) != deep(b) {
				return deep(a)
			}
			if !deep(a) && a.avail != b.avail {
				return a.avail > b.avail
			}
		}
		return byPrice(a, b) < 0
	})
}

// pickGroup keeps the pools of the best-ranked instance type and/or zone
// that can hold the whole target on its own, else of the best-ranked one.
func pickGroup(ps []*fleetPool, o fleetOptions) []*fleetPool {
	key := func(p *fleetPool) string {
		k := ""
		if o.singleType {
			k += p.spec.InstanceType
		}
		if o.singleAZ {
			k += "/" + p.az
		}
		return k
	}
	units := map[string]float64{}
	var order []string
	for _, p := range ps {
		k := key(p)
		if _, seen := units[k]; !seen {
			order = append(order, k)
		}
		units[k] += float64(p.avail) * p.weight
	}
	if len(order) == 0 {
		return ps
	}
	chosen := order[0]
	for _, k := range order {
		if units[k] >= o.targetUnits {
			chosen = k
			break
		}
	}
	var out []*fleetPool
	for _, p := range ps {
		if key(p) == chosen {
			out = append(out, p)
		}
	}
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
