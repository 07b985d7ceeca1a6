package app_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	fakegh "github.com/spotter-dev/spotter/internal/fakeci/github"
)

const (
	ghE2ESecret = "gh-e2e-webhook-secret-CANARY"
	ghE2EToken  = "ghp_E2ETOKENCANARY0123456789abcdefABCD"
	ghE2ERepo   = "octo/app"
)

// ghDriver runs workflow jobs on the local GitHub: each state change is a
// signed workflow_job delivery to the pool's hook, and the REST API the
// pool's reconcile reads answers the same jobs.
type ghDriver struct {
	gh     *fakegh.Server
	labels []string
	// runners are each instance's runner names by slot: those the
	// hand-off registered at GitHub (JIT configs), else slotName's.
	runners map[string][]string
}

func (d *ghDriver) queue(t *testing.T) string {
	t.Helper()
	j, err := d.gh.QueueJob(ghE2ERepo, "build", d.labels...)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(j.ID, 10)
}

func (d *ghDriver) start(t *testing.T, job, instance string, slot int) string {
	t.Helper()
	id, _ := strconv.ParseInt(job, 10, 64)
	if _, err := d.gh.StartJob(id, d.runners[instance][slot-1]); err != nil {
		t.Fatal(err)
	}
	return job
}

func (d *ghDriver) finish(t *testing.T, job string) {
	t.Helper()
	id, _ := strconv.ParseInt(job, 10, 64)
	if _, err := d.gh.FinishJob(id, "success"); err != nil {
		t.Fatal(err)
	}
}

// agentsUp takes the names of the runners the instance's hand-off
// registered (a JIT config each), or, with no JIT config (a source
// without API credentials), the names the runners register under.
func (d *ghDriver) agentsUp(t *testing.T, instance string, n int) {
	t.Helper()
	var names []string
	for _, r := range d.gh.JITRequests() {
		if (r.Name == instance || strings.HasPrefix(r.Name, instance+"-")) && !slices.Contains(names, r.Name) {
			names = append(names, r.Name) // a retried mint registers a name again
		}
	}
	slices.Sort(names) // <id>, <id>-2, …: slot order for single-digit weights
	if len(names) == 0 {
		for slot := 1; slot <= n; slot++ {
			names = append(names, slotName(instance, slot))
		}
	}
	if len(names) != n {
		t.Fatalf("%s registered runners %v, want %d", instance, names, n)
	}
	if d.runners == nil {
		d.runners = map[string][]string{}
	}
	d.runners[instance] = names
}

func (d *ghDriver) agentsDown(*testing.T, string, int) {}

// names: in_progress carries the runner's name.
func (d *ghDriver) names() bool { return true }

// TestSourceGitHubEndToEnd: workflow_job deliveries drive a pool from
// queued jobs to instances, the jobs run on the instances' runners and
// complete, and the idle instances end after idleTimeout — or, in a
// terminateAfterJob pool, each right after its last job. Every delivery
// was answered 200 (GitHub disables a hook whose deliveries fail).
func TestSourceGitHubEndToEnd(t *testing.T) {
	webhooks := func(*fakegh.Server) string { return `{"github":{"webhookSecret":"` + ghE2ESecret + `"}}` }
	api := func(gh *fakegh.Server) string {
		return `{"github":{"webhookSecret":"` + ghE2ESecret + `","apiUrl":"` + gh.URL + `","token":"` + ghE2EToken + `","repos":["` + ghE2ERepo + `"]}}`
	}
	for name, tc := range map[string]struct {
		backend   string
		sources   func(gh *fakegh.Server) string
		ephemeral bool
	}{
		"webhooks alone": {backend: "embedded", sources: webhooks},
		"webhooks and the API reconcile, JIT runners, on Vault": {backend: "vault", sources: api},
		"JIT runners, terminate after job":                      {backend: "embedded", sources: api, ephemeral: true},
	} {
		t.Run(name, func(t *testing.T) {
			ss := newSrcStack(t, tc.backend)
			gh := fakegh.Start(t, ghE2EToken) // for its URL; the hook is set once the pool exists
			extra := `,"labels":["self-hosted","linux","x64"],"bootstrap":"github-runner"`
			if tc.ephemeral {
				extra += `,"terminateAfterJob":true`
			}
			hooks := ss.createPool(t, "gh-ci", extra, tc.sources(gh))
			gh.SetClock(ss.clock.Now)
			gh.AddRepo(ghE2ERepo)
			gh.SetWebhook(hooks+"/github", ghE2ESecret)
			gh.SetWebhookClient(ss.s.client)
			drv := &ghDriver{gh: gh, labels: []string{"self-hosted", "linux"}}
			if tc.ephemeral {
				ss.driveEphemeral(t, "gh-ci", 5, drv, "github-runner")
			} else {
				ss.driveToIdleEnd(t, "gh-ci", 6, drv, "github-runner")
			}
			ds := gh.Deliveries()
			for _, d := range ds {
				if d.Status != 200 {
					t.Errorf("delivery %s (%s) answered %d", d.ID, d.Action, d.Status)
				}
			}
			if n := len(gh.Jobs()); len(ds) != 3*n {
				t.Errorf("%d deliveries, want queued, in_progress and completed of %d jobs", len(ds), n)
			}
		})
	}
}
