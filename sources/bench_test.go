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
// Service.GitHub on the embedded store: verify, parse, the job shard's
// check-and-set, the head's counts and the demand write. "open N" keeps N
// jobs open over the shards; open=5000 fills every shard to its caps
// (JobsPerShard jobs, DeliveriesPerShard ids), so every delivery also
// trims.
func BenchmarkGitHubDelivery(b *testing.B) {
	for _, open := range []int{0, 500, MaxJobs} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			ctx := context.Background()
			const secret = "bench-webhook-secret"
			r := newRig(b, nil, map[string]json.RawMessage{"github": json.RawMessage(`{"webhookSecret": "` + secret + `"}`)})
			s, rec := r.s, r.rec
			fill(b, r, open, open == MaxJobs, time.Now())
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

// fill spreads open queued jobs over r's pool's shards and counts them in
// the head; full fills every shard to its caps, jobs and delivery ids.
func fill(tb testing.TB, r rig, open int, full bool, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	parts := make([]Tracker, Shards)
	n := 0
	for i := 0; n < open; i++ {
		k := fmt.Sprintf("github:%d", 1_000_000+i)
		t := &parts[shardOf(k)]
		t.init()
		if full && len(t.Jobs) >= JobsPerShard {
			continue
		}
		t.Advance(k, Queued, "octo/app", "", now)
		if full {
			t.Take(fmt.Sprintf("pre-%d", i), now)
		}
		n++
		if full && n == JobsPerShard*Shards {
			break
		}
	}
	for i, part := range parts {
		t, v, err := r.s.updateShard(ctx, r.rec, i, func(t *Tracker) (bool, error) { return t.merge(part), nil })
		if err != nil {
			tb.Fatal(err)
		}
		if err := r.s.updateHead(ctx, r.rec, func(h *trackerRecord) bool { return h.setCount(i, v, t) }); err != nil {
			tb.Fatal(err)
		}
	}
}
