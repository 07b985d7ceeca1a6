package awssim

// OnDemandPrice returns the on-demand Linux price per hour of an instance
// type in a region, from the same public catalogue the emulator prices
// from. EC2 has no API for it, so spotter's sandbox (and anyone wanting the
// published figure) reads it here.
func (s *Sim) OnDemandPrice(region, instanceType string) (float64, bool) {
	t, ok := s.catalog.types[instanceType]
	if !ok {
		return 0, false
	}
	p, ok := t.Prices[region]
	if !ok {
		return 0, false
	}
	return p.OnDemand, true
}
