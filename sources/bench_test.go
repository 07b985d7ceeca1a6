package sources

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGitHubDelivery is one signed workflow_job delivery through
// Service.GitHub on the embedded store: verify, parse, the tracker's
// check-and-set and the demand write. "open N" keeps N jobs open in the
// tracker (the record each delivery rewrites); "at the cap" runs with
// MaxJobs jobs and MaxDeliveries ids held, so every delivery also trims.
func BenchmarkGitHubDelivery(b *testing.B) {
	for _, open := range []int{0, 500, MaxJobs} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			ctx := context.Background()
			const secret = "bench-webhook-secret"
			r := newRig(b, nil, map[string]json.RawMessage{"github": json.RawMessage(`{"webhookSecret": "` + secret + `"}`)})
			s, rec := r.s, r.rec
			now := time.Now()
			if _, _, err := s.track(ctx, rec, func(tr *trackerRecord) (bool, error) {
				for i := range open {
					tr.Tracker.Advance(fmt.Sprintf("github:%d", 1_000_000+i), Queued, "octo/app", "", now)
					if open == MaxJobs {
						tr.Tracker.Take(fmt.Sprintf("github:pre-%d", i), now)
					}
				}
				return true, nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				action := "queued"
				if i%2 == 1 {
					action = "completed"
				}
				body := []byte(fmt.Sprintf(`{"action": %q, "workflow_job": {"id": %d, "labels": ["linux"], "runner_name": null},
					"repository": {"full_name": "octo/app"}}`, action, 5_000_000+i/2))
				out, err := s.GitHub(ctx, rec, Delivery{Event: "workflow_job", ID: fmt.Sprintf("d-%d", i), Signature: sign(secret, body), Body: body, JSON: true})
				if err != nil || out.Outcome != Counted {
					b.Fatalf("delivery %d: %+v, %v", i, out, err)
				}
			}
		})
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
