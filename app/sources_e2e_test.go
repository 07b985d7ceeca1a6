package app_test

import (
	"bufio"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/spot"
)

// The CI-source end-to-end tests drive a pool from a provider's local
// server through a real serve (HTTPS, the real store, the reconciler and
// the sources' poller on short intervals) over awssim: the provider's jobs
// in, instances up with the pool's weights, the jobs run on the
// instances' agents and finish, and the idle instances end. Serve and
// awssim share a clock the test moves, so idleTimeout passes without
// waiting; every wait is on a condition with a deadline, and "nothing
// happened" is asserted on a reconcile decision taken after the change.

// srcIdleTimeout is the pools' idleTimeout below.
const srcIdleTimeout = 10 * time.Minute

// srcStack is one serve with its pool stack, its decisions logged at
// debug (every pass, changed or not) so a test can wait for the pass that
// saw a change.
type srcStack struct {
	*poolStack
	s *stack

	mu    sync.Mutex
	read  int // bytes of the log already parsed
	seen  []decisionEvent
	ends  map[string]string // instance id → reason, from "pool end" events
	beats map[string]string // instance id → its heartbeat credential
}

func newSrcStack(t *testing.T, backend string) *srcStack {
	t.Helper()
	ps := newPoolStack(t, backend)
	ps.cfg.Timeouts.SourcesPoll = 200 * time.Millisecond
	ps.cfg.LogLevel = "debug"
	pemText, err := ps.sim.IdentityCertificate()
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "identity.pem")
	if err := os.WriteFile(certFile, pemText, 0o600); err != nil {
		t.Fatal(err)
	}
	ps.cfg.IdentityCert = certFile
	return &srcStack{poolStack: ps, s: ps.serve(t), ends: map[string]string{}, beats: map[string]string{}}
}

// createPool makes a token (user data allowed, for the bootstrap
// hand-off) and a pool of two launch configs, weights 1 and 4, with extra
// pool fields (a JSON fragment starting with a comma, or ""), then sets
// its sources. It returns the pool's hook base: <serve>/hooks/<capability>.
func (ss *srcStack) createPool(t *testing.T, name, extra, sourcesJSON string) string {
	t.Helper()
	s := ss.s
	tok := s.createToken(t, `{"name":"`+name+`-token","credentials":`+keysJSON()+`,"policy":`+
		strings.Replace(poolPolicy, `"tasks"`, `"allowUserData":true,"tasks"`, 1)+`}`)
	body := `{"name":"` + name + `","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":[{"instanceType":"c5.large","capacity":1},{"instanceType":"c5.2xlarge","capacity":4}],` +
		`"maxCapacity":20,"maxLifetime":"2h","idleTimeout":"` + srcIdleTimeout.String() + `"` + extra + `}`
	code, v, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(body))
	if code != http.StatusCreated {
		t.Fatalf("create pool = %d %s", code, raw)
	}
	if code, _, raw := call(t, s.client, "PATCH", s.base+"/v1/pools/"+name+"/sources", testAdminToken, "application/json", []byte(sourcesJSON)); code != http.StatusOK {
		t.Fatalf("PATCH sources = %d %s", code, raw)
	}
	return s.base + "/hooks/" + v["token"].(string)
}

// decisionEvent is the audit event of one reconcile decision.
type decisionEvent struct {
	Msg      string          `json:"msg"`
	Pool     string          `json:"pool"`
	Now      time.Time       `json:"now"`
	Demand   pool.Demand     `json:"demand"`
	Instance []pool.Instance `json:"instances"`
	Decision pool.Decision   `json:"decision"`
	End      []pool.End      `json:"end"`
	Ended    []string        `json:"terminated"`
}

// scan parses the log written since the last scan.
func (ss *srcStack) scan() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	text := ss.s.logs.String()[ss.read:]
	last := strings.LastIndexByte(text, '\n')
	if last < 0 {
		return
	}
	ss.read += last + 1
	sc := bufio.NewScanner(strings.NewReader(text[:last+1]))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var ev decisionEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Msg {
		case "pool decision":
			ss.seen = append(ss.seen, ev)
		case "pool end":
			for _, e := range ev.End {
				if slices.Contains(ev.Ended, e.ID) {
					ss.ends[e.ID] = string(e.Reason)
				}
			}
		}
	}
}

// decisionAfter waits for a decision on the pool taken at or after since
// (serve's clock) on demand reported at or after since whose counts
// match want's pending and running, and returns it: the pass that saw
// the change.
func (ss *srcStack) decisionAfter(t *testing.T, name string, since time.Time, want pool.Demand) decisionEvent {
	t.Helper()
	var got decisionEvent
	eventually(t, ss.s, "a decision on "+name+" after "+since.Format(time.RFC3339), func() bool {
		ss.scan()
		ss.mu.Lock()
		defer ss.mu.Unlock()
		for _, ev := range ss.seen {
			if ev.Pool == name && !ev.Now.Before(since) && !ev.Demand.At.Before(since) &&
				ev.Demand.Pending == want.Pending && ev.Demand.Running == want.Running {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

// endReasons are the instances the pool's reconciler terminated, with why.
func (ss *srcStack) endReasons() map[string]string {
	ss.scan()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make(map[string]string, len(ss.ends))
	for k, v := range ss.ends {
		out[k] = v
	}
	return out
}

// running waits until the pool's instances are all EC2-running and at
// least want units, and returns them oldest first (launch time, then id:
// the order spot.Classify hands jobs out in).
func (ss *srcStack) running(t *testing.T, name string, want int) []awssim.InstanceState {
	t.Helper()
	var ins []awssim.InstanceState
	eventually(t, ss.s, "the pool's instances running", func() bool {
		ins = poolInstances(ss.sim, name)
		return units(ins) >= want && !slices.ContainsFunc(ins, func(in awssim.InstanceState) bool { return in.State != "running" })
	})
	slices.SortFunc(ins, func(a, b awssim.InstanceState) int {
		return cmp.Or(a.LaunchTime.Compare(b.LaunchTime), strings.Compare(a.InstanceID, b.InstanceID))
	})
	return ins
}

// checkLaunch asserts how the pool was launched for want queued jobs
// (their deliveries come one by one, so a pass may launch for the first
// jobs before the rest are in): each CreateFleet asks for exactly the
// capacity a logged decision launched, which is what that decision's
// desired capacity lacked, over both launch configs at their weights; its
// instances make up that capacity, overshooting by less than the
// heaviest weight; the launches together cover the jobs; every instance
// carries the pool's tags.
func (ss *srcStack) checkLaunch(t *testing.T, name string, ins []awssim.InstanceState, want int) {
	t.Helper()
	launched := ss.launches(name)
	fleets := ss.createFleets()
	if len(fleets) == 0 {
		t.Fatal("no CreateFleet")
	}
	total := 0
	for _, q := range fleets {
		token, target := q.Get("ClientToken"), q.Get("TargetCapacitySpecification.TotalTargetCapacity")
		d, ok := launched[token]
		if !ok || target != itoa(d.Launch.Capacity) || d.Launch.Capacity != d.Desired-d.Capacity {
			t.Errorf("CreateFleet %s for %s units; its decision %+v (found %v)", token, target, d, ok)
		}
		if w := overrideWeights(q); w["c5.large"] != "1" || w["c5.2xlarge"] != "4" {
			t.Errorf("override weights %v, want c5.large 1 and c5.2xlarge 4", w)
		}
		mine := slices.DeleteFunc(slices.Clone(ins), func(in awssim.InstanceState) bool { return tagOf(in, spot.TagClientToken) != token })
		if u := units(mine); u < d.Launch.Capacity || u >= d.Launch.Capacity+4 {
			t.Errorf("CreateFleet %s for %d units started %d", token, d.Launch.Capacity, u)
		}
		total += units(mine)
	}
	if total != units(ins) || total < want {
		t.Errorf("the launches started %d units of the pool's %d, for %d jobs", total, units(ins), want)
	}
	for _, in := range ins {
		if tagOf(in, spot.TagPool) != name || tagOf(in, spot.TagToken) == "" || tagOf(in, spot.TagExpiresAt) == "" {
			t.Errorf("%s (%s) tags %v", in.InstanceID, in.InstanceType, in.Tags)
		}
	}
}

// launches are the pool's logged decisions that launched, by ClientToken.
func (ss *srcStack) launches(name string) map[string]pool.Decision {
	ss.scan()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := map[string]pool.Decision{}
	for _, ev := range ss.seen {
		if ev.Pool == name && ev.Decision.Launch.Capacity > 0 {
			out[ev.Decision.Launch.ClientToken] = ev.Decision
		}
	}
	return out
}

// overrideWeights is a CreateFleet's WeightedCapacity by instance type.
func overrideWeights(q url.Values) map[string]string {
	w := map[string]string{}
	for k, v := range q {
		if typ, ok := strings.CutSuffix(k, ".InstanceType"); ok && strings.Contains(k, ".Overrides.") {
			w[v[0]] = q.Get(typ + ".WeightedCapacity")
		}
	}
	return w
}

var credentialRe = regexp.MustCompile(`SPOTTER_CREDENTIAL=(spb_[a-z2-7]{52})\n`)

// handOff is an instance's boot: it reads its user data and identity
// document from the metadata service and trades the credential at
// POST /v1/instances/bootstrap. It returns the grant.
func (ss *srcStack) handOff(t *testing.T, id string) map[string]any {
	t.Helper()
	ud, found, err := ss.sim.UserData(id)
	if err != nil || !found {
		t.Fatalf("user data of %s: %v (found %v)", id, err, found)
	}
	m := credentialRe.FindSubmatch(ud)
	if m == nil {
		t.Fatalf("no bootstrap credential in %s's user data:\n%s", id, ud)
	}
	doc, sig, err := ss.sim.IdentityDocument(id)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]string{"credential": string(m[1]), "instanceId": id,
		"document": base64.StdEncoding.EncodeToString(doc), "signature": sig})
	code, v, raw := call(t, ss.s.client, "POST", ss.s.base+"/v1/instances/bootstrap", "", "application/json", req)
	if code != http.StatusOK {
		t.Fatalf("bootstrap of %s = %d %s", id, code, raw)
	}
	if hb, _ := v["heartbeat"].(string); hb != "" {
		ss.mu.Lock()
		ss.beats[id] = hb
		ss.mu.Unlock()
	}
	return v
}

// advance moves serve's clock by d a minute at a time, every live
// instance that bootstrapped beating after each step as its template
// does, so none looks silent for the pool's heartbeatTimeout (3 min).
func (ss *srcStack) advance(t *testing.T, d time.Duration) {
	t.Helper()
	for d > 0 {
		step := min(d, time.Minute)
		ss.clock.Advance(step)
		d -= step
		ss.mu.Lock()
		beats := maps.Clone(ss.beats)
		ss.mu.Unlock()
		for _, r := range ss.sim.State().Regions {
			for _, in := range r.Instances {
				hb, ok := beats[in.InstanceID]
				if !ok || in.State != "running" {
					continue
				}
				body, _ := json.Marshal(map[string]string{"credential": hb, "instanceId": in.InstanceID})
				if code, _, raw := call(t, ss.s.client, "POST", ss.s.base+"/v1/instances/heartbeat", "", "application/json", body); code != http.StatusOK {
					t.Fatalf("heartbeat of %s = %d %s", in.InstanceID, code, raw)
				}
			}
		}
	}
}
