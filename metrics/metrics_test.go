package metrics_test

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/metrics"
)

// series returns name's values by their first label's value ("" for an
// unlabelled metric), as /metrics would serve them.
func series(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			key := ""
			if len(s.GetLabel()) > 0 {
				key = s.GetLabel()[0].GetValue()
			}
			switch {
			case s.GetCounter() != nil:
				out[key] = s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				out[key] = s.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestReaperPasses(t *testing.T) {
	m := metrics.New()
	at := time.Unix(1_700_000_000, 500_000_000)
	m.ObserveReaperPass("ok", at)
	m.ObserveReaperPass("partial", at.Add(time.Minute))
	m.ObserveReaperPass("failed", at.Add(2*time.Minute))
	m.ObserveReaperPass("ok", at.Add(3*time.Minute))
	got := series(t, m, "spotter_reaper_passes_total")
	want := map[string]float64{"ok": 2, "partial": 1, "failed": 1}
	if len(got) != len(want) {
		t.Errorf("passes = %v; want %v", got, want)
	}
	for result, n := range want {
		if got[result] != n {
			t.Errorf("passes{result=%q} = %v; want %v", result, got[result], n)
		}
	}
	// Only a clean pass moves the timestamp.
	if got, want := series(t, m, "spotter_reaper_last_success_timestamp_seconds")[""], 1_700_000_180.5; got != want {
		t.Errorf("last success = %v; want %v", got, want)
	}
}

func TestLimitsAndForget(t *testing.T) {
	m := metrics.New()
	m.ObserveLimits("tokA", 5, 2.5)
	m.ObserveLimits("tokB", 3, 0) // no spend cap: no series
	m.Running.WithLabelValues("tokA").Set(4)
	m.HourlyCost.WithLabelValues("tokA").Set(1.2)
	check := func(name string, want map[string]float64) {
		t.Helper()
		got := series(t, m, name)
		if len(got) != len(want) {
			t.Errorf("%s = %v; want %v", name, got, want)
			return
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s{token=%q} = %v; want %v", name, k, got[k], v)
			}
		}
	}
	check("spotter_token_max_running", map[string]float64{"tokA": 5, "tokB": 3})
	check("spotter_token_max_hourly_spend_dollars", map[string]float64{"tokA": 2.5})
	m.ObserveLimits("tokA", 5, 0) // the cap was lifted
	check("spotter_token_max_hourly_spend_dollars", map[string]float64{})
	m.ObserveLimits("tokA", 5, 2.5)
	m.ForgetToken("tokA")
	check("spotter_token_max_running", map[string]float64{"tokB": 3})
	check("spotter_token_max_hourly_spend_dollars", map[string]float64{})
	check("spotter_running_instances", map[string]float64{})
	check("spotter_hourly_cost_dollars", map[string]float64{})
}
