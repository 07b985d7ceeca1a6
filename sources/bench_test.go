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

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
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
			st, err := secrets.OpenEmbedded(b.TempDir(), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
			if err != nil {
				b.Fatal(err)
			}
			caps, err := capability.New(capability.Config{Store: st, Authority: auth})
			if err != nil {
				b.Fatal(err)
			}
			tok, err := caps.Create(ctx, api.CreateTokenRequest{Name: "bench", Policy: &api.Policy{Regions: []string{"us-east-1"},
				InstanceTypes: []string{"c6i.*"}, AMIs: []string{"ami-0abc1234"}, MaxCount: 10, MaxRunning: 50, MaxTTL: api.Duration(12 * time.Hour)},
				Credentials: &api.CredentialsInput{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}})
			if err != nil {
				b.Fatal(err)
			}
			reg, err := pools.New(pools.Config{Store: st, Authority: auth, Tokens: caps})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := reg.Create(ctx, pool.Pool{Name: "bench", TokenID: tok.ID, Region: "us-east-1", AMI: "ami-0abc1234",
				LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large"}}, MaxCapacity: 50, Labels: []string{"linux"}}); err != nil {
				b.Fatal(err)
			}
			s, err := New(Deps{Store: st, Pools: reg})
			if err != nil {
				b.Fatal(err)
			}
			const secret = "bench-webhook-secret"
			if _, err := s.Patch(ctx, "bench", map[string]json.RawMessage{"github": json.RawMessage(`{"webhookSecret": "` + secret + `"}`)}); err != nil {
				b.Fatal(err)
			}
			rec, err := reg.Get(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
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
