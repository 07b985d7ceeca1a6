package bootstrap_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/server"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

const scriptAdmin = "bootstrap-script-admin-token-0123"

// world is a real spotter (router, store, registries, spot client) in
// front of awssim, as an instance's script meets it.
type world struct {
	sim     *httptest.Server
	spotter *httptest.Server
	boot    *bootstrap.Service
	pools   *pools.Registry
	tokenID string
	ec2     *ec2.Client
	logs    *logBuffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{logs: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.sim = httptest.NewServer(awssim.New(awssim.Options{}))
	t.Cleanup(w.sim.Close)
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	caps, err := capability.New(capability.Config{Store: st, Authority: auth, Logger: log, PublicURL: "http://spotter.test"})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := capability.NewAdmin(context.Background(), st, scriptAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if w.pools, err = pools.New(pools.Config{Store: st, Authority: auth, Tokens: caps, Logger: log}); err != nil {
		t.Fatal(err)
	}
	sp, err := spot.New(spot.Config{EC2Endpoint: w.sim.URL, STSEndpoint: w.sim.URL, PricingEndpoint: w.sim.URL, DefaultRegion: "us-east-1", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pol := api.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"c6i.*"}, AMIs: []string{"ami-0abc1234"}, MaxCount: 10, MaxRunning: 50,
		MaxTTL: api.Duration(12 * time.Hour), AllowUserData: true}
	tok, err := caps.Create(bg, api.CreateTokenRequest{Name: "ci", Policy: &pol,
		Credentials: &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	w.tokenID = tok.ID
	resp, err := http.Get(w.sim.URL + "/_sim/identity-certificate")
	if err != nil {
		t.Fatal(err)
	}
	pemText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	certs, err := bootstrap.ParseCertificates(pemText)
	if err != nil {
		t.Fatal(err)
	}
	// The router needs its URL before it exists: start unstarted.
	// It serves TLS with a certificate of its own, which the user data
	// carries as spotter's self-signed one.
	w.spotter = httptest.NewUnstartedServer(nil)
	w.spotter.StartTLS()
	t.Cleanup(w.spotter.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.spotter.Certificate().Raw})
	if w.boot, err = bootstrap.New(bootstrap.Config{Store: st, Pools: w.pools, Instances: bootstrap.EC2{Tokens: caps, Spot: sp},
		IdentityCerts: certs, PublicURL: w.spotter.URL, ServerCA: ca, Logger: log, Audit: log.With("log", "audit")}); err != nil {
		t.Fatal(err)
	}
	w.spotter.Config.Handler = server.New(server.Deps{Logger: log, Store: st, Tokens: caps, Admin: admin, Pools: w.pools, Bootstrap: w.boot}, server.DefaultOptions)
	w.ec2 = ec2.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "")},
		func(o *ec2.Options) { o.BaseEndpoint = aws.String(w.sim.URL) })
	return w
}

// admin calls the admin API.
func (w *world) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, w.spotter.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+scriptAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.spotter.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// launch starts one instance as a pool launch does: the pool's tags and
// the launch's ClientToken tag.
func (w *world) launch(t *testing.T, poolName, itype, clientToken string) string {
	t.Helper()
	tags := []types.Tag{{Key: aws.String("spotter:pool"), Value: aws.String(poolName)}, {Key: aws.String("spotter:token"), Value: aws.String(w.tokenID)},
		{Key: aws.String("spotter:client-token"), Value: aws.String(clientToken)}}
	out, err := w.ec2.RunInstances(bg, &ec2.RunInstancesInput{ImageId: aws.String("ami-0abc1234"), InstanceType: types.InstanceType(itype),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String(clientToken),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

// stub writes an executable that records its arguments (and the agent
// token it was handed in the environment) to out.
func stub(t *testing.T, path, out string) {
	t.Helper()
	// Each fact is one line, written at once: agents run side by side.
	script := "#!/bin/sh\n{ echo \"argv: $*\"; echo \"token: ${BUILDKITE_AGENT_TOKEN:-}\"\n" +
		"  echo \"agent: ${SPOTTER_AGENT:-} input-token: ${ACTIONS_RUNNER_INPUT_TOKEN:-} input-jitconfig: ${ACTIONS_RUNNER_INPUT_JITCONFIG:-}\"; } >>'" + out + "'\n" +
		"for a in \"$@\"; do case \"$prev\" in --config) cat \"$a\" >>'" + out + "' ;; esac; prev=$a; done\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestTemplatesUnderSh runs each template's user data under /bin/sh
// against a local spotter and awssim: it fetches the secrets once,
// writes them 0600, starts the (stub) agent with the instance's slots and
// terminate-after-job, powers off; a second run is refused and writes
// nothing.
func TestTemplatesUnderSh(t *testing.T) {
	cases := map[string]struct {
		template string
		secrets  map[string]string
		want     []string // in what the stubs recorded
		notWant  []string // not in it
		notArgv  []string // secrets no command line may hold (ps shows them)
	}{
		pool.BootstrapBuildkite: {template: pool.BootstrapBuildkite, secrets: map[string]string{"agent-token": "CANARY-bk-agent-token"},
			want:    []string{"argv: start --name i-", "--spawn 4", "--disconnect-after-job", "--tags queue=linux", "token: CANARY-bk-agent-token"},
			notArgv: []string{"CANARY-bk-agent-token"}},
		pool.BootstrapGitHubRunner: {template: pool.BootstrapGitHubRunner, secrets: map[string]string{"runner-url": "https://github.com/acme", "runner-token": "CANARY-gh-reg-token"},
			want:    []string{"argv: --unattended --url https://github.com/acme --name i-", "--labels queue:linux,self-hosted", "--ephemeral", "agent: 4", "input-token: CANARY-gh-reg-token"},
			notArgv: []string{"CANARY-gh-reg-token"}},
		"github-runner jit": {template: pool.BootstrapGitHubRunner, secrets: map[string]string{"jit-config": "CANARY-gh-jit-config"},
			want: []string{"argv: \n", "agent: 1 input-token:  input-jitconfig: CANARY-gh-jit-config"}, notWant: []string{"agent: 2"}, notArgv: []string{"CANARY-gh-jit-config"}},
		"github-runner jit, a config per slot": {template: pool.BootstrapGitHubRunner,
			secrets: map[string]string{"jit-config": "CANARY-gh-jit-1", "jit-config-2": "CANARY-gh-jit-2", "jit-config-3": "CANARY-gh-jit-3", "jit-config-4": "CANARY-gh-jit-4"},
			want:    []string{"agent: 1 input-token:  input-jitconfig: CANARY-gh-jit-1", "agent: 2 input-token:  input-jitconfig: CANARY-gh-jit-2", "agent: 4 input-token:  input-jitconfig: CANARY-gh-jit-4"},
			notArgv: []string{"CANARY-gh-jit-1", "CANARY-gh-jit-2", "CANARY-gh-jit-3", "CANARY-gh-jit-4"}},
		pool.BootstrapGenericWorker: {template: pool.BootstrapGenericWorker, secrets: map[string]string{"taskcluster-root-url": "https://tc.example.com", "taskcluster-client-id": "project/ci",
			"taskcluster-access-token": "CANARY-tc-access-token", "task-queue-id": "proj-ci/linux"},
			want:    []string{"argv: run --config", `"accessToken":"CANARY-tc-access-token"`, `"provisionerId":"proj-ci","workerType":"linux"`, `"numberOfTasksToRun":1`, "agent: 4"},
			notArgv: []string{"CANARY-tc-access-token"}},
	}
	for name, tc := range cases {
		tmpl := tc.template
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			p := pool.Pool{Name: "ci", TokenID: w.tokenID, Region: "us-east-1", AMI: "ami-0abc1234",
				LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}, {InstanceType: "c6i.2xlarge", Capacity: 4}},
				MaxCapacity:   10, Bootstrap: tmpl, TerminateAfterJob: true, Labels: []string{"queue:linux", "self-hosted"}}
			if _, err := w.pools.Create(bg, p); err != nil {
				t.Fatal(err)
			}
			w.setSecrets(t, "ci", tc.secrets)
			rec, _ := w.pools.Get(bg, "ci")
			ud, err := w.boot.Issue(bg, rec.Pool, bootstrap.Launch{ClientToken: "sp-script-launch", Capacity: 4})
			if err != nil {
				t.Fatal(err)
			}
			id := w.launch(t, "ci", "c6i.2xlarge", "sp-script-launch")

			inst := newInstance(t, w, id, ud)
			dir, sdir, out, run := inst.dir, inst.etc, inst.calls, inst.run
			if o, err := run(); err != nil {
				t.Fatalf("script: %v\n%s\n%s", err, o, w.logs.String())
			}
			calls, _ := os.ReadFile(out)
			for _, want := range tc.want {
				if !strings.Contains(string(calls), want) {
					t.Errorf("agent calls lack %q:\n%s", want, calls)
				}
			}
			for _, no := range tc.notWant {
				if strings.Contains(string(calls), no) {
					t.Errorf("agent calls hold %q:\n%s", no, calls)
				}
			}
			for _, line := range strings.Split(string(calls), "\n") {
				for _, v := range tc.notArgv {
					if strings.HasPrefix(line, "argv: ") && strings.Contains(line, v) {
						t.Errorf("a secret is on a command line: %q", line)
					}
				}
			}
			// Each agent's name carries the instance id: the CI events
			// name it, and the reconciler reads from them what runs where.
			// (A JIT runner's name is in its config, minted for the
			// instance: the minter's tests check it.)
			named := map[string]string{pool.BootstrapBuildkite: "--name " + id + "-%spawn ", pool.BootstrapGitHubRunner: "--name " + id + "-4 ",
				pool.BootstrapGenericWorker: `"workerId":"` + id + `-4"`}[name]
			if !strings.Contains(string(calls), named) {
				t.Errorf("agent calls lack %q:\n%s", named, calls)
			}
			if _, err := os.Stat(filepath.Join(dir, "poweroff")); err != nil {
				t.Error("terminate-after-job: the script did not power off after the agents ended")
			}
			for name, v := range tc.secrets {
				checkSecretFile(t, filepath.Join(sdir, "secrets", name), v)
			}
			checkSecretFile(t, filepath.Join(sdir, "secrets", "pipeline", "web", "env.NPM_TOKEN"), "CANARY-scoped")
			if _, err := os.Stat(filepath.Join(sdir, ".grant")); !os.IsNotExist(err) {
				t.Error("the grant file was left behind")
			}

			// A second run (a reboot, or a copy of the user data
			// elsewhere) is refused, powers off and writes nothing.
			os.RemoveAll(sdir)
			os.Remove(filepath.Join(dir, "poweroff"))
			if o, err := run(); err == nil {
				t.Fatalf("second run succeeded:\n%s", o)
			}
			if _, err := os.Stat(filepath.Join(sdir, "secrets", "agent-token")); !os.IsNotExist(err) {
				t.Error("a refused run wrote secrets")
			}
			if _, err := os.Stat(filepath.Join(dir, "poweroff")); err != nil {
				t.Error("a refused run did not power off")
			}
			for _, v := range append(values(tc.secrets), "CANARY-scoped") {
				if strings.Contains(string(ud), v) || strings.Contains(w.logs.String(), v) {
					t.Errorf("secret %q is in the user data or the logs", v)
				}
			}
			if !strings.Contains(w.logs.String(), `"reason":"reused"`) {
				t.Error("no audit event for the refused second run")
			}
		})
	}
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func checkSecretFile(t *testing.T, path, want string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("secret file: %v", err)
		return
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %o; want 600", path, fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Errorf("%s = %q; want %q", path, b, want)
	}
}

// setSecrets sets a pool's secrets through the admin API (and one scoped
// to pipeline/web), checking no reply shows a value.
func (w *world) setSecrets(t *testing.T, poolName string, secrets map[string]string) {
	t.Helper()
	for name, v := range secrets {
		body, _ := json.Marshal(api.PoolSecretRequest{Value: v})
		if code, out := w.admin(t, http.MethodPut, "/v1/pools/"+poolName+"/secrets/"+name, string(body)); code != http.StatusOK || strings.Contains(out, v) {
			t.Fatalf("set %s: %d %s", name, code, out)
		}
	}
	if code, out := w.admin(t, http.MethodPut, "/v1/pools/"+poolName+"/secrets/env.NPM_TOKEN?scope=pipeline/web", `{"value":"CANARY-scoped"}`); code != http.StatusOK {
		t.Fatalf("set scoped: %d %s", code, out)
	}
}

// instance is a directory standing in for an instance's file system: the
// user data, stub agents on PATH (and a stub runner dir), /etc/spotter.
type instance struct {
	dir, etc, calls string
	run             func() (string, error)
}

func newInstance(t *testing.T, w *world, id string, ud []byte) instance {
	t.Helper()
	dir := t.TempDir()
	bin, out, runner := filepath.Join(dir, "bin"), filepath.Join(dir, "calls"), filepath.Join(dir, "runner")
	for _, d := range []string{bin, runner} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub(t, filepath.Join(bin, "buildkite-agent"), out)
	stub(t, filepath.Join(bin, "generic-worker"), out)
	stub(t, filepath.Join(runner, "config.sh"), out)
	stub(t, filepath.Join(runner, "run.sh"), out)
	udPath := filepath.Join(dir, "user-data")
	if err := os.WriteFile(udPath, ud, 0o600); err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(dir, "etc-spotter")
	run := func() (string, error) {
		cmd := exec.Command("/bin/sh", udPath)
		cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + dir, "SPOTTER_DIR=" + sdir,
			"SPOTTER_IMDS=" + w.sim.URL + "/_sim/imds/" + id, "SPOTTER_POWEROFF=touch " + filepath.Join(dir, "poweroff"), "RUNNER_DIR=" + runner}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	return instance{dir: dir, etc: sdir, calls: out, run: run}
}

// TestGenericWorkerRefusesUnsafeJSON: a Taskcluster secret that would
// break out of its JSON string stops the script before any worker runs.
func TestGenericWorkerRefusesUnsafeJSON(t *testing.T) {
	w := newWorld(t)
	p := pool.Pool{Name: "tc", TokenID: w.tokenID, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}}, MaxCapacity: 10, Bootstrap: pool.BootstrapGenericWorker}
	if _, err := w.pools.Create(bg, p); err != nil {
		t.Fatal(err)
	}
	w.setSecrets(t, "tc", map[string]string{"taskcluster-root-url": "https://tc.example.com", "taskcluster-client-id": `x","workerType":"evil`,
		"taskcluster-access-token": "CANARY-tc-token", "task-queue-id": "proj/queue"})
	rec, _ := w.pools.Get(bg, "tc")
	ud, err := w.boot.Issue(bg, rec.Pool, bootstrap.Launch{ClientToken: "sp-tc", Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	inst := newInstance(t, w, w.launch(t, "tc", "c6i.large", "sp-tc"), ud)
	out, err := inst.run()
	if err == nil || !strings.Contains(out, "secret taskcluster-client-id holds a quote") {
		t.Fatalf("script: %v\n%s", err, out)
	}
	if _, err := os.Stat(inst.calls); !os.IsNotExist(err) {
		t.Error("a worker ran")
	}
}
