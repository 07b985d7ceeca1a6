package awssim

// OnDemandPrice returns the on-demand Linux price per hour of an instance
// type in a region, from the catalogue: the figure GetProducts (the Price
// List API) answers with, for tests to compare against. ok is false when
// the region does not offer the type.
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
