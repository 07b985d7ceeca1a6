package sources

import (
	"context"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources/buildkite"
	"github.com/spotter-dev/spotter/token"
)

// Buildkite takes one delivery to /hooks/<pool capability>/buildkite, in
// the mode the pool's setting names: X-Buildkite-Signature (HMAC over
// "<timestamp>.<body>", at most 5 minutes old, each signature taken once)
// or X-Buildkite-Token. Job states only move forward, so even a token-mode
// replay counts nothing twice. Events of other queues are 200 ignored.
func (s *Service) Buildkite(ctx context.Context, rec pools.Record, d Delivery) (api.SourceEventReply, error) {
	cfg, err := s.Config(ctx, rec)
	if err != nil {
		return api.SourceEventReply{}, err
	}
	bk := cfg.Buildkite
	if bk == nil || (bk.WebhookSigningSecret == "" && bk.WebhookToken == "") {
		return api.SourceEventReply{}, apperr.New(apperr.NotFound, "pool %s takes no Buildkite webhook; set sources.buildkite.webhookSigningSecret or webhookToken with PATCH /v1/pools/%s/sources", rec.Pool.Name, rec.Pool.Name)
	}
	var delivery string
	if bk.WebhookSigningSecret != "" {
		if d.Signature == "" {
			return api.SourceEventReply{}, apperr.New(apperr.SignatureInvalid, "X-Buildkite-Signature is missing; the pool expects a signed webhook (signature mode)")
		}
		n, err := token.VerifyBuildkiteSignature([]byte(bk.WebhookSigningSecret), d.Signature, d.Body, s.now(), 0)
		if err != nil {
			return api.SourceEventReply{}, err
		}
		delivery = "buildkite:" + n.ID
	} else if err := token.VerifyBuildkiteToken([]byte(bk.WebhookToken), d.Token); err != nil {
		return api.SourceEventReply{}, err
	}
	if !d.JSON {
		return api.SourceEventReply{}, apperr.New(apperr.Unsupported, "send the webhook as application/json")
	}
	state, ok := map[string]int{"job.scheduled": Queued, "job.started": Running, "job.finished": Done}[d.Event]
	if !ok {
		return ignored("event " + truncate(d.Event, 40) + ": the pool counts job.scheduled, job.started and job.finished"), nil
	}
	ev, err := buildkite.ParseJobEvent(d.Body)
	if err != nil {
		return api.SourceEventReply{}, err
	}
	if ev.Event != d.Event {
		return api.SourceEventReply{}, apperr.New(apperr.Invalid, "X-Buildkite-Event %q and the body's event %q differ", truncate(d.Event, 40), truncate(ev.Event, 40))
	}
	if q := ev.Queue; q != bk.Queue && !(q == "" && bk.Queue == "default") {
		return ignored("the job is for queue " + truncate(q, 64) + ", not the pool's " + bk.Queue), nil
	}
	s.log.InfoContext(ctx, "buildkite delivery", "pool", rec.Pool.Name, "event", d.Event, "job", ev.JobID)
	return s.apply(ctx, rec, delivery, buildkite.Key(ev.JobID), state, "", ev.Agent)
}
