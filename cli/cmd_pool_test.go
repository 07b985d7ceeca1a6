package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

// TestPoolCommands drives every pool command against a sandbox server.
func TestPoolCommands(t *testing.T) {
	env, logs := startAdminSandbox(t)
	tok := createTestToken(t, env, "pool-token", "--max-running", "10", "--max-ttl", "12h")
	def := `{"name": "linux-ci", "tokenId": "` + tok.ID + `", "region": "us-east-1", "ami": "` + testAMI + `",
	  "launchConfigs": [{"instanceType": "m5.large", "capacity": 1}, {"instanceType": "c5.2xlarge", "capacity": 4}],
	  "minCapacity": 0, "maxCapacity": 10, "scalingRatio": 1.0, "idleTimeout": "10m", "maxLifetime": "12h", "labels": ["self-hosted", "linux"]}`
	file := filepath.Join(t.TempDir(), "pool.json")
	if err := os.WriteFile(file, []byte(def), 0o600); err != nil {
		t.Fatal(err)
	}

	created := mustCLI(t, env, "", "pool", "create", file)
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/hooks/[A-Za-z0-9._-]+`).FindString(created.stdout)
	if !strings.Contains(created.stdout, "Pool created.") || url == "" || !strings.Contains(created.stdout, url+"/demand") {
		t.Fatalf("pool create printed:\n%s", created.stdout)
	}

	c, err := client.New(env[cliEnvServer])
	if err != nil {
		t.Fatal(err)
	}
	byURL, err := c.ReportDemandByURL(context.Background(), url, api.DemandRequest{Pending: 3, Running: 1})
	if err != nil || byURL.Pool != "linux-ci" || byURL.Demand.Pending != 3 || byURL.Desired != 4 {
		t.Fatalf("demand by URL = %+v, %v", byURL, err)
	}

	steps := []struct {
		name    string
		stdin   string
		args    []string
		wantOut []string // each must appear in stdout
		wantErr string   // "" for success
	}{
		{name: "list", args: []string{"pool", "list"}, wantOut: []string{"NAME", "linux-ci", "active", "4", tok.ID}},
		{name: "show", args: []string{"pool", "show", "linux-ci"}, wantOut: []string{"Capacity:", "0-10 (desired 4, running 0, booting 0, idle 0, pending 3)", "m5.large×1, c5.2xlarge×4", "Demand:"}},
		{name: "update from stdin", stdin: `{"minCapacity": 2}`, args: []string{"pool", "update", "linux-ci", "-"}, wantOut: []string{"Pool updated.", "2-10"}},
		{name: "update: a key twice", stdin: `{"minCapacity": 2, "minCapacity": 3}`, args: []string{"pool", "update", "linux-ci"}, wantErr: `invalid_request: key "minCapacity" appears twice`},
		{name: "update: not JSON", stdin: `minCapacity=2`, args: []string{"pool", "update", "linux-ci"}, wantErr: "not JSON"},
		{name: "demand", args: []string{"pool", "demand", "linux-ci", "--pending", "7", "--running", "1"}, wantOut: []string{"7 pending, 1 running, 0 idle; desired 8."}},
		{name: "demand: a negative count", args: []string{"pool", "demand", "linux-ci", "--pending", "-1"}, wantErr: "pending: -1"},
		{name: "create: the name is taken", stdin: def, args: []string{"pool", "create"}, wantErr: "conflict: a pool named \"linux-ci\" exists"},
		{name: "create: a misspelt field", stdin: strings.Replace(def, `"maxCapacity"`, `"maxcap": 3, "maxCapacity"`, 1), args: []string{"pool", "create", "-"}, wantErr: `unknown field "maxcap"`},
		{name: "show: no name", args: []string{"pool", "show"}, wantErr: "want one pool name"},
		{name: "show: unknown", args: []string{"pool", "show", "nope"}, wantErr: "not_found"},
		{name: "rotate", args: []string{"pool", "rotate", "linux-ci"}, wantOut: []string{"Capability rotated.", "Capability URL"}},
		{name: "drain", args: []string{"pool", "drain", "linux-ci"}, wantOut: []string{"draining"}},
		{name: "revoke", args: []string{"pool", "revoke", "linux-ci"}, wantOut: []string{"revoked"}},
		{name: "delete", args: []string{"pool", "delete", "linux-ci"}, wantOut: []string{"being deleted"}},
		{name: "show a deleting pool as JSON", args: []string{"pool", "show", "linux-ci", "--json"}, wantOut: []string{`"status": "deleting"`}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := runCLI(t, env, s.stdin, s.args...)
			if s.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), s.wantErr) {
					t.Fatalf("err = %v; want %q\nstdout: %s", r.err, s.wantErr, r.stdout)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("err = %v\nstderr: %s", r.err, r.stderr)
			}
			for _, w := range s.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}

	// The first URL was rotated out: refused, and no log line holds it.
	if _, err := c.ReportDemandByURL(context.Background(), url, api.DemandRequest{Pending: 1}); client.ErrorCode(err) != "token_revoked" {
		t.Errorf("a rotated-out URL = %v; want token_revoked", err)
	}
	tokPart := url[strings.LastIndex(url, "/")+1:]
	if strings.Contains(logs.String(), tokPart) || strings.Contains(logs.String(), tokPart[strings.LastIndex(tokPart, ".")+1:]) {
		t.Errorf("the server's log holds the pool capability")
	}
	var list []api.PoolInfo
	if err := json.Unmarshal([]byte(mustCLI(t, env, "", "pool", "list", "--json").stdout), &list); err != nil || len(list) != 1 || list[0].Status != "deleting" {
		t.Errorf("pool list --json = %+v, %v", list, err)
	}
}
