package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ghfake "github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/secrets"
)

const jitGitHubToken = "ghp_CANARYe2eJitToken0000000000000000000"

// TestPoolGitHubJIT runs the GitHub hand-off through serve, awssim and a
// fake GitHub, on both stores: a github-runner pool whose GitHub source
// has a token and a repository launches an instance; its hand-off, while
// GitHub answers 502, is a 503 that uses nothing up, and the retry gets a
// just-in-time runner config GitHub minted then, for a runner named after
// the instance with the pool's labels; a third call is 401 and mints
// nothing. The config and the token are in no log, no other reply, no
// user data and not the store. Deleting the pool deletes its secrets and
// sources records once the reconciler has removed it.
func TestPoolGitHubJIT(t *testing.T) {
	for _, backend := range []string{"embedded", "vault"} {
		t.Run(backend, func(t *testing.T) { testPoolGitHubJIT(t, backend) })
	}
}

func testPoolGitHubJIT(t *testing.T, backend string) {
	ps := newPoolStack(t, backend)
	ps.cfg.Timeouts.SourcesPoll = 0 // demand comes from /demand; removal alone must clear the records
	ps.cfg.DataDir = dataDir(t)
	s := ps.serve(t)
	gh := ghfake.Start(t, jitGitHubToken)
	gh.AddRepo("octo/app")

	tok := s.createToken(t, `{"name":"pool-token","credentials":`+keysJSON()+`,"policy":`+
		strings.Replace(poolPolicy, `"tasks"`, `"allowUserData":true,"tasks"`, 1)+`}`)
	body := `{"name":"gh","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":[{"instanceType":"c5.large","capacity":1}],"maxCapacity":20,"maxLifetime":"2h",` +
		`"bootstrap":"github-runner","terminateAfterJob":true,"labels":["self-hosted","linux"]}`
	var replies strings.Builder // every reply but the hand-off's one grant
	admin := func(method, path, body string, want int) map[string]any {
		t.Helper()
		code, v, raw := call(t, s.client, method, s.base+path, testAdminToken, "application/json", []byte(body))
		if code != want {
			t.Fatalf("%s %s = %d %s", method, path, code, raw)
		}
		replies.WriteString(raw)
		return v
	}
	admin("POST", "/v1/pools", body, http.StatusCreated)
	const secretCanary = "CANARY-e2e-jit-npm-token"
	admin("PUT", "/v1/pools/gh/secrets/env.NPM_TOKEN", `{"value":"`+secretCanary+`"}`, http.StatusOK)
	src := admin("PATCH", "/v1/pools/gh/sources", `{"github":{"webhookSecret":"CANARY-e2e-webhook-secret","token":"`+jitGitHubToken+
		`","apiUrl":"`+gh.URL+`","repos":["octo/app"]}}`, http.StatusOK)
	if g, _ := src["sources"].(map[string]any)["github"].(map[string]any); g["runnerRegistration"] != "jit" || g["runnerGroupId"] != 1.0 {
		t.Errorf("sources reply %v; want JIT by default, group 1", src)
	}

	demand(t, s, "gh", `{"pending":1,"running":0,"idle":0}`)
	eventually(t, s, "the pool's instance", func() bool { return len(poolInstances(ps.sim, "gh")) == 1 })
	id := poolInstances(ps.sim, "gh")[0].InstanceID
	resp, err := http.Get(ps.simURL + "/_sim/imds/" + id + "/latest/user-data")
	if err != nil {
		t.Fatal(err)
	}
	ud, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`SPOTTER_CREDENTIAL=(spb_[a-z2-7]{52})\n`).FindSubmatch(ud)
	if m == nil {
		t.Fatalf("user data:\n%s", ud)
	}
	handOff, _ := json.Marshal(map[string]string{"credential": string(m[1]), "instanceId": id})
	bootstrap := func() (int, map[string]any, string) {
		return call(t, s.client, "POST", s.base+"/v1/instances/bootstrap", "", "application/json", handOff)
	}

	gh.FailRunnerCalls(502)
	code, v, raw := bootstrap()
	if code != http.StatusServiceUnavailable || v["error"] != "unavailable" || !strings.Contains(raw, "HTTP 502") {
		t.Fatalf("hand-off while GitHub fails = %d %s; want 503 unavailable naming GitHub's 502", code, raw)
	}
	replies.WriteString(raw)
	if n := len(gh.Runners()); n != 0 {
		t.Fatalf("%d runners registered by a failed mint", n)
	}

	code, v, raw = bootstrap()
	if code != http.StatusOK {
		t.Fatalf("retried hand-off = %d %s\n%s", code, raw, s.logs.String())
	}
	reqs, runners := gh.JITRequests(), gh.Runners()
	if len(reqs) != 1 || len(runners) != 1 {
		t.Fatalf("GitHub minted %d configs for %d runners; want 1", len(reqs), len(runners))
	}
	jit := reqs[0].Encoded
	sec, _ := v["secrets"].(map[string]any)
	if sec["jit-config"] != jit || sec["env.NPM_TOKEN"] != secretCanary {
		t.Errorf("grant secrets lack the minted config or the pool's secret: %s", raw)
	}
	if r := runners[0]; r.Scope != "repos/octo/app" || r.Name != id || strings.Join(r.Labels, ",") != "self-hosted,linux" || r.RunnerGroupID != 1 {
		t.Errorf("GitHub registered %+v; want runner %s in octo/app with the pool's labels, group 1", r, id)
	}

	code, _, raw = bootstrap()
	if code != http.StatusUnauthorized || len(gh.JITRequests()) != 1 {
		t.Errorf("third hand-off = %d %s with %d mints; want 401 and no new mint", code, raw, len(gh.JITRequests()))
	}
	replies.WriteString(raw)
	admin("GET", "/v1/pools/gh", "", http.StatusOK)
	admin("GET", "/v1/pools/gh/sources", "", http.StatusOK)
	admin("GET", "/v1/pools/gh/secrets", "", http.StatusOK)
	canaries := map[string]string{"the JIT config": jit, "the GitHub token": jitGitHubToken, "the pool secret": secretCanary}
	for what, c := range canaries {
		if strings.Contains(replies.String(), c) || strings.Contains(string(ud), c) || strings.Contains(s.logs.String(), c) {
			t.Errorf("%s is in a reply, the user data or the log", what)
		}
	}

	admin("DELETE", "/v1/pools/gh", "", http.StatusAccepted)
	eventually(t, s, "the pool removed and its records deleted", func() bool {
		logs := s.logs.String()
		return len(poolInstances(ps.sim, "gh")) == 0 && strings.Contains(logs, "pool secrets deleted: their pool is gone") &&
			strings.Contains(logs, "ci sources: deleted the records of a removed pool")
	})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t, ps, backend)
	for _, prefix := range []string{"poolsecrets/", "poolsources/", "pooljobs/", "pools/"} {
		keys, err := st.List(context.Background(), prefix)
		if err != nil || len(keys) != 0 {
			t.Errorf("%s holds %v (%v) after the pool was removed", prefix, keys, err)
		}
	}
	if backend == "embedded" {
		files, _ := filepath.Glob(filepath.Join(ps.cfg.DataDir, "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for what, c := range canaries {
				if strings.Contains(string(b), c) {
					t.Errorf("%s is in %s", what, filepath.Base(f))
				}
			}
		}
	}
}

// openTestStore opens serve's store once serve has stopped.
func openTestStore(t *testing.T, ps *poolStack, backend string) secrets.Store {
	t.Helper()
	var st secrets.Store
	var err error
	if backend == "vault" {
		st, err = secrets.NewVault(context.Background(), secrets.VaultConfig{Addr: ps.cfg.VaultAddr, Token: ps.cfg.VaultToken, KVMount: ps.cfg.VaultMount})
	} else {
		st, err = secrets.OpenEmbedded(ps.cfg.DataDir, nil, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
