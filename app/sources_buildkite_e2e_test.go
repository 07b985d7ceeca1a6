package app_test

import (
	"strings"
	"testing"

	fakebk "github.com/spotter-dev/spotter/internal/fakeci/buildkite"
)

const (
	bkE2ESigning = "bk-e2e-signing-secret-CANARY"
	bkE2EToken   = "bk-e2e-webhook-token-CANARY"
	bkE2EAgent   = "bkua_E2EAGENTTOKENCANARY0123456789"
	bkE2EQueue   = "linux"
)

// bkDriver runs Buildkite jobs on the local Buildkite: its agents are the
// instances' (named by slotName), each job change is a webhook delivery
// when one is set, and the agent metrics API counts the same jobs and
// agents.
type bkDriver struct {
	bk *fakebk.Server
	// hooked: the pool takes webhooks, whose job.started names the agent;
	// the metrics API only counts.
	hooked bool
}

func (d *bkDriver) names() bool { return d.hooked }

func (d *bkDriver) queue(t *testing.T) string {
	t.Helper()
	j, err := d.bk.ScheduleJob(bkE2EQueue, "app")
	if err != nil {
		t.Fatal(err)
	}
	return j.ID
}

func (d *bkDriver) agentsUp(t *testing.T, instance string, n int) {
	for slot := 1; slot <= n; slot++ {
		d.bk.AddAgent(bkE2EQueue, slotName(instance, slot))
	}
}

func (d *bkDriver) start(t *testing.T, job, instance string, slot int) string {
	t.Helper()
	if _, err := d.bk.StartJob(job, slotName(instance, slot)); err != nil {
		t.Fatal(err)
	}
	return job
}

func (d *bkDriver) finish(t *testing.T, job string) {
	t.Helper()
	if _, err := d.bk.FinishJob(job, 0); err != nil {
		t.Fatal(err)
	}
}

func (d *bkDriver) agentsDown(t *testing.T, instance string, n int) {
	for slot := 1; slot <= n; slot++ {
		d.bk.RemoveAgent(slotName(instance, slot))
	}
}

// TestSourceBuildkiteEndToEnd: Buildkite drives a pool from scheduled jobs
// to instances, the jobs run on the instances' agents and finish, and the
// idle instances end after idleTimeout (in a terminateAfterJob pool, each
// right after its last job) — fed by signed webhooks, by
// token-mode webhooks, or by polling the agent metrics API, as the pool's
// source is set. Every delivery was answered 200.
func TestSourceBuildkiteEndToEnd(t *testing.T) {
	for name, tc := range map[string]struct {
		sources string // METRICS stands for the metrics API's URL
		mode    fakebk.Mode
		secret  string // the webhook's; "" sets no webhook
		// ephemeral: the pool's agents each run one job (terminateAfterJob)
		ephemeral bool
	}{
		"signed webhooks": {sources: `{"buildkite":{"webhookSigningSecret":"` + bkE2ESigning + `","queue":"` + bkE2EQueue + `"}}`,
			mode: fakebk.Signature, secret: bkE2ESigning},
		"token webhooks": {sources: `{"buildkite":{"webhookToken":"` + bkE2EToken + `","queue":"` + bkE2EQueue + `"}}`,
			mode: fakebk.Token, secret: bkE2EToken},
		"signed webhooks, terminate after job": {sources: `{"buildkite":{"webhookSigningSecret":"` + bkE2ESigning + `","queue":"` + bkE2EQueue + `"}}`,
			mode: fakebk.Signature, secret: bkE2ESigning, ephemeral: true},
		"agent metrics poller": {sources: `{"buildkite":{"agentToken":"` + bkE2EAgent + `","queue":"` + bkE2EQueue + `","metricsUrl":"METRICS"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			ss := newSrcStack(t, "embedded")
			bk := fakebk.Start(t, bkE2EAgent)
			bk.SetClock(ss.clock.Now) // signatures are timed by serve's clock
			extra := `,"bootstrap":"buildkite-agent"`
			if tc.ephemeral {
				extra += `,"terminateAfterJob":true`
			}
			hooks := ss.createPool(t, "bk-ci", extra, strings.Replace(tc.sources, "METRICS", bk.URL, 1))
			if tc.secret != "" {
				bk.SetWebhook(hooks+"/buildkite", tc.secret, tc.mode)
				bk.SetWebhookClient(ss.s.client)
			}
			drv := &bkDriver{bk: bk, hooked: tc.secret != ""}
			if tc.ephemeral {
				ss.driveEphemeral(t, "bk-ci", 5, drv, "buildkite-agent")
			} else {
				ss.driveToIdleEnd(t, "bk-ci", 6, drv, "buildkite-agent")
			}
			ds := bk.Deliveries()
			for _, d := range ds {
				if d.Status != 200 {
					t.Errorf("%s delivery answered %d", d.Event, d.Status)
				}
			}
			if want := map[bool]int{true: 3 * len(bk.Jobs()), false: 0}[tc.secret != ""]; len(ds) != want {
				t.Errorf("%d deliveries, want %d", len(ds), want)
			}
			if tc.secret == "" && bk.Calls() == 0 {
				t.Error("the metrics API was never read")
			}
		})
	}
}
