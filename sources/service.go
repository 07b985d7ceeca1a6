package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
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
	// layouts: pools whose head this replica saw sharded (jobstore.go).
	layouts sync.Map // pool name → layout
	// acts: what this replica read of each pool's shards for Activity.
	acts sync.Map // pool name → *actsCache
	// rounds: each pool's polls on this replica (pollRound).
	rounds sync.Map // pool name → *atomic.Int64
	// missed: shards whose count a delivery failed to put in the head.
	missed sync.Map // pool name → *missedShards
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

// report writes the pool's demand from its tracker, read again inside
// the pool's check-and-set so that, of two deliveries racing, the demand
// written last is never older than the tracker it follows.
func (s *Service) report(ctx context.Context, rec pools.Record) (pool.Demand, error) {
	var d pool.Demand
	_, err := s.pools.Update(ctx, rec.Pool.Name, func(r *pools.Record) error {
		if r.DeletedAt != nil || r.Incarnation != rec.Incarnation {
			return apperr.New(apperr.Conflict, "pool %s is being deleted: it takes no demand", rec.Pool.Name)
		}
		tr, _, err := s.getHead(ctx, *r)
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
