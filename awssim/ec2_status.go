package awssim

import (
	"fmt"
	"strconv"
)

// describeInstanceStatus reports each instance's state and its status
// checks. As on EC2, only running instances are listed unless
// IncludeAllInstances is set; the checks of a running instance pass
// (emulated hardware does not fail) and are not-applicable otherwise.
func (s *Sim) describeInstanceStatus(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	ids := q.list("InstanceId")
	all := q.boolean("IncludeAllInstances")
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	for _, f := range filters {
		if _, known := statusFilterValues(f.name, "", "", stateRunning); !known {
			return errUnknownFilter(f.name)
		}
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
		if after, err = decodeToken(tok); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	r.purge(c.now)
	candidates := r.order
	if len(ids) > 0 {
		if candidates, err = r.lookupInstances(ids); err != nil {
			return err
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	var page []*instance
	next := ""
	for _, in := range candidates {
		if in.seq <= after || in.purged {
			continue
		}
		st := in.state(c.now, s.opts.PendingDelay)
		if !all && st != stateRunning {
			continue
		}
		check := statusCheck(st)
		ok := true
		for _, f := range filters {
			vals, _ := statusFilterValues(f.name, in.az, check, st)
			ok = ok && f.matches(vals)
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
	x.open("instanceStatusSet")
	for _, in := range page {
		st := in.state(c.now, s.opts.PendingDelay)
		check := statusCheck(st)
		x.open("item")
		x.leaf("instanceId", in.id)
		x.leaf("availabilityZone", in.az)
		x.open("instanceState")
		x.int("code", stateCodes[st])
		x.leaf("name", st)
		x.close("instanceState")
		for _, name := range []string{"systemStatus", "instanceStatus"} {
			x.open(name)
			x.leaf("status", check)
			x.open("details")
			x.open("item")
			x.leaf("name", "reachability")
			x.leaf("status", reachability(check))
			x.close("item")
			x.close("details")
			x.close(name)
		}
		x.open("eventsSet")
		x.close("eventsSet")
		x.close("item")
	}
	x.close("instanceStatusSet")
	x.opt("nextToken", next)
	return nil
}

// statusCheck is the status of both checks for an instance in state st.
func statusCheck(st string) string {
	if st == stateRunning {
		return "ok"
	}
	return "not-applicable"
}

func reachability(check string) string {
	if check == "ok" {
		return "passed"
	}
	return "not-applicable"
}

// statusFilterValues gives an instance's values for a DescribeInstanceStatus
// filter (ec2 api_op_DescribeInstanceStatus.go), or known=false.
func statusFilterValues(name, az, check, st string) (vals []string, known bool) {
	switch name {
	case "availability-zone":
		return []string{az}, true
	case "instance-state-name":
		return []string{st}, true
	case "instance-state-code":
		return []string{strconv.Itoa(stateCodes[st])}, true
	case "instance-status.status", "system-status.status":
		return []string{check}, true
	case "instance-status.reachability", "system-status.reachability":
		return []string{reachability(check)}, true
	}
	return nil, false
}
