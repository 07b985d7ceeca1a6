package pool

// MaxDemand bounds each count a demand report may carry: far past any
// queue a pool could serve (maxCapacity is at most MaxCapacityLimit), low
// enough that no sum of them overflows.
const MaxDemand = 1_000_000

// Validate refuses a demand report a reconciler must not act on, as an
// apperr.Invalid naming the field. At is the server's receipt time, not
// the sender's, so it is not checked here.
func (d Demand) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"pending", d.Pending}, {"running", d.Running}, {"idle", d.Idle}} {
		if f.v < 0 || f.v > MaxDemand {
			return invalid(f.name, "%d is not a number of jobs from 0 to %d", f.v, MaxDemand)
		}
	}
	return nil
}
