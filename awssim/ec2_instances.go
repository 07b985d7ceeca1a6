package awssim

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// runRecord remembers a RunInstances ClientToken: the request it came with
// and the reservation it made.
type runRecord struct {
	fingerprint string
	instances   []*instance
}

func (s *Sim) runInstances(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	spec, err := readSpec(q)
	if err != nil {
		return err
	}
	minCount, okMin, err := q.integer("MinCount")
	if err != nil {
		return err
	}
	maxCount, okMax, err := q.integer("MaxCount")
	if err != nil {
		return err
	}
	if !okMin {
		return errMissing("MinCount")
	}
	if !okMax {
		return errMissing("MaxCount")
	}
	if minCount < 1 || maxCount < minCount {
		return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid MinCount/MaxCount: %d/%d", minCount, maxCount)}
	}
	if maxCount > 1000 {
		return &apiError{Code: "InstanceLimitExceeded", Message: "Your quota allows for 1000 more running instance(s). You requested at least " + strconv.Itoa(minCount)}
	}
	token := q.str("ClientToken")
	if len(token) > 64 {
		return errInvalidParameterValue("ClientToken", token)
	}
	lt := q.sub("LaunchTemplate")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	if len(lt) > 0 {
		tmpl, _, terr := r.findTemplate(lt.str("LaunchTemplateId"), lt.str("LaunchTemplateName"), lt.str("Version"), false)
		if terr != nil {
			return terr
		}
		spec = tmpl.data.merge(spec)
	}
	if spec.ImageID == "" {
		return errMissing("ImageId")
	}
	if spec.InstanceType == "" {
		spec.InstanceType = "t3.micro" // AWS defaults to m1.small, which the catalogue lacks
	}
	if err := r.resolve(&spec); err != nil {
		return err
	}
	if err := r.checkOffered(spec.InstanceType); err != nil {
		return err
	}
	if err := r.checkArch(spec.InstanceType, spec.ImageID); err != nil {
		return err
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	// Tokens are zonal when a zone is given and regional otherwise, so the
	// same token in another zone launches again (EC2 idempotency guide).
	tokenKey := spec.AvailabilityZone + "|" + token
	fp := q.fingerprint("Action", "Version", "ClientToken", "DryRun")
	if token != "" {
		if rec, ok := r.runTokens[tokenKey]; ok {
			if rec.fingerprint != fp {
				return &apiError{Code: "IdempotentParameterMismatch", Message: "The client token you have provided is associated with a resource that is already deleted or has different parameters. Please use a different client token."}
			}
			if allTerminated(rec.instances, c.now, s.opts.PendingDelay) {
				return &apiError{Code: "IdempotentInstanceTerminated", Message: "The client token you have provided is associated with a resource that is already terminated."}
			}
			r.writeReservation(x, c, rec.instances)
			return nil
		}
	}
	spot := spec.MarketType == "spot"
	az := spec.AvailabilityZone
	if az == "" {
		az = r.pickZone(spec, minCount, c.now)
	}
	var price float64
	if spot {
		p, perr := r.spotPriceCheck(spec.InstanceType, az, spec.MaxPrice, c.now)
		if perr != nil {
			return perr
		}
		price = p
	}
	avail := r.pool(az, spec.InstanceType).available(spot)
	if avail < minCount {
		return errInsufficientCapacity(spec.InstanceType, az, r.zonesWith(spec.InstanceType, spot, minCount, az))
	}
	n := min(maxCount, avail)
	o := launchOpts{az: az, count: n, reservationID: fmt.Sprintf("r-0%016x", s.nextID()), clientToken: token, spotPrice: price}
	var launched []*instance
	if spot {
		launched = r.launchWithSpotRequests(spec, o, c.now)
	} else {
		launched = r.launch(spec, o, c.now)
	}
	if token != "" {
		r.runTokens[tokenKey] = &runRecord{fingerprint: fp, instances: launched}
	}
	r.writeReservation(x, c, launched)
	return nil
}

// pickZone chooses a zone when the caller named none: for spot the
// cheapest zone that can hold the minimum, otherwise the deepest.
func (r *region) pickZone(spec launchSpec, need int, now time.Time) string {
	spot := spec.MarketType == "spot"
	best, bestPrice, bestAvail := "", 0.0, -1
	for _, z := range r.zones {
		avail := r.pool(z.Name, spec.InstanceType).available(spot)
		price := r.sim.spotPrice(r.name, z.Name, spec.InstanceType, now)
		switch {
		case best == "":
		case (avail >= need) != (bestAvail >= need):
			if avail < need {
				continue
			}
		case spot && price >= bestPrice:
			continue
		case !spot && avail <= bestAvail:
			continue
		}
		best, bestPrice, bestAvail = z.Name, price, avail
	}
	return best
}

// zonesWith lists the other zones that could take need instances, for the
// hint AWS puts in its capacity error.
func (r *region) zonesWith(itype string, spot bool, need int, except string) []string {
	var out []string
	for _, z := range r.zones {
		if z.Name != except && r.pool(z.Name, itype).available(spot) >= need {
			out = append(out, z.Name)
		}
	}
	return out
}

func allTerminated(ins []*instance, now time.Time, delay time.Duration) bool {
	for _, in := range ins {
		if in.state(now, delay) != stateTerminated {
			return false
		}
	}
	return len(ins) > 0
}

func (r *region) writeReservation(x *xmlWriter, c *call, ins []*instance) {
	x.leaf("reservationId", ins[0].reservationID)
	x.leaf("ownerId", c.caller.account)
	x.open("groupSet")
	x.close("groupSet")
	x.open("instancesSet")
	for _, in := range ins {
		r.writeInstance(x, in, c.now)
	}
	x.close("instancesSet")
}

// lookupInstances finds every id or fails the whole call, as EC2 does.
func (r *region) lookupInstances(ids []string) ([]*instance, *apiError) {
	var missing []string
	out := make([]*instance, 0, len(ids))
	for _, id := range ids {
		if !validID(id, "i") {
			return nil, &apiError{Code: "InvalidInstanceID.Malformed", Message: fmt.Sprintf("Invalid id: %q", id)}
		}
		in, ok := r.instances[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, in)
	}
	switch len(missing) {
	case 0:
		return out, nil
	case 1:
		return nil, &apiError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance ID '%s' does not exist", missing[0])}
	}
	return nil, &apiError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", "))}
}

func (s *Sim) terminateInstances(c *call, x *xmlWriter) *apiError {
	ids := c.q.list("InstanceId")
	if len(ids) == 0 {
		return errMissing("InstanceId")
	}
	r := c.region
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	r.purge(c.now)
	ins, err := r.lookupInstances(ids)
	if err != nil {
		return err
	}
	if c.q.boolean("DryRun") {
		return errDryRun()
	}
	x.open("instancesSet")
	for _, in := range ins {
		prev := in.state(c.now, s.opts.PendingDelay)
		r.terminateInstance(in, c.now, stateReason{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}, "instance-terminated-by-user")
		cur := in.state(c.now, s.opts.PendingDelay)
		writeStateChange(x, in.id, prev, cur)
	}
	x.close("instancesSet")
	return nil
}

func (s *Sim) describeInstances(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	ids := q.list("InstanceId")
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	maxResults, hasMax, err := q.integer("MaxResults")
	if err != nil {
		return err
	}
	if hasMax && len(ids) > 0 {
		return &apiError{Code: "InvalidParameterCombination", Message: "The parameter instancesSet cannot be used with the parameter maxResults"}
	}
	if hasMax && (maxResults < 5 || maxResults > 1000) {
		return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", maxResults)}
	}
	after := 0
	if tok := q.str("NextToken"); tok != "" {
		n, derr := decodeToken(tok)
		if derr != nil {
			return derr
		}
		after = n
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	r.purge(c.now)
	var candidates []*instance
	if len(ids) > 0 {
		if candidates, err = r.lookupInstances(ids); err != nil {
			return err
		}
	} else {
		var indexed bool
		if candidates, indexed = r.indexedCandidates(filters); !indexed {
			candidates = r.order
		}
		// Both are in seq order, so a later page starts without a walk.
		candidates = candidates[seqIndex(candidates, after+1):]
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	var page []*instance
	next := ""
	for _, in := range candidates {
		if in.seq <= after || in.purged { // ids come in the caller's order; order keeps purged instances
			continue
		}
		ok, ferr := r.matchInstance(in, filters, c.now)
		if ferr != nil {
			return ferr
		}
		if !ok {
			continue
		}
		if hasMax && len(page) == maxResults {
			next = encodeToken(page[len(page)-1].seq)
			break
		}
		page = append(page, in)
	}
	x.open("reservationSet")
	for i := 0; i < len(page); {
		j := i + 1
		for j < len(page) && page[j].reservationID == page[i].reservationID {
			j++
		}
		x.open("item")
		r.writeReservation(x, c, page[i:j])
		x.close("item")
		i = j
	}
	x.close("reservationSet")
	x.opt("nextToken", next)
	return nil
}

func (r *region) matchInstance(in *instance, filters []filter, now time.Time) (bool, *apiError) {
	for _, f := range filters {
		vals, known := r.filterValues(in, f.name, now)
		if !known {
			return false, errUnknownFilter(f.name)
		}
		if !f.matches(vals) {
			return false, nil
		}
	}
	return true, nil
}

// encodeToken makes an opaque pagination token from a position; positions
// are launch sequence numbers, so pages stay stable while instances come
// and go.
func encodeToken(pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("awssim:" + strconv.Itoa(pos)))
}

func decodeToken(tok string) (int, *apiError) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), "awssim:"); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, &apiError{Code: "InvalidNextToken", Message: "The specified NextToken is not valid."}
}
