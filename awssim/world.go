package awssim

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// Instance states, with the codes EC2 reports (types.InstanceState).
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
)

var stateCodes = map[string]int{
	statePending: 0, stateRunning: 16, stateShuttingDown: 32,
	stateTerminated: 48, stateStopping: 64, stateStopped: 80,
}

// onDemandCapacity is large enough that on-demand launches only fail when a
// test sets a pool's on-demand capacity explicitly.
const onDemandCapacity = 1000

type poolKey struct{ az, itype string }

// pool is the capacity of one (availability zone, instance type) pair. Spot
// and on-demand capacity are counted apart so an on-demand fallback can
// succeed where spot has run dry, as it does on AWS.
type pool struct {
	spotCap, spotUsed int
	odCap, odUsed     int
}

func (p *pool) available(spot bool) int {
	if p == nil {
		return 0
	}
	if spot {
		return max(p.spotCap-p.spotUsed, 0)
	}
	return max(p.odCap-p.odUsed, 0)
}

func (p *pool) take(spot bool, n int) {
	if spot {
		p.spotUsed += n
	} else {
		p.odUsed += n
	}
}

func (p *pool) release(spot bool) {
	if spot {
		p.spotUsed = max(p.spotUsed-1, 0)
	} else {
		p.odUsed = max(p.odUsed-1, 0)
	}
}

// region holds one region's resources under its own lock; the subnets and
// zones are fixed at start and read without it.
type region struct {
	sim        *Sim
	name       string
	zones      []catalogZone
	vpcID      string
	zoneSubnet map[string]string // zone name → default subnet id
	subnetZone map[string]string // subnet id → zone name

	mu        sync.Mutex
	pools     map[poolKey]*pool
	instances map[string]*instance
	byTag     tagIndex
	// order is every instance in launch (seq) order, for scans and stable
	// pagination. Purged instances stay in it, marked, until they are half
	// of it, so purging never has to rewrite it per call; readers skip them.
	order        []*instance
	orderPurged  int
	dying        purgeQueue // terminated, not yet purged
	lastSeq      int
	runTokens    map[string]*runRecord
	fleetTokens  map[string]*fleetRecord
	fleets       map[string]*fleetRecord
	templates    map[string]*launchTemplate // by id
	templateIDs  map[string]string          // name → id
	spotRequests map[string]*spotRequest
	spotOrder    []*spotRequest
	spotTokens   map[string]*spotTokenRecord
	images       map[string]image // by id; an id not here is x86_64
	due          dueQueue         // what the clock will make due, by time
	dueSeq       uint64

	// Configuration, which Reset keeps: the boot delay of new instances,
	// the spot interruption rate per instance-hour, and how long before
	// its notice an instance gets its rebalance recommendation.
	boot, lead Delay
	rate       float64
}

func newRegion(s *Sim, cr catalogRegion) *region {
	r := &region{
		sim:        s,
		name:       cr.Name,
		zones:      cr.Zones,
		vpcID:      fmt.Sprintf("vpc-%017x", stableHash(cr.Name)>>4),
		zoneSubnet: map[string]string{},
		subnetZone: map[string]string{},
	}
	// Subnet ids depend on the zone only, not the seed, so a config file
	// naming them keeps working across runs.
	for _, z := range cr.Zones {
		id := fmt.Sprintf("subnet-%017x", stableHash("subnet/"+z.Name)>>4)
		r.zoneSubnet[z.Name] = id
		r.subnetZone[id] = z.Name
	}
	r.reset()
	return r
}

func (r *region) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Pools are made on first use (pool): the catalogue has some 50,000
	// (zone, type) pairs and most are never touched.
	r.pools = map[poolKey]*pool{}
	r.instances = map[string]*instance{}
	r.byTag = tagIndex{}
	r.order, r.orderPurged = nil, 0
	r.dying = nil
	r.runTokens = map[string]*runRecord{}
	r.fleetTokens = map[string]*fleetRecord{}
	r.fleets = map[string]*fleetRecord{}
	r.templates = map[string]*launchTemplate{}
	r.templateIDs = map[string]string{}
	r.spotRequests = map[string]*spotRequest{}
	r.spotOrder = nil
	r.spotTokens = map[string]*spotTokenRecord{}
	r.due, r.dueSeq = nil, 0
	r.images = map[string]image{}
}

// defaultSpotCapacity gives every pool a seeded depth, so allocation
// strategies that look at capacity have something to choose between; GPU
// pools are shallow, as they are on AWS.
func defaultSpotCapacity(seed int64, zone string, t *instanceSpec) int {
	h := mix64(uint64(seed) ^ stableHash("capacity/"+zone+"/"+t.Name))
	if t.GPUs > 0 {
		return 4 + int(h%9)
	}
	return 20 + int(h%81)
}

func (r *region) zone(name string) (catalogZone, bool) {
	for _, z := range r.zones {
		if z.Name == name {
			return z, true
		}
	}
	return catalogZone{}, false
}

// pool returns a (zone, type) pool, making it with its seeded default
// capacity on first use; nil if the zone is not the region's or the type is
// not offered there. It must be called with r.mu held.
func (r *region) pool(az, itype string) *pool {
	k := poolKey{az, itype}
	if p, ok := r.pools[k]; ok {
		return p
	}
	t, ok := r.sim.catalog.offeredIn(r.name, itype)
	if !ok {
		return nil
	}
	if _, ok := r.zone(az); !ok {
		return nil
	}
	p := &pool{spotCap: defaultSpotCapacity(r.sim.opts.Seed, az, t), odCap: onDemandCapacity}
	r.pools[k] = p
	return p
}

// offered reports whether the region offers an instance type.
func (r *region) offered(itype string) bool {
	_, ok := r.sim.catalog.offeredIn(r.name, itype)
	return ok
}

// terminateInstance frees the instance's capacity at once: the pool can be
// reused while the instance still shows as shutting-down.
func (r *region) terminateInstance(in *instance, at time.Time, reason stateReason, spotStatus string) {
	if !in.terminatedAt.IsZero() {
		return
	}
	in.terminatedAt = at
	in.reason = reason
	heap.Push(&r.dying, in)
	r.logState(in, at, stateShuttingDown)
	r.push(dueGone, at.Add(r.sim.opts.PendingDelay), in)
	if in.stoppedAt.IsZero() {
		if p := r.pool(in.az, in.itype); p != nil {
			p.release(in.spot())
		}
	}
	if sr := r.spotRequests[in.spotRequestID]; sr != nil {
		sr.instanceEnded(at, spotStatus)
	}
}

func (r *region) stopInstance(in *instance, at time.Time, reason stateReason) {
	if !in.stoppedAt.IsZero() || !in.terminatedAt.IsZero() {
		return
	}
	in.stoppedAt = at
	in.reason = reason
	r.pauseRisk(in, at)
	r.logState(in, at, stateStopping)
	r.push(dueGone, at.Add(r.sim.opts.PendingDelay), in)
	if p := r.pool(in.az, in.itype); p != nil {
		p.release(in.spot())
	}
	if sr := r.spotRequests[in.spotRequestID]; sr != nil {
		sr.setStatus(at, "instance-stopped-no-capacity")
	}
}

// purge forgets instances terminated longer ago than the retention period.
// It runs on every DescribeInstances, so it only looks at the instances that
// are due; the retention is the same for all, so the earliest termination is
// the earliest due.
func (r *region) purge(now time.Time) {
	keep := r.sim.opts.PendingDelay + r.sim.opts.TerminatedRetention
	for len(r.dying) > 0 && !now.Before(r.dying[0].terminatedAt.Add(keep)) {
		in := heap.Pop(&r.dying).(*instance)
		delete(r.instances, in.id)
		r.byTag.remove(in)
		in.purged = true
		r.orderPurged++
	}
	if r.orderPurged == 0 || r.orderPurged*2 < len(r.order) {
		return
	}
	live := r.order[:0]
	for _, in := range r.order {
		if !in.purged {
			live = append(live, in)
		}
	}
	clear(r.order[len(live):])
	r.order, r.orderPurged = live, 0
}

// purgeQueue is a min-heap of terminated instances by termination time.
// Terminations do not arrive in time order: an interruption is carried out
// at its notice time, which may be before a termination already recorded.
type purgeQueue []*instance

func (q purgeQueue) Len() int           { return len(q) }
func (q purgeQueue) Less(i, j int) bool { return q[i].terminatedAt.Before(q[j].terminatedAt) }
func (q purgeQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *purgeQueue) Push(x any)        { *q = append(*q, x.(*instance)) }
func (q *purgeQueue) Pop() any {
	old := *q
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return in
}

// stableHash is FNV-1a; it keys seeded functions by name.
func stableHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }
