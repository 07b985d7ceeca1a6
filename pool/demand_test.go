package pool

import "testing"

func TestDemandValidate(t *testing.T) {
	tests := map[string]struct {
		d     Demand
		field string
	}{
		"zero":             {d: Demand{}},
		"all at the limit": {d: Demand{Pending: MaxDemand, Running: MaxDemand, Idle: MaxDemand}},
		"pending past":     {d: Demand{Pending: MaxDemand + 1}, field: "pending"},
		"running past":     {d: Demand{Running: MaxDemand + 1}, field: "running"},
		"idle past":        {d: Demand{Idle: MaxDemand + 1}, field: "idle"},
		"pending negative": {d: Demand{Pending: -1}, field: "pending"},
		"running negative": {d: Demand{Running: -1}, field: "running"},
		"idle negative":    {d: Demand{Idle: -1}, field: "idle"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { checkField(t, tc.d.Validate(), tc.field) })
	}
}
