package sources

import (
	"context"
	"regexp"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources/github"
	"github.com/spotter-dev/spotter/token"
)

// Delivery is one webhook request as a handler hands it over: the
// headers a provider signs or identifies it with, and the raw body.
type Delivery struct {
	Event     string // X-GitHub-Event
	ID        string // X-GitHub-Delivery
	Signature string // X-Hub-Signature-256, X-Buildkite-Signature
	Token     string // X-Buildkite-Token
	// JSON is whether Content-Type names JSON: GitHub's hook setting
	// "content type" must be application/json, not form.
	JSON bool
	Body []byte
}

// Outcomes of a delivery.
const (
	Counted   = "counted"   // the pool's demand was written
	Unchanged = "unchanged" // known job, nothing new (a late or repeated state)
	Ignored   = "ignored"   // not the pool's: another event, action or labels
)

var deliveryRe = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func ignored(why string) api.SourceEventReply {
	return api.SourceEventReply{Code: 200, Outcome: Ignored, Reason: why}
}

// GitHub takes one delivery to /hooks/<pool capability>/github. The
// signature is checked before anything reads the body; the delivery id is
// taken once, in the same check-and-set as the job's new state, so a
// redelivery or a replay never counts twice. What is not the pool's is a
// 200 "ignored": GitHub disables a hook whose deliveries fail.
func (s *Service) GitHub(ctx context.Context, rec pools.Record, d Delivery) (api.SourceEventReply, error) {
	cfg, err := s.Config(ctx, rec)
	if err != nil {
		return api.SourceEventReply{}, err
	}
	if cfg.GitHub == nil {
		return api.SourceEventReply{}, apperr.New(apperr.NotFound, "pool %s has no github source; set one with PATCH /v1/pools/%s/sources", rec.Pool.Name, rec.Pool.Name)
	}
	if d.Signature == "" {
		return api.SourceEventReply{}, apperr.New(apperr.SignatureInvalid, "X-Hub-Signature-256 is missing; set the webhook's secret to the pool's github.webhookSecret")
	}
	if err := token.VerifyGitHub([]byte(cfg.GitHub.WebhookSecret), d.Signature, d.Body); err != nil {
		return api.SourceEventReply{}, err
	}
	if !d.JSON {
		return api.SourceEventReply{}, apperr.New(apperr.Unsupported, "set the webhook's content type to application/json in GitHub's settings")
	}
	if !deliveryRe.MatchString(d.ID) {
		return api.SourceEventReply{}, apperr.New(apperr.Invalid, "X-GitHub-Delivery: missing or not a delivery GUID")
	}
	switch d.Event {
	case "workflow_job":
	case "ping":
		return ignored("ping: the webhook reaches spotter; it counts workflow_job events"), nil
	default:
		return ignored("event " + truncate(d.Event, 40) + ": the pool counts only workflow_job; send just that event"), nil
	}
	ev, err := github.ParseWorkflowJob(d.Body)
	if err != nil {
		return api.SourceEventReply{}, err
	}
	state, ok := map[string]int{"queued": Queued, "in_progress": Running, "completed": Done}[ev.Action]
	if !ok {
		return ignored("action " + truncate(ev.Action, 40) + " is not counted"), nil
	}
	if !github.LabelsWithin(ev.Labels, rec.Pool.Labels) {
		return ignored("the job's labels are not all among the pool's labels"), nil
	}
	s.log.InfoContext(ctx, "github delivery", "pool", rec.Pool.Name, "delivery", d.ID, "action", ev.Action, "job", ev.JobID)
	return s.apply(ctx, rec, "github:"+d.ID, github.Key(ev.JobID), state, ev.Repo, ev.RunnerName)
}

// apply takes delivery (when not "") and moves job to state in one
// check-and-set on the job's shard, then puts the shard's new counts in
// the head and writes the pool's demand if the job moved.
func (s *Service) apply(ctx context.Context, rec pools.Record, delivery, job string, state int, repo, runner string) (api.SourceEventReply, error) {
	defer s.lock(rec.Pool.Name)()
	l, err := s.ensureLayout(ctx, rec)
	if err != nil {
		return api.SourceEventReply{}, err
	}
	if old, err := s.takenBefore(ctx, rec, l, delivery); err != nil || old {
		if err == nil {
			err = replay(delivery)
		}
		return api.SourceEventReply{}, err
	}
	now := s.now().UTC()
	i := shardOf(job)
	var advanced bool
	t, version, err := s.updateShard(ctx, rec, i, func(t *Tracker) (bool, error) {
		if delivery != "" && !t.Take(delivery, now) {
			return false, replay(delivery)
		}
		advanced = t.Advance(job, state, repo, runner, now)
		return delivery != "" || advanced, nil
	})
	if err != nil {
		return api.SourceEventReply{}, err
	}
	if !advanced {
		tr, _, err := s.getHead(ctx, rec)
		if err != nil {
			return api.SourceEventReply{}, err
		}
		dm := demandOf(tr)
		return api.SourceEventReply{Code: 200, Outcome: Unchanged, Reason: "job " + job + " is already at or past this state",
			Pending: dm.Pending, Running: dm.Running}, nil
	}
	// The job is recorded and the delivery taken: failing from here on
	// would make its redelivery a replay. The next poll (within
	// DefaultPollInterval) counts the shard again and writes the demand.
	var tr trackerRecord
	err = s.updateHead(ctx, rec, func(h *trackerRecord) bool {
		tr = *h
		return h.setCount(i, version, t)
	})
	if err != nil {
		s.uncounted(rec.Pool.Name, i)
		s.log.WarnContext(ctx, "ci sources: job counts not written; the next poll writes them", "pool", rec.Pool.Name, "err", err)
	}
	dm, err := s.report(ctx, rec)
	if err != nil {
		s.log.WarnContext(ctx, "ci sources: demand not written; the next poll writes it", "pool", rec.Pool.Name, "err", err)
		dm = demandOf(tr)
	}
	return api.SourceEventReply{Code: 200, Outcome: Counted, Pending: dm.Pending, Running: dm.Running}, nil
}

func replay(delivery string) error {
	return apperr.New(apperr.SignatureReplay, "delivery %s was taken already; a redelivery of it changes nothing", delivery)
}
