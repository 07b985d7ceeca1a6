package awssim

import "fmt"

// optInRegions are the regions an account must enable (those AWS opened
// after March 2019). The emulated account has enabled all of them, so they
// report opted-in.
var optInRegions = map[string]bool{
	"af-south-1": true, "ap-east-1": true, "ap-south-2": true, "ap-southeast-3": true,
	"ap-southeast-4": true, "ap-southeast-5": true, "ap-southeast-7": true, "ca-west-1": true,
	"eu-central-2": true, "eu-south-1": true, "eu-south-2": true, "il-central-1": true,
	"me-central-1": true, "me-south-1": true, "mx-central-1": true,
}

// describeRegions lists the emulated regions (RegionName.N, filters
// endpoint, region-name, opt-in-status; AllRegions changes nothing, for
// every region is enabled).
func (s *Sim) describeRegions(c *call, x *xmlWriter) *apiError {
	names := c.q.list("RegionName")
	filters, err := parseFilters(c.q)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := s.regions[n]; !ok {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid region: %s", n)}
		}
	}
	if c.q.boolean("DryRun") {
		return errDryRun()
	}
	x.open("regionInfo")
	for _, r := range s.catalog.Regions {
		if len(names) > 0 && !contains(names, r.Name) {
			continue
		}
		optIn := "opt-in-not-required"
		if optInRegions[r.Name] {
			optIn = "opted-in"
		}
		endpoint := "ec2." + r.Name + ".amazonaws.com"
		ok := true
		for _, f := range filters {
			var v string
			switch f.name {
			case "endpoint":
				v = endpoint
			case "region-name":
				v = r.Name
			case "opt-in-status":
				v = optIn
			default:
				return errUnknownFilter(f.name)
			}
			ok = ok && f.matches([]string{v})
		}
		if !ok {
			continue
		}
		x.open("item")
		x.leaf("regionName", r.Name)
		x.leaf("regionEndpoint", endpoint)
		x.leaf("optInStatus", optIn)
		x.close("item")
	}
	x.close("regionInfo")
	return nil
}
