package awssim

import (
	"fmt"
	"strings"
	"time"
)

// spotRequest is a legacy Spot Instance request (RequestSpotInstances), also
// created behind each RunInstances spot launch as AWS does.
type spotRequest struct {
	ID                   string     `json:"spotInstanceRequestId"`
	Type                 string     `json:"type"`
	State                string     `json:"state"`
	StatusCode           string     `json:"statusCode"`
	StatusMessage        string     `json:"statusMessage"`
	StatusTime           time.Time  `json:"statusUpdateTime"`
	SpotPrice            float64    `json:"spotPrice"` // the max price asked
	InstanceID           string     `json:"instanceId,omitempty"`
	AZ                   string     `json:"launchedAvailabilityZone,omitempty"`
	CreateTime           time.Time  `json:"createTime"`
	ValidUntil           time.Time  `json:"validUntil"`
	InterruptionBehavior string     `json:"instanceInterruptionBehavior"`
	Spec                 launchSpec `json:"launchSpecification"`
	tags                 []tag
}

// spotStatusMessages are the messages the EC2 User Guide gives for each
// status code ("Spot request status").
var spotStatusMessages = map[string]string{
	"pending-evaluation":                    "Your Spot request has been submitted for review, and is pending evaluation.",
	"fulfilled":                             "Your spot request is fulfilled.",
	"marked-for-termination":                "Your Spot Instance is marked for termination.",
	"marked-for-stop":                       "Your Spot Instance is marked for stop.",
	"capacity-not-available":                "There is no capacity available for the instance type you requested.",
	"price-too-low":                         "Your Spot request price is lower than the minimum required Spot request fulfillment price.",
	"canceled-before-fulfillment":           "Your Spot request was canceled before it was fulfilled.",
	"request-canceled-and-instance-running": "Your Spot request is canceled, but the instance remains running.",
	"instance-terminated-by-user":           "Your Spot Instance was terminated by the user.",
	"instance-terminated-no-capacity":       "Your Spot Instance was terminated because there is no capacity available.",
	"instance-stopped-no-capacity":          "Your Spot Instance was stopped because there is no capacity available.",
	"instance-stopped-by-user":              "Your Spot Instance was stopped because you stopped it.",
	"schedule-expired":                      "Your Spot request expired before it was fulfilled.",
}

func (sr *spotRequest) setStatus(at time.Time, code string) {
	sr.StatusCode, sr.StatusMessage, sr.StatusTime = code, spotStatusMessages[code], at
}

// instanceEnded moves the request on when its instance goes: a one-time
// request closes, a persistent one opens again for a new instance.
func (sr *spotRequest) instanceEnded(at time.Time, code string) {
	if sr.State == "cancelled" {
		sr.setStatus(at, code)
		return
	}
	if sr.Type == "persistent" {
		sr.State = "open"
		sr.InstanceID = ""
	} else {
		sr.State = "closed"
	}
	sr.setStatus(at, code)
}

type spotTokenRecord struct {
	fingerprint string
	requests    []*spotRequest
}

func (r *region) newSpotRequest(spec launchSpec, typ string, maxPrice float64, now time.Time) *spotRequest {
	sr := &spotRequest{
		ID:                   fmt.Sprintf("sir-%08x", uint32(r.sim.nextID())),
		Type:                 typ,
		State:                "open",
		SpotPrice:            maxPrice,
		CreateTime:           now,
		InterruptionBehavior: spec.InterruptionBehavior,
		Spec:                 spec,
		tags:                 spec.Tags["spot-instances-request"],
	}
	if sr.InterruptionBehavior == "" {
		sr.InterruptionBehavior = "terminate"
	}
	if sr.SpotPrice == 0 {
		od, _ := r.sim.catalog.price(r.name, spec.InstanceType)
		sr.SpotPrice = od.OnDemand
	}
	sr.setStatus(now, "pending-evaluation")
	r.spotRequests[sr.ID] = sr
	r.spotOrder = append(r.spotOrder, sr)
	return sr
}

// launchWithSpotRequests launches RunInstances spot instances, each behind
// its own fulfilled request, as AWS reports them.
func (r *region) launchWithSpotRequests(spec launchSpec, o launchOpts, now time.Time) []*instance {
	typ := spec.SpotType
	if typ == "" {
		typ = "one-time"
	}
	out := make([]*instance, 0, o.count)
	for range o.count {
		sr := r.newSpotRequest(spec, typ, spec.MaxPrice, now)
		one := o
		one.count = 1
		one.spotRequestID = sr.ID
		in := r.launch(spec, one, now)[0]
		sr.State, sr.InstanceID, sr.AZ = "active", in.id, in.az
		sr.setStatus(now, "fulfilled")
		out = append(out, in)
	}
	return out
}

// fulfil tries an open request against the current price and capacity.
// The caller holds r.mu.
func (r *region) fulfil(sr *spotRequest, now time.Time) {
	if sr.State != "open" {
		return
	}
	if !sr.ValidUntil.IsZero() && now.After(sr.ValidUntil) {
		sr.State = "cancelled"
		sr.setStatus(now, "schedule-expired")
		return
	}
	spec := sr.Spec
	az := spec.AvailabilityZone
	if az == "" {
		az = r.pickZone(spec, 1, now)
	}
	price, perr := r.spotPriceCheck(spec.InstanceType, az, sr.SpotPrice, now)
	if perr != nil {
		sr.setStatus(now, "price-too-low")
		return
	}
	if r.pool(az, spec.InstanceType).available(true) < 1 {
		sr.setStatus(now, "capacity-not-available")
		return
	}
	in := r.launch(spec, launchOpts{az: az, count: 1, reservationID: fmt.Sprintf("r-0%016x", r.sim.nextID()), spotRequestID: sr.ID, spotPrice: price}, now)[0]
	sr.State, sr.InstanceID, sr.AZ = "active", in.id, az
	sr.setStatus(now, "fulfilled")
}

func (s *Sim) requestSpotInstances(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	spec, err := readSpec(q.sub("LaunchSpecification"))
	if err != nil {
		return err
	}
	tags, err := tagSpecs(q, "TagSpecification")
	if err != nil {
		return err
	}
	spec.Tags = tags
	spec.MarketType = "spot"
	count, ok, err := q.integer("InstanceCount")
	if err != nil {
		return err
	}
	if !ok {
		count = 1
	}
	if count < 1 || count > 1000 {
		return errInvalidParameterValue("InstanceCount", q.str("InstanceCount"))
	}
	typ := q.str("Type")
	if typ == "" {
		typ = "one-time"
	}
	if typ != "one-time" && typ != "persistent" {
		return errInvalidParameterValue("Type", typ)
	}
	spec.SpotType = typ
	if spec.InterruptionBehavior = q.str("InstanceInterruptionBehavior"); spec.InterruptionBehavior != "" && !contains([]string{"hibernate", "stop", "terminate"}, spec.InterruptionBehavior) {
		return errInvalidParameterValue("InstanceInterruptionBehavior", spec.InterruptionBehavior)
	}
	maxPrice, _, err := q.float("SpotPrice")
	if err != nil {
		return err
	}
	var validUntil time.Time
	if v := q.str("ValidUntil"); v != "" {
		if validUntil, err = parseTime("ValidUntil", v); err != nil {
			return err
		}
	}
	if spec.ImageID == "" {
		return errMissing("LaunchSpecification.ImageId")
	}
	if spec.InstanceType == "" {
		return errMissing("LaunchSpecification.InstanceType")
	}
	if err := r.resolve(&spec); err != nil {
		return err
	}
	token := q.str("ClientToken")
	fp := q.fingerprint("Action", "Version", "ClientToken", "DryRun")
	// Images live under r.mu, so the lock comes before the checks.
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkOffered(spec.InstanceType); err != nil {
		return err
	}
	if err := r.checkArch(spec.InstanceType, spec.ImageID); err != nil {
		return err
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	r.settle(c.now)
	if token != "" {
		if rec, ok := r.spotTokens[token]; ok {
			if rec.fingerprint != fp {
				return &apiError{Code: "IdempotentParameterMismatch", Message: "The client token you have provided is associated with a resource that has different parameters."}
			}
			writeSpotRequests(x, rec.requests)
			return nil
		}
	}
	reqs := make([]*spotRequest, 0, count)
	for range count {
		sr := r.newSpotRequest(spec, typ, maxPrice, c.now)
		sr.ValidUntil = validUntil
		r.fulfil(sr, c.now)
		reqs = append(reqs, sr)
	}
	if token != "" {
		r.spotTokens[token] = &spotTokenRecord{fingerprint: fp, requests: reqs}
	}
	writeSpotRequests(x, reqs)
	return nil
}

func (s *Sim) describeSpotInstanceRequests(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	ids := q.list("SpotInstanceRequestId")
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	// Open requests are retried lazily, whenever someone looks.
	for _, sr := range r.spotOrder {
		r.fulfil(sr, c.now)
	}
	var out []*spotRequest
	if len(ids) > 0 {
		for _, id := range ids {
			sr, ok := r.spotRequests[id]
			if !ok {
				if !strings.HasPrefix(id, "sir-") {
					return &apiError{Code: "InvalidSpotInstanceRequestID.Malformed", Message: fmt.Sprintf("Invalid id: %q", id)}
				}
				return &apiError{Code: "InvalidSpotInstanceRequestID.NotFound", Message: fmt.Sprintf("The spot instance request ID '%s' does not exist", id)}
			}
			out = append(out, sr)
		}
	} else {
		out = r.spotOrder
	}
	var kept []*spotRequest
	for _, sr := range out {
		ok, ferr := matchSpotRequest(sr, filters)
		if ferr != nil {
			return ferr
		}
		if ok {
			kept = append(kept, sr)
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	writeSpotRequests(x, kept)
	return nil
}

func matchSpotRequest(sr *spotRequest, filters []filter) (bool, *apiError) {
	for _, f := range filters {
		var vals []string
		switch {
		case f.name == "state":
			vals = []string{sr.State}
		case f.name == "status-code":
			vals = []string{sr.StatusCode}
		case f.name == "instance-id":
			vals = []string{sr.InstanceID}
		case f.name == "spot-instance-request-id":
			vals = []string{sr.ID}
		case f.name == "type":
			vals = []string{sr.Type}
		case f.name == "launch.instance-type":
			vals = []string{sr.Spec.InstanceType}
		case f.name == "launched-availability-zone":
			vals = []string{sr.AZ}
		case f.name == "tag-key":
			for _, t := range sr.tags {
				vals = append(vals, t.Key)
			}
		case hasTagPrefix(f.name):
			for _, t := range sr.tags {
				if t.Key == f.name[4:] {
					vals = append(vals, t.Value)
				}
			}
		default:
			return false, errUnknownFilter(f.name)
		}
		if !f.matches(vals) {
			return false, nil
		}
	}
	return true, nil
}

func (s *Sim) cancelSpotInstanceRequests(c *call, x *xmlWriter) *apiError {
	ids := c.q.list("SpotInstanceRequestId")
	if len(ids) == 0 {
		return errMissing("SpotInstanceRequestId")
	}
	r := c.region
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	var reqs []*spotRequest
	for _, id := range ids {
		sr, ok := r.spotRequests[id]
		if !ok {
			return &apiError{Code: "InvalidSpotInstanceRequestID.NotFound", Message: fmt.Sprintf("The spot instance request ID '%s' does not exist", id)}
		}
		reqs = append(reqs, sr)
	}
	if c.q.boolean("DryRun") {
		return errDryRun()
	}
	x.open("spotInstanceRequestSet")
	for _, sr := range reqs {
		// Cancelling leaves a running instance alone (CancelSpotInstanceRequests docs).
		switch {
		case sr.State == "active" && sr.InstanceID != "":
			sr.setStatus(c.now, "request-canceled-and-instance-running")
			sr.State = "cancelled"
		case sr.State == "open":
			sr.setStatus(c.now, "canceled-before-fulfillment")
			sr.State = "cancelled"
		}
		x.open("item")
		x.leaf("spotInstanceRequestId", sr.ID)
		x.leaf("state", sr.State)
		x.close("item")
	}
	x.close("spotInstanceRequestSet")
	return nil
}

func writeSpotRequests(x *xmlWriter, reqs []*spotRequest) {
	x.open("spotInstanceRequestSet")
	for _, sr := range reqs {
		x.open("item")
		x.leaf("spotInstanceRequestId", sr.ID)
		x.price("spotPrice", sr.SpotPrice)
		x.leaf("type", sr.Type)
		x.leaf("state", sr.State)
		x.open("status")
		x.leaf("code", sr.StatusCode)
		x.time("updateTime", sr.StatusTime)
		x.leaf("message", sr.StatusMessage)
		x.close("status")
		x.open("launchSpecification")
		x.leaf("imageId", sr.Spec.ImageID)
		x.opt("keyName", sr.Spec.KeyName)
		x.open("groupSet")
		for _, g := range sr.Spec.groups() {
			x.open("item")
			x.leaf("groupId", g)
			x.leaf("groupName", g)
			x.close("item")
		}
		x.close("groupSet")
		x.leaf("instanceType", sr.Spec.InstanceType)
		if sr.Spec.AvailabilityZone != "" {
			x.open("placement")
			x.leaf("availabilityZone", sr.Spec.AvailabilityZone)
			x.close("placement")
		}
		x.opt("subnetId", sr.Spec.SubnetID)
		x.close("launchSpecification")
		x.opt("instanceId", sr.InstanceID)
		x.time("createTime", sr.CreateTime)
		x.leaf("productDescription", "Linux/UNIX")
		if len(sr.tags) > 0 {
			x.tags("tagSet", sr.tags)
		}
		x.opt("launchedAvailabilityZone", sr.AZ)
		x.time("validUntil", sr.ValidUntil)
		x.leaf("instanceInterruptionBehavior", sr.InterruptionBehavior)
		x.close("item")
	}
	x.close("spotInstanceRequestSet")
}
