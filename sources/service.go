package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/sources/github"
)

// Deps wires a Service.
type Deps struct {
	Store  secrets.Store
	Pools  *pools.Registry
	Logger *slog.Logger
	Now    func() time.Time
	// Notify, if set, is told a pool's demand changed (the reconciler's
	// wake-up); it must not block.
	Notify func(pool string)
	// HTTP calls the providers' APIs; nil is a client with a 10 s timeout.
	HTTP *http.Client
}

// Service is the CI sources of every pool.
type Service struct {
	store  secrets.Store
	pools  *pools.Registry
	log    *slog.Logger
	now    func() time.Time
	notify func(string)
	http   *http.Client
	limits backoff
	ghApps *github.InstallationTokens
	// locks serialize one pool's tracker writes on this replica, so a
	// burst of deliveries queues here instead of losing check-and-sets
	// to each other; replicas still meet at the store's check-and-set.
	locks sync.Map // pool name → *sync.Mutex
}

// lock takes the pool's lock on this replica and returns its release.
func (s *Service) lock(name string) func() {
	m, _ := s.locks.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// New returns a Service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Pools == nil {
		return nil, errors.New("sources: Store and Pools are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Notify == nil {
		d.Notify = func(string) {}
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	return &Service{store: d.Store, pools: d.Pools, log: d.Logger, now: d.Now, notify: d.Notify, http: d.HTTP,
		ghApps: &github.InstallationTokens{HTTP: d.HTTP, Now: d.Now}}, nil
}

// Polled is one poller's last counts.
type Polled struct {
	Pending int       `json:"pending"`
	Running int       `json:"running"`
	Idle    int       `json:"idle"`
	At      time.Time `json:"at"`
}

// trackerRecord is pooljobs/<name>. Nothing in it is secret: job ids,
// runner names and delivery GUIDs.
type trackerRecord struct {
	Incarnation string            `json:"incarnation"`
	Tracker     Tracker           `json:"tracker"`
	Polled      map[string]Polled `json:"polled,omitempty"`
}

func (s *Service) getTracker(ctx context.Context, rec pools.Record) (trackerRecord, int, error) {
	sr, err := s.store.Get(ctx, TrackerPrefix+rec.Pool.Name)
	if errors.Is(err, secrets.ErrNotFound) {
		return trackerRecord{Incarnation: rec.Incarnation}, secrets.CreateOnly, nil
	}
	if err != nil {
		return trackerRecord{}, 0, fmt.Errorf("load the jobs of pool %s: %w", rec.Pool.Name, err)
	}
	var tr trackerRecord
	if err := json.Unmarshal(sr.Public, &tr); err != nil {
		return trackerRecord{}, 0, fmt.Errorf("decode the jobs of pool %s: %w", rec.Pool.Name, err)
	}
	if tr.Incarnation != rec.Incarnation {
		tr = trackerRecord{Incarnation: rec.Incarnation}
	}
	tr.Tracker.init()
	return tr, sr.Version, nil
}

// track changes the pool's tracker with check-and-set; change reports
// whether it changed anything (nothing is written when not) and may
// refuse. It is run again on a conflict, so it must not keep state.
func (s *Service) track(ctx context.Context, rec pools.Record, change func(*trackerRecord) (bool, error)) (trackerRecord, bool, error) {
	for attempt := range 8 {
		if attempt > 0 {
			// Another replica won: wait a little, longer each time, at
			// random so the two do not meet again.
			select {
			case <-ctx.Done():
				return trackerRecord{}, false, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))):
			}
		}
		tr, version, err := s.getTracker(ctx, rec)
		if err != nil {
			return trackerRecord{}, false, err
		}
		changed, err := change(&tr)
		if err != nil || !changed {
			return tr, false, err
		}
		tr.Tracker.Prune(s.now())
		b, err := json.Marshal(tr)
		if err != nil {
			return trackerRecord{}, false, err
		}
		_, err = s.store.Put(ctx, TrackerPrefix+rec.Pool.Name, secrets.Record{Public: b}, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		if err != nil {
			return trackerRecord{}, false, fmt.Errorf("store the jobs of pool %s: %w", rec.Pool.Name, err)
		}
		return tr, true, nil
	}
	return trackerRecord{}, false, apperr.New(apperr.Unavailable, "pool %s's jobs are being changed by many deliveries at once; the sender retries", rec.Pool.Name)
}

// source is the provider of a tracked job's key ("github:123").
func source(key string) string {
	src, _, _ := strings.Cut(key, ":")
	return src
}

// demandOf sums the webhook-tracked jobs and every poller's counts; a
// source that is polled (Buildkite with an agent token) counts by its
// poller alone, so its webhooks never count a job twice.
func demandOf(tr trackerRecord) pool.Demand {
	var d pool.Demand
	for k, j := range tr.Tracker.Jobs {
		if _, polled := tr.Polled[source(k)]; polled {
			continue // the poller's count has these jobs
		}
		switch j.State {
		case Queued:
			d.Pending++
		case Running:
			d.Running++
		}
	}
	for _, p := range tr.Polled {
		d.Pending += p.Pending
		d.Running += p.Running
		d.Idle += p.Idle
	}
	d.Pending, d.Running, d.Idle = min(d.Pending, pool.MaxDemand), min(d.Running, pool.MaxDemand), min(d.Idle, pool.MaxDemand)
	return d
}

// report writes the pool's demand from its tracker, read again inside
// the pool's check-and-set so that, of two deliveries racing, the demand
// written last is never older than the tracker it follows.
func (s *Service) report(ctx context.Context, rec pools.Record) (pool.Demand, error) {
	var d pool.Demand
	_, err := s.pools.Update(ctx, rec.Pool.Name, func(r *pools.Record) error {
		if r.DeletedAt != nil || r.Incarnation != rec.Incarnation {
			return apperr.New(apperr.Conflict, "pool %s is being deleted: it takes no demand", rec.Pool.Name)
		}
		tr, _, err := s.getTracker(ctx, *r)
		if err != nil {
			return err
		}
		d = demandOf(tr)
		// The demand is as old as its oldest count: a poller that keeps
		// failing leaves its last counts in, and the pool's
		// staleDemandAfter must see them age rather than look fresh.
		d.At = s.now().UTC()
		for _, p := range tr.Polled {
			if p.At.Before(d.At) {
				d.At = p.At
			}
		}
		r.Demand = &d
		return nil
	})
	if err != nil {
		return pool.Demand{}, err
	}
	s.notify(rec.Pool.Name)
	return d, nil
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Activity is, per instance of the pool that its tracked jobs name, what
// they say of it (pool.Activity): the reconciler's per-instance view.
func (s *Service) Activity(ctx context.Context, name string) (map[string]pool.Activity, error) {
	rec, err := s.pools.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	tr, _, err := s.getTracker(ctx, rec)
	if err != nil {
		return nil, err
	}
	return tr.Tracker.Activity(), nil
}
