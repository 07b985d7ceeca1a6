package deploy_test

import (
	"bufio"
	"io"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/reconcile"
)

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var descRE = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)

// exposedSeries is spotter's /metrics output, every labelled series made to
// appear once (a vector shows nothing until a child exists): metric name →
// its label names.
func exposedSeries(t *testing.T) map[string][]string {
	t.Helper()
	m := metrics.New()
	// The pools' collectors hang off their own struct.
	for _, v := range []reflect.Value{reflect.ValueOf(m).Elem(), reflect.ValueOf(m.Pools).Elem()} {
		touchSeries(t, v)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	series := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? `)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	for sc.Scan() {
		s := series.FindStringSubmatch(sc.Text())
		if s == nil {
			continue
		}
		for _, l := range label.FindAllStringSubmatch(s[3], -1) {
			if !slices.Contains(out[s[1]], l[1]) {
				out[s[1]] = append(out[s[1]], l[1])
			}
		}
		if _, ok := out[s[1]]; !ok {
			out[s[1]] = nil
		}
	}
	if len(out) < 20 {
		t.Fatalf("/metrics shows %d series names:\n%s", len(out), body)
	}
	return out
}

// touchSeries makes each labelled vector among v's fields show one series.
func touchSeries(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanInterface() {
			continue
		}
		c, ok := f.Interface().(prometheus.Collector)
		with := f.MethodByName("WithLabelValues")
		if !ok || !with.IsValid() {
			continue
		}
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		sub := descRE.FindStringSubmatch((<-ch).String())
		if sub == nil {
			t.Fatalf("cannot read the labels of %s", v.Type().Field(i).Name)
		}
		var args []reflect.Value
		for range strings.Split(sub[1], ",") {
			args = append(args, reflect.ValueOf("x"))
		}
		with.Call(args)
	}
}

// TestAlertRules: every rule is complete, and every metric and label its
// expression names is one spotter's /metrics serves (Prometheus's own "up"
// aside), with the label values spotter writes.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	var rules alertRules
	if err := dec.Decode(&rules); err != nil {
		t.Fatal(err)
	}
	exposed := exposedSeries(t)
	exposed["up"] = nil
	for name := range exposed {
		// The scrape adds its target's labels to every series.
		exposed[name] = append(exposed[name], "job", "instance")
	}
	// The values alerts match on, from the code that writes them.
	values := map[string][]string{
		"spotter_reaper_passes_total/result":               {reaper.PassOK, reaper.PassPartial, reaper.PassFailed},
		"spotter_store_call_duration_seconds_count/result": {"ok", apperr.Unavailable, apperr.NotFound, apperr.Conflict, apperr.Internal},
		"spotter_mfa_attempts_total/outcome":               {"ok", "failed", "locked"},
		"spotter_tasks_total/outcome":                      {"ok", "refused", "failed"},
		"spotter_pool_dangling_terminations_total/reason":  {reconcile.DanglingNoBootstrap, reconcile.DanglingNoHeartbeat},
	}

	ref := regexp.MustCompile(`\b((?:spotter|go|process)_[a-zA-Z0-9_]+|up)\b(\{([^}]*)\})?`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	by := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				if seen[r.Alert] {
					t.Errorf("alert %s twice", r.Alert)
				}
				seen[r.Alert] = true
				if !strings.HasPrefix(r.Alert, "Spotter") || r.Expr == "" || r.Annotations["summary"] == "" ||
					r.Annotations["description"] == "" || !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
					t.Errorf("incomplete rule %+v", r)
				}
				refs := ref.FindAllStringSubmatch(r.Expr, -1)
				if len(refs) == 0 {
					t.Fatalf("expr %q names no metric", r.Expr)
				}
				var labels []string
				for _, m := range refs {
					name := m[1]
					have, ok := exposed[name]
					if !ok {
						t.Errorf("%s is not in spotter's /metrics", name)
						continue
					}
					labels = append(labels, have...)
					for _, mm := range matcher.FindAllStringSubmatch(m[3], -1) {
						if !slices.Contains(have, mm[1]) {
							t.Errorf("%s has no label %s (it has %v)", name, mm[1], have)
						}
						allowed, ok := values[name+"/"+mm[1]]
						if !ok {
							continue
						}
						// Each alternative of a plain a|b must be a value spotter
						// writes; a real pattern must match at least one.
						alts := strings.Split(mm[3], "|")
						if mm[2] == "=" {
							alts = []string{mm[3]}
						}
						for _, alt := range alts {
							if regexp.QuoteMeta(alt) != alt {
								re := regexp.MustCompile("^(?:" + mm[3] + ")$")
								alt = mm[3]
								if slices.ContainsFunc(allowed, re.MatchString) {
									continue
								}
							} else if slices.Contains(allowed, alt) {
								continue
							}
							t.Errorf("%s{%s%s%q}: %q is none of the values spotter writes, %v", name, mm[1], mm[2], mm[3], alt, allowed)
						}
					}
				}
				for _, m := range by.FindAllStringSubmatch(r.Expr, -1) {
					for l := range strings.SplitSeq(m[1], ",") {
						if l = strings.TrimSpace(l); !slices.Contains(labels, l) {
							t.Errorf("aggregates by %s, which none of its metrics has", l)
						}
					}
				}
			})
		}
	}
	for _, want := range []string{"SpotterStoreUnavailable", "SpotterMFALockout", "SpotterReaperFailing", "SpotterReaperStalled", "SpotterSpendNearCap"} {
		if !seen[want] {
			t.Errorf("no %s alert", want)
		}
	}
}
