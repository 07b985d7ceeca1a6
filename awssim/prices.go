package awssim

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// priceStep is how often a pool's spot price may change. AWS changes prices
// gradually, a few times a day at most; an hour keeps history readable.
const priceStep = time.Hour

// defaultHistory is the window DescribeSpotPriceHistory covers when the
// caller gives no StartTime. AWS would go back 90 days; a day keeps the
// AWS CLI's automatic paging short.
const defaultHistory = 24 * time.Hour

// spotPrice is the price of a pool at t: a deterministic function of the
// seed, the pool and the hour, inside the catalogue's [spotMin, spotMax].
// Part of it is fixed per pool so zones keep a stable order most of the
// time, as real pools do; the rest moves hour by hour.
func (s *Sim) spotPrice(region, az, itype string, t time.Time) float64 {
	p, ok := s.catalog.price(region, itype)
	if !ok {
		return 0
	}
	bucket := t.Unix() / int64(priceStep/time.Second)
	if t.Unix() < 0 {
		bucket--
	}
	return s.priceAt(p, az, itype, bucket)
}

func (s *Sim) priceAt(p regionPrice, az, itype string, bucket int64) float64 {
	pool := stableHash(az + "/" + itype)
	base := unit(mix64(uint64(s.opts.Seed) ^ pool))
	move := unit(mix64(uint64(s.opts.Seed) ^ pool ^ uint64(bucket)*0xd6e8feb86659fd93))
	u := 0.6*base + 0.4*move
	return math.Round((p.SpotMin+(p.SpotMax-p.SpotMin)*u)*1e4) / 1e4
}

type priceEntry struct {
	az, itype string
	at        time.Time
	price     float64
}

func (s *Sim) describeSpotPriceHistory(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	types := q.list("InstanceType")
	products := q.list("ProductDescription")
	zone := q.str("AvailabilityZone")
	end, start := c.now, c.now.Add(-defaultHistory)
	if v := q.str("EndTime"); v != "" {
		t, perr := parseTime("EndTime", v)
		if perr != nil {
			return perr
		}
		end = t
	}
	if v := q.str("StartTime"); v != "" {
		t, perr := parseTime("StartTime", v)
		if perr != nil {
			return perr
		}
		start = t
	}
	if end.After(c.now) {
		end = c.now
	}
	if start.After(end) {
		return &apiError{Code: "InvalidParameterValue", Message: "The start time must be before the end time."}
	}
	if start.Before(c.now.Add(-90 * 24 * time.Hour)) {
		start = c.now.Add(-90 * 24 * time.Hour)
	}
	maxResults, hasMax, err := q.integer("MaxResults")
	if err != nil {
		return err
	}
	if !hasMax || maxResults <= 0 || maxResults > 1000 {
		maxResults = 1000
	}
	offset := 0
	if tok := q.str("NextToken"); tok != "" {
		n, terr := decodeToken(tok)
		if terr != nil {
			return terr
		}
		offset = n
	}
	for _, t := range types {
		if _, ok := s.catalog.types[t]; !ok {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid value '%s' for InstanceType.", t)}
		}
	}
	if zone != "" {
		if _, ok := r.zone(zone); !ok {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid availability zone: [%s]", zone)}
		}
	}
	for _, f := range filters {
		switch f.name {
		case "availability-zone", "instance-type", "product-description", "spot-price", "timestamp":
		default:
			return errUnknownFilter(f.name)
		}
	}
	product := "Linux/UNIX"
	if len(products) > 0 {
		product = ""
		for _, p := range products {
			if p == "Linux/UNIX" || p == "Linux/UNIX (Amazon VPC)" {
				product = p
				break
			}
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	var entries []priceEntry
	if product != "" {
		// One past the page tells whether another follows; the full
		// catalogue's day of history is some 130,000 entries, so the list
		// stops there rather than being built whole for every page.
		entries = s.priceEntries(r, types, zone, start, end, offset+maxResults+1, func(e priceEntry) bool {
			return matchPriceFilters(e, product, filters)
		})
	}
	// Pages are offsets into a list that is a pure function of the request,
	// the seed and the (clamped) window, so they stay consistent.
	if offset > len(entries) {
		offset = len(entries)
	}
	page := entries[offset:]
	next := ""
	if len(page) > maxResults {
		page = page[:maxResults]
		next = encodeToken(offset + maxResults)
	}
	x.open("spotPriceHistorySet")
	for _, e := range page {
		x.open("item")
		x.leaf("instanceType", e.itype)
		x.leaf("productDescription", product)
		x.price("spotPrice", e.price)
		x.time("timestamp", e.at)
		x.leaf("availabilityZone", e.az)
		x.close("item")
	}
	x.close("spotPriceHistorySet")
	x.opt("nextToken", next)
	return nil
}

// priceEntries lists, newest first, each price change in [start, end] plus
// the price in force at start, which AWS also returns so that
// StartTime = EndTime = now yields the current price of every pool; only
// entries keep accepts, at most limit of them.
func (s *Sim) priceEntries(r *region, types []string, zone string, start, end time.Time, limit int, keep func(priceEntry) bool) []priceEntry {
	if len(types) == 0 {
		for _, t := range s.catalog.offered[r.name] {
			types = append(types, t.Name)
		}
	}
	sort.Strings(types)
	step := int64(priceStep / time.Second)
	first, last := floorDiv(start.Unix(), step), floorDiv(end.Unix(), step)
	var out []priceEntry
	for b := last; b >= first; b-- {
		for _, t := range types {
			p, ok := s.catalog.price(r.name, t)
			if !ok {
				continue // not offered here: no history, as on EC2
			}
			for _, z := range r.zones {
				if zone != "" && z.Name != zone {
					continue
				}
				e := priceEntry{az: z.Name, itype: t, at: time.Unix(b*step, 0).UTC(), price: s.priceAt(p, z.Name, t, b)}
				if !keep(e) {
					continue
				}
				if out = append(out, e); len(out) == limit {
					return out
				}
			}
		}
	}
	return out
}

func floorDiv(a, b int64) int64 {
	d := a / b
	if a%b != 0 && a < 0 {
		d--
	}
	return d
}

func matchPriceFilters(e priceEntry, product string, filters []filter) bool {
	for _, f := range filters {
		var v string
		switch f.name {
		case "availability-zone":
			v = e.az
		case "instance-type":
			v = e.itype
		case "product-description":
			v = product
		case "spot-price":
			v = formatPrice(e.price)
		case "timestamp":
			v = isoTime(e.at)
		}
		if !f.matches([]string{v}) {
			return false
		}
	}
	return true
}

// parseTime accepts the ISO-8601 forms the SDK and the CLI send.
func parseTime(name, v string) (time.Time, *apiError) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if strings.TrimSpace(v) == "" {
		return time.Time{}, errMissing(name)
	}
	return time.Time{}, errInvalidParameterValue(name, v)
}
