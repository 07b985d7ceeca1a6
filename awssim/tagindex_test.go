package awssim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	requestIDs  = regexp.MustCompile(`(?i)<requestid>[^<]*</requestid>`)
	instanceIDs = regexp.MustCompile(`<instanceId>(i-[0-9a-f]+)</instanceId>`)
	nextTokens  = regexp.MustCompile(`<nextToken>([^<]+)</nextToken>`)
)

// serve sends one Query call in us-east-1 and returns its status and body
// without the request id, which differs between otherwise equal calls.
func serve(s *Sim, form url.Values) (int, string) {
	form.Set("Version", "2016-11-15")
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Code, requestIDs.ReplaceAllString(rec.Body.String(), "")
}

// TestTagIndexAgainstScan runs a seeded mix of launches, tag changes,
// terminations, spot interruptions, clock jumps and resets. After each step the index must equal
// one rebuilt from the instances, and every tag-filtered describe, page by
// page, must be byte for byte what the same filter gives when written as a
// glob (`\v` matches v literally but cannot use the index, so it scans).
func TestTagIndexAgainstScan(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	s := New(Options{Seed: 3, Now: func() time.Time { return now }, PendingDelay: time.Minute, TerminatedRetention: time.Hour})
	capacity := func() {
		for _, onDemand := range []bool{false, true} {
			if err := s.SetCapacity(DefaultRegion, "", "", onDemand, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
	}
	capacity()
	r := s.regions[DefaultRegion]
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := []string{"t0", "t1", "t2", "t3", "t4", ""}
	teams := []string{"red", "blue"}
	var ids []string // every instance launched, purged ones too
	latest := now
	pick := func() string { return ids[rng.IntN(len(ids))] }
	for step := range 600 {
		form := url.Values{}
		switch op := rng.IntN(100); {
		case op < 30 || len(ids) == 0:
			form = url.Values{"Action": {"RunInstances"}, "ImageId": {"ami-0123456789abcdef0"}, "InstanceType": {"t3.micro"},
				"MinCount": {"1"}, "MaxCount": {fmt.Sprint(1 + rng.IntN(3))},
				"TagSpecification.1.ResourceType": {"instance"},
				"TagSpecification.1.Tag.1.Key":    {"spotter:token"}, "TagSpecification.1.Tag.1.Value": {tokens[rng.IntN(len(tokens))]},
			}
			if rng.IntN(3) == 0 {
				form.Set("InstanceMarketOptions.MarketType", "spot")
			}
			if rng.IntN(2) == 0 {
				form.Set("TagSpecification.1.Tag.2.Key", "team")
				form.Set("TagSpecification.1.Tag.2.Value", teams[rng.IntN(len(teams))])
			}
		case op < 50:
			form = url.Values{"Action": {"CreateTags"}, "ResourceId.1": {pick()}, "ResourceId.2": {pick()},
				"Tag.1.Key": {"spotter:token"}, "Tag.1.Value": {tokens[rng.IntN(len(tokens))]},
				"Tag.2.Key": {"team"}, "Tag.2.Value": {teams[rng.IntN(len(teams))]}}
			if rng.IntN(2) == 0 {
				form.Del("Tag.2.Key")
				form.Del("Tag.2.Value")
			}
		case op < 62:
			form = url.Values{"Action": {"DeleteTags"}, "ResourceId.1": {pick()}, "Tag.1.Key": {"spotter:token"}}
			if rng.IntN(2) == 0 {
				form.Set("Tag.1.Value", tokens[rng.IntN(len(tokens))])
			}
			if rng.IntN(3) == 0 {
				form.Set("Tag.1.Key", "team")
			}
		case op < 75:
			form = url.Values{"Action": {"TerminateInstances"}, "InstanceId.1": {pick()}}
		case op < 82:
			// Carried out by a later call's settle, dated the notice's end.
			_ = s.Interrupt(pick())
		case op < 98:
			// Now and then back a little, as concurrent calls that read the
			// clock before the lock do: terminations then arrive out of order.
			now = now.Add(time.Duration(rng.IntN(45)-5) * time.Minute)
			if now.After(latest) {
				latest = now
			}
		default:
			s.Reset()
			capacity()
		}
		if len(form) > 0 {
			// Ids may have been purged by now; NotFound is part of the test.
			if code, body := serve(s, form); code == http.StatusOK && form.Get("Action") == "RunInstances" {
				for _, m := range instanceIDs.FindAllStringSubmatch(body, -1) {
					ids = append(ids, m[1])
				}
			}
		}
		describeBothWays(t, s, rng, step, tokens)
		checkIndex(t, r, step, now, latest)
	}
}

// describeBothWays pages through one random tag-filtered describe twice,
// once with exact values and once with the same values as globs.
func describeBothWays(t *testing.T, s *Sim, rng *rand.Rand, step int, tokens []string) {
	t.Helper()
	exact := url.Values{"Action": {"DescribeInstances"}, "MaxResults": {"5"}}
	glob := url.Values{"Action": {"DescribeInstances"}, "MaxResults": {"5"}}
	n := 0
	addFilter := func(name string, values []string, escape bool) {
		n++
		exact.Set(fmt.Sprintf("Filter.%d.Name", n), name)
		glob.Set(fmt.Sprintf("Filter.%d.Name", n), name)
		for i, v := range values {
			exact.Set(fmt.Sprintf("Filter.%d.Value.%d", n, i+1), v)
			if escape && v != "" {
				v = `\` + v
			}
			glob.Set(fmt.Sprintf("Filter.%d.Value.%d", n, i+1), v)
		}
	}
	if rng.IntN(4) == 0 {
		addFilter("instance-state-name", []string{"pending", "running"}, false)
	}
	var vals []string
	for range 1 + rng.IntN(2) {
		vals = append(vals, tokens[rng.IntN(len(tokens)-1)])
	}
	addFilter("tag:spotter:token", vals, true)
	if rng.IntN(3) == 0 {
		addFilter("tag:team", []string{"red"}, true)
	}
	if rng.IntN(8) == 0 {
		addFilter("no-such-filter", []string{"x"}, false)
	}
	for page := 0; ; page++ {
		code, want := serve(s, glob)
		gotCode, got := serve(s, exact)
		if gotCode != code || got != want {
			t.Fatalf("step %d page %d: exact filters %v gave %d\n%s\nthe scan gave %d\n%s", step, page, exact, gotCode, got, code, want)
		}
		next := nextTokens.FindStringSubmatch(got)
		if next == nil {
			return
		}
		exact.Set("NextToken", next[1])
		glob.Set("NextToken", next[1])
	}
}

// checkIndex compares the index with one built from scratch from the
// instances the region still knows, and checks that order and the purge
// queue agree with them, and that purge, which a describe has just run at
// now, kept no instance due by then and forgot none not due by latest.
func checkIndex(t *testing.T, r *region, step int, now, latest time.Time) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := tagIndex{}
	var live []*instance
	due := func(in *instance, at time.Time) bool {
		return !in.terminatedAt.IsZero() && !at.Before(in.terminatedAt.Add(r.sim.opts.PendingDelay+r.sim.opts.TerminatedRetention))
	}
	for _, in := range r.order {
		if in.purged && !due(in, latest) || !in.purged && due(in, now) {
			t.Fatalf("step %d: %s purged=%v, terminated %v, now %v", step, in.id, in.purged, in.terminatedAt, now)
		}
		if in.purged {
			if r.instances[in.id] == in {
				t.Fatalf("step %d: purged %s is still an instance", step, in.id)
			}
			continue
		}
		live = append(live, in)
		want.add(in)
	}
	if len(live) != len(r.instances) || !slices.IsSortedFunc(r.order, func(a, b *instance) int { return a.seq - b.seq }) {
		t.Fatalf("step %d: order holds %d live instances of %d, or is out of seq order", step, len(live), len(r.instances))
	}
	if fmt.Sprint(indexIDs(r.byTag)) != fmt.Sprint(indexIDs(want)) {
		t.Fatalf("step %d: tag index\n%v\nrebuilt\n%v", step, indexIDs(r.byTag), indexIDs(want))
	}
	for _, in := range r.dying {
		if in.terminatedAt.IsZero() || in.purged {
			t.Fatalf("step %d: %s queued for purge but live or already purged", step, in.id)
		}
	}
	for _, in := range live {
		if !in.terminatedAt.IsZero() && !slices.Contains(r.dying, in) {
			t.Fatalf("step %d: terminated %s is not queued for purge", step, in.id)
		}
	}
}

// indexIDs renders an index with ids, keys sorted, for comparison and
// failure messages.
func indexIDs(ix tagIndex) []string {
	var out []string
	for k, vals := range ix {
		for v, list := range vals {
			line := k + "=" + v + ":"
			for _, in := range list {
				line += " " + in.id
			}
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}
