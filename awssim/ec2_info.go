package awssim

import (
	"fmt"
	"strconv"
	"strings"
)

func (s *Sim) describeInstanceTypes(c *call, x *xmlWriter) *apiError {
	q := c.q
	names := q.list("InstanceType")
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	maxResults, hasMax, err := q.integer("MaxResults")
	if err != nil {
		return err
	}
	if !hasMax || maxResults <= 0 || maxResults > 100 {
		maxResults = 100
	}
	offset := 0
	if tok := q.str("NextToken"); tok != "" {
		if offset, err = decodeToken(tok); err != nil {
			return err
		}
	}
	var specs []*instanceSpec
	if len(names) > 0 {
		for _, n := range names {
			t, ok := s.catalog.offeredIn(c.region.name, n)
			if !ok {
				return &apiError{Code: "InvalidInstanceType", Message: fmt.Sprintf("The following supplied instance types do not exist: [%s]", n)}
			}
			specs = append(specs, t)
		}
	} else {
		specs = s.catalog.offered[c.region.name]
	}
	var kept []*instanceSpec
	for _, t := range specs {
		ok, ferr := matchTypeFilters(t, filters)
		if ferr != nil {
			return ferr
		}
		if ok {
			kept = append(kept, t)
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	offset = min(offset, len(kept))
	page := kept[offset:]
	next := ""
	if len(page) > maxResults {
		page = page[:maxResults]
		next = encodeToken(offset + maxResults)
	}
	x.open("instanceTypeSet")
	for _, t := range page {
		x.open("item")
		x.leaf("instanceType", t.Name)
		x.bool("currentGeneration", true)
		x.open("supportedUsageClasses")
		x.leaf("item", "on-demand")
		x.leaf("item", "spot")
		x.close("supportedUsageClasses")
		x.open("processorInfo")
		x.open("supportedArchitectures")
		for _, a := range t.Arch {
			x.leaf("item", a)
		}
		x.close("supportedArchitectures")
		x.close("processorInfo")
		x.open("vCpuInfo")
		x.int("defaultVCpus", t.VCPU)
		x.close("vCpuInfo")
		x.open("memoryInfo")
		x.int("sizeInMiB", t.MemoryMiB)
		x.close("memoryInfo")
		if t.GPUs > 0 {
			// The data set names the model ("NVIDIA L4") and the total
			// memory; EC2 splits the model into manufacturer and name and
			// gives memory per GPU.
			maker, name, _ := strings.Cut(t.GPUModel, " ")
			x.open("gpuInfo")
			x.open("gpus")
			x.open("item")
			x.opt("name", name)
			x.opt("manufacturer", maker)
			x.int("count", t.GPUs)
			if t.GPUMemoryMiB > 0 {
				x.open("memoryInfo")
				x.int("sizeInMiB", t.GPUMemoryMiB/t.GPUs)
				x.close("memoryInfo")
			}
			x.close("item")
			x.close("gpus")
			if t.GPUMemoryMiB > 0 {
				x.int("totalGpuMemoryInMiB", t.GPUMemoryMiB)
			}
			x.close("gpuInfo")
		}
		x.close("item")
	}
	x.close("instanceTypeSet")
	x.opt("nextToken", next)
	return nil
}

func matchTypeFilters(t *instanceSpec, filters []filter) (bool, *apiError) {
	for _, f := range filters {
		var vals []string
		switch f.name {
		case "instance-type":
			vals = []string{t.Name}
		case "processor-info.supported-architecture":
			vals = t.Arch
		case "vcpu-info.default-vcpus":
			vals = []string{strconv.Itoa(t.VCPU)}
		case "memory-info.size-in-mib":
			vals = []string{strconv.Itoa(t.MemoryMiB)}
		case "current-generation":
			vals = []string{"true"}
		case "supported-usage-class":
			vals = []string{"on-demand", "spot"}
		default:
			return false, errUnknownFilter(f.name)
		}
		if !f.matches(vals) {
			return false, nil
		}
	}
	return true, nil
}

func (s *Sim) describeAvailabilityZones(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	names, ids := q.list("ZoneName"), q.list("ZoneId")
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := r.zone(n); !ok {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The zone '%s' does not exist.", n)}
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	x.open("availabilityZoneInfo")
	for _, z := range r.zones {
		if len(names) > 0 && !contains(names, z.Name) || len(ids) > 0 && !contains(ids, z.ID) {
			continue
		}
		ok := true
		for _, f := range filters {
			var v string
			switch f.name {
			case "zone-name":
				v = z.Name
			case "zone-id":
				v = z.ID
			case "region-name":
				v = r.name
			case "state":
				v = "available"
			case "zone-type":
				v = "availability-zone"
			case "opt-in-status":
				v = "opt-in-not-required"
			case "group-name", "network-border-group":
				v = r.name
			default:
				return errUnknownFilter(f.name)
			}
			ok = ok && f.matches([]string{v})
		}
		if !ok {
			continue
		}
		x.open("item")
		x.leaf("zoneName", z.Name)
		x.leaf("zoneState", "available")
		x.leaf("regionName", r.name)
		x.leaf("zoneId", z.ID)
		x.leaf("zoneType", "availability-zone")
		x.leaf("optInStatus", "opt-in-not-required")
		x.leaf("groupName", r.name)
		x.leaf("networkBorderGroup", r.name)
		x.open("messageSet")
		x.close("messageSet")
		x.close("item")
	}
	x.close("availabilityZoneInfo")
	return nil
}
