package bootstrap_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/pool"
)

func (w *world) imds(t *testing.T, id, path string) string {
	t.Helper()
	resp, err := http.Get(w.sim.URL + "/_sim/imds/" + id + "/latest/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (w *world) post(t *testing.T, body, ctype string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.spotter.URL+"/v1/instances/bootstrap", strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := w.spotter.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestHandOffOverHTTP: the JSON answer once, then the same 401 body for
// every kind of refusal (nothing tells them apart), 400 and 415 for what
// is not a request at all, and an admin list without values.
func TestHandOffOverHTTP(t *testing.T) {
	w := newWorld(t)
	p := pool.Pool{Name: "ci", TokenID: w.tokenID, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}}, MaxCapacity: 10, Bootstrap: pool.BootstrapBuildkite}
	if _, err := w.pools.Create(bg, p); err != nil {
		t.Fatal(err)
	}
	const canary = "CANARY-http-agent-token"
	if code, out := w.admin(t, http.MethodPut, "/v1/pools/ci/secrets/agent-token", `{"value":"`+canary+`"}`); code != http.StatusOK || strings.Contains(out, canary) {
		t.Fatalf("set: %d %s", code, out)
	}
	rec, _ := w.pools.Get(bg, "ci")
	ud, err := w.boot.Issue(bg, rec.Pool, bootstrap.Launch{ClientToken: "sp-http", Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	cred := credRE.FindStringSubmatch(string(ud))[1]
	id := w.launch(t, "ci", "c6i.large", "sp-http")
	other := w.launch(t, "ci", "c6i.large", "sp-other-launch")
	body := func(cred, id string) string {
		b, _ := json.Marshal(api.BootstrapRequest{Credential: cred, InstanceID: id,
			Document:  base64.StdEncoding.EncodeToString([]byte(w.imds(t, id, "dynamic/instance-identity/document"))),
			Signature: w.imds(t, id, "dynamic/instance-identity/signature")})
		return string(b)
	}

	code, hdr, out := w.post(t, body(cred, id), "application/json")
	if code != http.StatusOK {
		t.Fatalf("bootstrap: %d %s\n%s", code, out, w.logs.String())
	}
	var r api.BootstrapReply
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Secrets["agent-token"] != canary || r.Agents != 1 || r.Pool != "ci" || r.InstanceID != id || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("reply %+v, Cache-Control %q", r, hdr.Get("Cache-Control"))
	}

	refusals := map[string]string{
		"used again":        body(cred, id),
		"another launch's":  body(cred, other),
		"unknown":           body("spb_"+strings.Repeat("b", 52), id),
		"malformed":         `{"credential":"x","instanceId":"y"}`,
		"no identity":       `{"credential":"` + cred + `","instanceId":"` + id + `"}`,
		"document not b64":  `{"credential":"` + cred + `","instanceId":"` + id + `","document":"%%%","signature":"x"}`,
		"no instance id":    `{"credential":"` + cred + `"}`,
		"empty object":      `{}`,
		"identity of other": strings.Replace(body(cred, other), other, id, 1),
	}
	w.checkRefusals(t, refusals, canary)
	if code, out := w.admin(t, http.MethodGet, "/v1/pools/ci/secrets", ""); code != http.StatusOK || strings.Contains(out, canary) || !strings.Contains(out, `"agent-token"`) {
		t.Errorf("list: %d %s", code, out)
	}
	if strings.Contains(w.logs.String(), canary) || strings.Contains(w.logs.String(), cred) {
		t.Error("the log holds the secret or the credential")
	}
}

// TestHandOffNotARequest: what is not a hand-off request at all is 400 or
// 415, before any credential is looked at.
func TestHandOffNotARequest(t *testing.T) {
	w := newWorld(t)
	if code, _, out := w.post(t, `{"credential":`, "application/json"); code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d %s", code, out)
	}
	if code, _, out := w.post(t, `{"credential":"x","instanceId":"y","extra":1}`, "application/json"); code != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", code, out)
	}
	if code, _, out := w.post(t, "credential=x", "application/x-www-form-urlencoded"); code != http.StatusUnsupportedMediaType {
		t.Errorf("form: %d %s", code, out)
	}
}

// checkRefusals posts each body and wants the same 401 for all, without
// the canary.
func (w *world) checkRefusals(t *testing.T, bodies map[string]string, canary string) {
	t.Helper()
	var first string
	for name, b := range bodies {
		code, _, out := w.post(t, b, "application/json")
		if code != http.StatusUnauthorized || strings.Contains(out, canary) {
			t.Errorf("%s: %d %s", name, code, out)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("%s: refusal %s differs from %s", name, out, first)
		}
	}
}
