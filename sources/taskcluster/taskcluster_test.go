package taskcluster

import (
	"context"
	"net/http"
	"testing"
	"time"

	faketc "github.com/spotter-dev/spotter/internal/fakeci/taskcluster"
)

// TestHawkAgainstTheFake: the fake verifies Hawk in full (MAC over the
// normalized string, ±60 s); spotter's signer passes it a second inside the
// skew and fails past it, and a wrong key fails.
func TestHawkAgainstTheFake(t *testing.T) {
	const q = "proj-ci/linux"
	tc := faketc.Start(t)
	tc.AddClient("project/ci/spotter", "right", "queue:pending-count:"+q)
	if _, err := tc.CreateTask(q); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := map[string]struct {
		key    string
		skew   time.Duration
		wantOK bool
	}{
		"now":                 {"right", 0, true},
		"inside the skew":     {"right", -(faketc.SkewSeconds - 1) * time.Second, true},
		"past the skew":       {"right", -(faketc.SkewSeconds + 2) * time.Second, false},
		"ahead past the skew": {"right", (faketc.SkewSeconds + 2) * time.Second, false},
		"wrong key":           {"wrong", 0, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := Client{HTTP: http.DefaultClient, RootURL: tc.RootURL, ClientID: "project/ci/spotter", AccessToken: tt.key,
				Now: func() time.Time { return now.Add(tt.skew) }}
			got, err := c.Read(context.Background(), q)
			if tt.wantOK {
				if err != nil || got.Pending != 1 || got.Partial == "" {
					t.Fatalf("Read = %+v, %v; want 1 pending and the claimed count partial", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read = %+v; want a refusal", got)
			}
		})
	}
}
