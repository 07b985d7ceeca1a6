package bootstrap_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/pool"
)

// beatCounter counts the heartbeats the world's spotter answered 200.
type beatCounter struct {
	next http.Handler
	ok   atomic.Int32
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (b *beatCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	b.next.ServeHTTP(sw, r)
	if r.URL.Path == "/v1/instances/heartbeat" && sw.code == http.StatusOK {
		b.ok.Add(1)
	}
}

// heartbeatWorld is a world with a bootstrapped pool "ci" whose
// instances beat every 5 s (heartbeatTimeout 15s).
func heartbeatWorld(t *testing.T) (*world, *beatCounter, []byte, string) {
	t.Helper()
	w := newWorld(t)
	bc := &beatCounter{next: w.spotter.Config.Handler}
	w.spotter.Config.Handler = bc
	p := pool.Pool{Name: "ci", TokenID: w.tokenID, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}}, MaxCapacity: 10, Bootstrap: pool.BootstrapBuildkite,
		HeartbeatTimeout: pool.Duration(15 * time.Second)}
	if _, err := w.pools.Create(bg, p); err != nil {
		t.Fatal(err)
	}
	w.setSecrets(t, "ci", map[string]string{"agent-token": "CANARY-hb-agent-token"})
	rec, _ := w.pools.Get(bg, "ci")
	ud, err := w.boot.Issue(bg, rec.Pool, bootstrap.Launch{ClientToken: "sp-hb", Capacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	return w, bc, ud, w.launch(t, "ci", "c6i.large", "sp-hb")
}

// TestHeartbeatLoopUnderSh: the template's user data, run under /bin/sh
// against a local TLS spotter, beats while its agent runs (here every
// second, as SPOTTER_HEARTBEAT_EVERY tells it) and stops when the script
// ends.
func TestHeartbeatLoopUnderSh(t *testing.T) {
	w, bc, ud, id := heartbeatWorld(t)
	inst := newInstance(t, w, id, ud)
	// The agent runs 3 s: long enough for two beats at least.
	agent := "#!/bin/sh\nsleep 3\n"
	if err := os.WriteFile(filepath.Join(inst.dir, "bin", "buildkite-agent"), []byte(agent), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", filepath.Join(inst.dir, "user-data"))
	cmd.Env = []string{"PATH=" + filepath.Join(inst.dir, "bin") + ":" + os.Getenv("PATH"), "HOME=" + inst.dir, "SPOTTER_DIR=" + inst.etc,
		"SPOTTER_IMDS=" + w.sim.URL + "/_sim/imds/" + id, "SPOTTER_POWEROFF=true", "SPOTTER_HEARTBEAT_EVERY=1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script: %v\n%s\n%s", err, out, w.logs.String())
	}
	n := bc.ok.Load()
	if n < 2 {
		t.Fatalf("%d heartbeats answered 200 while the agent ran 3 s at one a second\n%s", n, w.logs.String())
	}
	live, err := w.boot.Liveness(bg, "ci")
	if err != nil || live[id].BootstrappedAt.IsZero() || live[id].LastSeen.IsZero() {
		t.Errorf("liveness %+v, %v", live[id], err)
	}
	time.Sleep(2500 * time.Millisecond)
	if m := bc.ok.Load(); m > n+1 {
		t.Errorf("%d heartbeats after the script ended; the loop must stop with it", m-n)
	}
	if strings.Contains(w.logs.String(), "sph_") {
		t.Error("a heartbeat credential is in the logs")
	}
}

// TestHeartbeatOverHTTP: the route answers a beat with its interval;
// every refused credential gets the same 401 body; bodies that are not
// one JSON object of the fields are refused (400, 413) and write nothing.
func TestHeartbeatOverHTTP(t *testing.T) {
	w, _, ud, id := heartbeatWorld(t)
	cred := credRE.FindStringSubmatch(string(ud))[1]
	boot, _ := json.Marshal(api.BootstrapRequest{Credential: cred, InstanceID: id,
		Document:  base64.StdEncoding.EncodeToString([]byte(w.imds(t, id, "dynamic/instance-identity/document"))),
		Signature: w.imds(t, id, "dynamic/instance-identity/signature")})
	code, _, out := w.post(t, string(boot), "application/json")
	var g api.BootstrapReply
	if code != http.StatusOK || json.Unmarshal([]byte(out), &g) != nil || g.HeartbeatInterval != 5 || !strings.HasPrefix(g.Heartbeat, "sph_") {
		t.Fatalf("bootstrap: %d %s", code, out)
	}
	beat := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, w.spotter.URL+"/v1/instances/heartbeat", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := w.spotter.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, out := beat(`{"credential":"` + g.Heartbeat + `","instanceId":"` + id + `","state":"busy"}`); code != http.StatusOK || !strings.Contains(out, `"interval":5`) {
		t.Fatalf("beat: %d %s", code, out)
	}
	before, _ := w.boot.Liveness(bg, "ci")
	if before[id].State != "busy" {
		t.Fatalf("record %+v", before[id])
	}
	other := w.launch(t, "ci", "c6i.large", "sp-hb-other")
	unauth := map[string]string{
		"unknown":          `{"credential":"sph_` + strings.Repeat("a", 52) + `","instanceId":"` + id + `"}`,
		"another instance": `{"credential":"` + g.Heartbeat + `","instanceId":"` + other + `"}`,
		"bootstrap cred":   `{"credential":"` + cred + `","instanceId":"` + id + `"}`,
		"bad instance id":  `{"credential":"` + g.Heartbeat + `","instanceId":"i-XYZ"}`,
	}
	bodies := map[string]bool{}
	for name, body := range unauth {
		code, out := beat(body)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, code, out)
		}
		bodies[out] = true
	}
	if len(bodies) != 1 {
		t.Errorf("refusals differ: %v", bodies)
	}
	checkBadBeats(t, beat, g.Heartbeat, id, other)
	after, _ := w.boot.Liveness(bg, "ci")
	if after[id] != before[id] || len(after) != 1 {
		t.Errorf("refused beats wrote: %+v", after)
	}
	logs := w.logs.String()
	for _, reason := range []string{"unknown", "other_instance", "malformed", "malformed_body", "bad_state"} {
		if !strings.Contains(logs, `"reason":"`+reason+`"`) {
			t.Errorf("no audit line for %s", reason)
		}
	}
	if strings.Contains(logs, g.Heartbeat) || strings.Contains(logs, "CANARY-hb-agent-token") {
		t.Error("the heartbeat credential or a secret is in the logs")
	}
}

// checkBadBeats sends bodies that are not one JSON object of the fields.
func checkBadBeats(t *testing.T, beat func(string) (int, string), hb, id, other string) {
	t.Helper()
	bad := map[string]struct {
		body string
		code int
	}{
		"not JSON":        {`credential=x`, http.StatusBadRequest},
		"a key twice":     {`{"credential":"` + hb + `","instanceId":"` + id + `","instanceId":"` + other + `"}`, http.StatusBadRequest},
		"an unknown key":  {`{"credential":"` + hb + `","instanceId":"` + id + `","extra":1}`, http.StatusBadRequest},
		"a state unknown": {`{"credential":"` + hb + `","instanceId":"` + id + `","state":"asleep"}`, http.StatusBadRequest},
		"oversized":       {`{"credential":"` + strings.Repeat("a", 70_000) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for name, tc := range bad {
		if code, out := beat(tc.body); code != tc.code || strings.Contains(out, hb) {
			t.Errorf("%s: %d %s; want %d", name, code, out, tc.code)
		}
	}
}
