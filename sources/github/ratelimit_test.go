package github

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestRateLimits: the client's own floor stops a pass exactly when
// X-RateLimit-Remaining falls to it (not one call before), and GitHub's
// refusals for rate (Retry-After, or Remaining 0 until Reset) are told
// apart from other refusals. A refusal by GitHub is returned, not
// remembered: the source's pass stops on it and backs off (sources/poll.go).
func TestRateLimits(t *testing.T) {
	reset := time.Now().Add(42 * time.Minute).Truncate(time.Second)
	tests := map[string]struct {
		status    int
		headers   map[string]string
		floor     int
		wantCalls int32         // of two GetJob calls, how many reach GitHub
		wantLimit time.Duration // 0: the first call is not refused for rate
		wantReset bool          // the limit lasts until X-RateLimit-Reset
		wantErr   bool          // the first call fails
	}{
		"above the floor":        {status: 200, headers: map[string]string{"X-RateLimit-Remaining": "11"}, floor: 10, wantCalls: 2},
		"at the floor":           {status: 200, headers: map[string]string{"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": itoa(reset.Unix())}, floor: 10, wantCalls: 1},
		"no rate header":         {status: 200, floor: 10, wantCalls: 2},
		"secondary: Retry-After": {status: 403, headers: map[string]string{"Retry-After": "30"}, wantCalls: 2, wantLimit: 30 * time.Second, wantErr: true},
		"429 with Retry-After":   {status: 429, headers: map[string]string{"Retry-After": "5"}, wantCalls: 2, wantLimit: 5 * time.Second, wantErr: true},
		"primary: remaining 0":   {status: 403, headers: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": itoa(reset.Unix())}, wantCalls: 2, wantReset: true, wantErr: true},
		"403 for another reason": {status: 403, headers: map[string]string{"X-RateLimit-Remaining": "1"}, wantCalls: 2, wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"id": 1, "status": "queued", "labels": ["self-hosted"]}`))
			}))
			defer srv.Close()
			c := &Client{HTTP: srv.Client(), Base: srv.URL, Token: "tok", Floor: tt.floor}
			before := time.Now()
			_, err := c.GetJob(context.Background(), "o/r", 1)
			if (err != nil) != tt.wantErr {
				t.Fatalf("first GetJob = %v; want an error %v", err, tt.wantErr)
			}
			rl, limited := IsRateLimited(err)
			switch {
			case tt.wantReset:
				if !limited || !rl.Until.Equal(reset) {
					t.Errorf("first GetJob = %v; want rate limited until %v", err, reset)
				}
			case tt.wantLimit > 0:
				if !limited || rl.Until.Before(before.Add(tt.wantLimit)) || rl.Until.After(time.Now().Add(tt.wantLimit)) {
					t.Errorf("first GetJob = %v; want rate limited for %v", err, tt.wantLimit)
				}
			case limited:
				t.Errorf("first GetJob = %v; want no rate limit", err)
			}
			_, err2 := c.GetJob(context.Background(), "o/r", 1)
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("%d calls reached GitHub; want %d (second call: %v)", n, tt.wantCalls, err2)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
