package app_test

import (
	"strconv"
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
	if _, err := d.gh.StartJob(id, slotName(instance, slot)); err != nil {
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

// A JIT runner registers itself; the local GitHub needs no agent setup.
func (d *ghDriver) agentsUp(*testing.T, string, int)   {}
func (d *ghDriver) agentsDown(*testing.T, string, int) {}

// TestSourceGitHubEndToEnd: workflow_job deliveries drive a pool from
// queued jobs to instances, the jobs run on their runners and complete,
// and the idle instances end after idleTimeout; every delivery was
// answered 2xx (GitHub disables a hook whose deliveries fail).
func TestSourceGitHubEndToEnd(t *testing.T) {
	for name, tc := range map[string]struct {
		backend string
		sources func(gh *fakegh.Server) string
	}{
		"webhooks alone": {backend: "embedded", sources: func(*fakegh.Server) string {
			return `{"github":{"webhookSecret":"` + ghE2ESecret + `"}}`
		}},
		"webhooks and the API reconcile, on Vault": {backend: "vault", sources: func(gh *fakegh.Server) string {
			return `{"github":{"webhookSecret":"` + ghE2ESecret + `","apiUrl":"` + gh.URL + `","token":"` + ghE2EToken + `","repos":["` + ghE2ERepo + `"]}}`
		}},
	} {
		t.Run(name, func(t *testing.T) {
			ss := newSrcStack(t, tc.backend)
			gh := fakegh.Start(t, ghE2EToken) // for its URL; the hook is set once the pool exists
			hooks := ss.createPool(t, "gh-ci", `,"labels":["self-hosted","linux","x64"],"bootstrap":"github-runner"`, tc.sources(gh))
			gh.SetClock(ss.clock.Now)
			gh.AddRepo(ghE2ERepo)
			gh.SetWebhook(hooks+"/github", ghE2ESecret)
			gh.SetWebhookClient(ss.s.client)
			ss.driveToIdleEnd(t, "gh-ci", 6, &ghDriver{gh: gh, labels: []string{"self-hosted", "linux"}}, "github-runner")
			for _, d := range gh.Deliveries() {
				if d.Status != 200 {
					t.Errorf("delivery %s (%s) answered %d", d.ID, d.Action, d.Status)
				}
			}
			if n := len(gh.Deliveries()); n != 3*6 {
				t.Errorf("%d deliveries, want queued, in_progress and completed of 6 jobs", n)
			}
		})
	}
}
