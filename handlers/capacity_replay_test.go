package handlers_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/server"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// TestCapacityFailureReplays: a launch that finds no spot capacity is 503
// capacity_unavailable; its ClientToken is spent on that CreateFleet, so a
// retry of the same Idempotency-Key, on either of two replicas sharing one
// store, gets the same 503 (details, Retry-After) without reaching EC2
// again, even once capacity is back; a new key launches. Once the ledger
// has forgotten the failure (FailedFor), the retry reaches EC2, which
// refuses the ClientToken: 409 saying what happened and what to do.
func TestCapacityFailureReplays(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	sim := awssim.New(awssim.Options{Seed: 3})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	sp, err := spot.New(spot.Config{EC2Endpoint: srv.URL, STSEndpoint: srv.URL, PricingEndpoint: srv.URL, DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, PublicURL: publicURL})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := capability.NewAdmin(ctx, st, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Now())
	var replicas []*echo.Echo
	for range 2 {
		ledger := inflight.NewShared(st, inflight.SharedOptions{Now: clk.Now})
		deps := handlers.TaskDeps{Pipeline: &task.Pipeline{Tokens: reg, Spot: sp, Inflight: ledger, Audit: log, Log: log}, Tokens: reg}
		replicas = append(replicas, server.New(server.Deps{Logger: log, Tokens: reg, Admin: admin, Keys: st, Tasks: deps}, server.Options{}))
	}
	tok, err := reg.Create(ctx, api.CreateTokenRequest{Name: "capacity",
		Credentials: &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey},
		Policy: &api.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-0123456789abcdef0"},
			MaxCount: 2, MaxRunning: 4, MaxTTL: api.Duration(2 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	setCapacity := func(n int) {
		t.Helper()
		if err := sim.SetCapacity("us-east-1", "", "t3.micro", false, n); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		status     int
		code       string
		details    string
		retryAfter string
		instances  int
	}
	launch := func(r int, key string) answer {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader(`{"task":"launch","count":1}`))
		req.Header.Set(echo.HeaderContentType, "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		replicas[r].ServeHTTP(rec, req)
		var v struct {
			Error     string `json:"error"`
			Details   string `json:"details"`
			Instances []any  `json:"instances"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("reply %q: %v", rec.Body, err)
		}
		return answer{rec.Code, v.Error, v.Details, rec.Header().Get("Retry-After"), len(v.Instances)}
	}

	setCapacity(0)
	first := launch(0, "no-room")
	if first.status != 503 || first.code != apperr.CapacityUnavailable || first.retryAfter != "30" ||
		!strings.Contains(first.details, "t3.micro") || !strings.Contains(first.details, "new Idempotency-Key") {
		t.Fatalf("launch without capacity = %+v; want 503 capacity_unavailable naming the pools, a new key and Retry-After 30", first)
	}
	fleets := sim.Calls("CreateFleet")
	for i, r := range []int{1, 0, 1} {
		if got := launch(r, "no-room"); got != first {
			t.Fatalf("retry %d of the same key on replica %d = %+v; want the first answer %+v", i+1, r, got, first)
		}
	}
	setCapacity(10)
	if got := launch(0, "no-room"); got != first {
		t.Fatalf("retry once capacity is back = %+v; want the first answer (the key is spent)", got)
	}
	if n := sim.Calls("CreateFleet"); n != fleets {
		t.Fatalf("%d CreateFleet calls for the retries; want none", n-fleets)
	}
	if got := launch(1, "room-again"); got.status != 200 || got.instances != 1 {
		t.Fatalf("a new key once capacity is back = %+v; want 200 with one instance", got)
	}
	clk.Add(inflight.FailedFor)
	got := launch(0, "no-room")
	if got.status != 409 || got.code != apperr.Conflict || !strings.Contains(got.details, "started nothing") ||
		!strings.Contains(got.details, "send a new Idempotency-Key") {
		t.Fatalf("retry after the failure is forgotten = %+v; want 409 conflict saying the launch started nothing and to send a new key", got)
	}
}
