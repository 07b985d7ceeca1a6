package app_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/spot"
)

// holdFirstCreateFleet lets awssim carry out the first CreateFleet and then
// keeps its reply from the caller until release is closed or the caller
// hangs up: EC2 has started the instances, spotter never hears so.
func holdFirstCreateFleet(created chan<- struct{}, release <-chan struct{}) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			held := false
			if strings.Contains(string(body), "Action=CreateFleet") {
				once.Do(func() { held = true })
			}
			if !held {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			close(created)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable) // too late for anyone to read
		})
	}
}

// TestChaosReplicaKilledMidLaunch: a replica is killed (-9) after EC2 has
// carried out its CreateFleet and before it could reply. The client's retry
// with the same Idempotency-Key on another replica is answered with the
// instances the dead replica started (EC2's ClientToken), nothing more is
// started, and every instance carries its token's tag.
func TestChaosReplicaKilledMidLaunch(t *testing.T) {
	created, release := make(chan struct{}), make(chan struct{})
	s := startReplicasFront(t, vaulttest.SharedCluster(t), 3, nil, holdFirstCreateFleet(created, release))
	t.Cleanup(func() { close(release) }) // before awssim's server closes
	tok, tokID := s.tokenWithID(t, `{`+replicaPolicy+`,"maxCount":2,"maxRunning":10}`)
	body := `{"task":"launch","count":2,"idempotencyKey":"crash"}`

	lost := make(chan string, 1)
	go func() {
		r := s.rs[0]
		req, _ := http.NewRequest("POST", r.URL+"/v1/tasks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.Client.Do(req)
		if err != nil {
			lost <- err.Error()
			return
		}
		resp.Body.Close()
		lost <- resp.Status
	}()
	select {
	case <-created:
	case <-time.After(30 * time.Second):
		t.Fatal("replica 0's CreateFleet did not reach awssim within 30 s")
	}
	s.rs[0].Kill9(t)
	t.Logf("the client of the killed replica saw: %s", <-lost)

	var want []string
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			want = append(want, in.InstanceID)
		}
	}
	slices.Sort(want)
	if len(want) != 2 {
		t.Fatalf("awssim holds %v after the killed replica's CreateFleet; want its 2 instances", want)
	}
	for i := 1; i <= 2; i++ {
		code, v := s.launch(i, tok, body)
		if got := replyInstanceIDs(v); code != "200" || !slices.Equal(got, want) {
			t.Fatalf("the retry on replica %d = %s %v; want 200 with the killed replica's instances %v", i, code, got, want)
		}
	}
	n := 0
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			n++
			tagged := false
			for _, tg := range in.Tags {
				tagged = tagged || tg.Key == spot.TagToken && tg.Value == tokID
			}
			if !tagged {
				t.Errorf("instance %s is not tagged %s=%s: %v", in.InstanceID, spot.TagToken, tokID, in.Tags)
			}
		}
	}
	if n != 2 {
		t.Errorf("awssim holds %d instances after the retries; want the first launch's 2", n)
	}
}
