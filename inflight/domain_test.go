package inflight

import (
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/money"
)

// inst is an instance as the ledger reads it: its id, its price in $/h,
// and the launch identity that started it ("" for none).
func inst(id string, price float64, key string) api.Instance {
	in := api.Instance{ID: id, Price: money.FromDollars(price)}
	if key != "" {
		in.Tags = map[string]string{api.TagClientToken: key}
	}
	return in
}

// counted is what a check sees: running and spend in all, and of them
// the part in flight.
func counted(running int, spend float64, inFlightRunning int, inFlightSpend float64) Counted {
	return Counted{Usage: api.Usage{Running: running, HourlySpend: spend},
		InFlight: api.Usage{Running: inFlightRunning, HourlySpend: inFlightSpend}}
}
