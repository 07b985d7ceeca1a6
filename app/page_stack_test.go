package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// simClock is the emulator's clock: instances stay pending until a test
// moves it past the PendingDelay, so "boots while the page watches" is a
// step the test takes, not a race with a timer.
type simClock struct{ offset atomic.Int64 }

func (c *simClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *simClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// pageStack is a real serve (HTTPS, embedded store) over an emulator whose
// clock the test holds.
type pageStack struct {
	*stack
	clock *simClock
	dir   string
}

// pendingDelay is how long the emulator's instances boot, in its clock.
const pendingDelay = 30 * time.Minute

func startPageStack(t *testing.T, args ...string) *pageStack {
	t.Helper()
	clk := &simClock{}
	sim := awssim.New(awssim.Options{Seed: 7, Now: clk.Now, PendingDelay: pendingDelay})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	env := map[string]string{
		"SPOTTER_ADMIN_TOKEN":  testAdminToken,
		"AWS_ENDPOINT_URL_EC2": simSrv.URL,
		"AWS_ENDPOINT_URL_STS": simSrv.URL,
	}
	dir := dataDir(t)
	base, logs, stop := startServe(t, env, append([]string{"--addr", "127.0.0.1:0", "--data-dir", dir}, args...)...)
	s := &stack{base: base, client: clientFor(t, base, dir), sim: sim, simURL: simSrv.URL, logs: logs, stop: stop}
	return &pageStack{stack: s, clock: clk, dir: dir}
}

// browserClient is an HTTP client that acts as a browser with JavaScript
// off: it keeps cookies and does not follow redirects, so a test sees each
// step of POST/redirect/GET.
func (s *pageStack) browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *clientFor(t, s.base, s.dir)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// pagePolicy is a small policy for page tests.
const pagePolicy = `{"regions":["us-east-1"],"instanceTypes":["t3.micro","t3.small"],"amis":["ami-0123456789abcdef0"],"maxCount":2,"maxRunning":4,"defaultTTL":"1h","maxTTL":"4h","tasks":["launch","terminate","status","price"],"tags":{"team":"ml"}}`

// pageToken creates a token named name with pagePolicy and extra create
// fields (`"mfa":{"totp":true}`), returning its URL and id.
func (s *pageStack) pageToken(t *testing.T, name, extra string) (url, id string) {
	t.Helper()
	body := `{"name":` + jsonString(name) + `,"credentials":` + keysJSON() + `,"policy":` + pagePolicy
	if extra != "" {
		body += "," + extra
	}
	v := s.createToken(t, body+"}")
	return v["url"].(string), v["id"].(string)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pageReply is one reply as a browser gets it.
type pageReply struct {
	status int
	header http.Header
	body   string
}

// get asks for u as a browser navigating to it would.
func get(t *testing.T, c *http.Client, u string) pageReply {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	return do(t, c, req)
}

// postForm submits a page form as a browser does.
func postForm(t *testing.T, c *http.Client, u string, form url.Values) pageReply {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) pageReply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pageReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var (
	csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	keyRe  = regexp.MustCompile(`name="key" value="([^"]+)"`)
)

// formValues reads the page's anti-forgery and launch key fields.
func formValues(t *testing.T, page string) (csrf, key string) {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no csrf field:\n%s", page)
	}
	csrf = m[1]
	if m := keyRe.FindStringSubmatch(page); m != nil {
		key = m[1]
	}
	return csrf, key
}

// instanceState is the emulator's state of one instance ("" if unknown).
func (s *pageStack) instanceState(id string) string {
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.InstanceID == id {
				return in.State
			}
		}
	}
	return ""
}

// liveIDs are the emulator's pending or running instances.
func (s *pageStack) liveIDs() []string {
	var ids []string
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.State == "pending" || in.State == "running" {
				ids = append(ids, in.InstanceID)
			}
		}
	}
	return ids
}
