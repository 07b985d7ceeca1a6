// Package reconcile keeps each pool at the size its demand asks for: on
// every interval, and on every demand report, the replica holding a
// pool's lease reads the pool's instances from EC2, asks pool.Decide, and
// carries the decision out: the launch as one weighted CreateFleet whose
// ClientToken comes from the decision's epoch, persisted before it is
// sent, and only the ends Decide names.
//
// It depends on small interfaces (Pools, Lister, Launcher, Terminator)
// that app fills with the pools registry and an AWS fleet (aws.go).
package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

// Config wires a Reconciler.
type Config struct {
	Pools      Pools
	Lister     Lister
	Launcher   Launcher
	Terminator Terminator
	// Store holds the leases (leases/pools/<name>).
	Store Store
	// Interval between passes; the lease lasts two, so a replica that
	// stops renewing is taken over within three.
	Interval time.Duration
	Now      func() time.Time
	Log      *slog.Logger // errors
	Audit    *slog.Logger // one event per decision
	// Observe, when set, is told each pass over a pool (metrics).
	Observe func(Observation)
	// Forget, when set, is told a pool the reconciler removed (its metrics
	// go with it).
	Forget func(pool string)
	// Liveness and Tagger, when both set, turn on the dangling check
	// (dangling.go).
	Liveness Liveness
	Tagger   Tagger
	// Holder names this replica in leases; empty: a random id.
	Holder string
	// Parallel is how many pools one pass reconciles at once; 0 means
	// DefaultParallel. A pool's turn is mostly waiting on the store and
	// EC2, so a serial pass over a replica's share outlasts the leases it
	// renewed first once there are a few dozen pools.
	Parallel int
	// crashAfter, in tests, stops a launch at a point to play a crash.
	crashAfter func(step string) error
}

// Reconciler runs the passes.
type Reconciler struct {
	cfg    Config
	lease  lease
	notify chan string

	mu   sync.Mutex
	held map[string]*held   // the leases this replica took, for Run to give up
	aims map[string]lastAim // each pool's last decision here, for the audit's level
}

// New returns a Reconciler; Run starts it.
func New(cfg Config) *Reconciler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Audit == nil {
		cfg.Audit = cfg.Log
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Holder == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		cfg.Holder = hex.EncodeToString(b)
	}
	return &Reconciler{cfg: cfg, notify: make(chan string, 64), held: map[string]*held{}, aims: map[string]lastAim{},
		lease: lease{st: cfg.Store, holder: cfg.Holder, interval: cfg.Interval, now: cfg.Now}}
}

// Notify asks for a pass over the pool now (a demand report came in). It
// never blocks: a burst of reports folds into the passes already asked.
// A nil Reconciler (pools disabled) ignores it.
func (r *Reconciler) Notify(name string) {
	if r == nil {
		return
	}
	select {
	case r.notify <- name:
	default:
	}
}

// Run passes over every pool each interval, and over one pool when
// notified, until ctx ends. A pass that panics is logged and the next
// runs as usual.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	r.safePass(ctx, "")
	for {
		select {
		case <-ctx.Done():
			r.releaseAll()
			return
		case <-t.C:
			r.safePass(ctx, "")
		case name := <-r.notify:
			r.safePass(ctx, name)
		}
	}
}

// releaseAll gives up this replica's leases as it stops, so another
// replica takes its pools over at its next pass instead of two intervals
// later. Each release is a check-and-set on the version this replica
// last wrote: a lease another replica took meanwhile is left alone. A
// pending launch stays in the record for the next holder.
func (r *Reconciler) releaseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), secrets.DefaultTimeout)
	defer cancel()
	_, _ = r.liveReplicas(ctx, true) // the others' shares grow at once
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, h := range r.held {
		r.lease.release(ctx, h)
		delete(r.held, name)
	}
}

func (r *Reconciler) safePass(ctx context.Context, only string) {
	var err error
	func() {
		defer safe.Recover(ctx, r.cfg.Log, "pool reconcile pass", &err)
		err = r.Pass(ctx, only)
	}()
	if err != nil && ctx.Err() == nil {
		r.cfg.Log.Error("pool reconcile pass", "error", err)
	}
}

// Pass reconciles every pool (or only the one named) whose lease this
// replica holds or can take; a full pass takes no more than this
// replica's share of the pools (balance.go).
func (r *Reconciler) Pass(ctx context.Context, only string) error {
	names, limit := []string{only}, 1
	if only == "" {
		all, err := r.cfg.Pools.Names(ctx)
		if err != nil {
			return err
		}
		start := r.cfg.Now()
		defer func() { r.lease.lastPass.Store(int64(r.cfg.Now().Sub(start))) }()
		var shed []string
		names, shed, limit = r.balance(ctx, all)
		r.shed(ctx, shed)
	}
	return r.each(ctx, names, limit, r.Reconcile)
}

// Reconcile makes one decision for one pool under its lease and carries
// it out. It returns errLost (wrapped) when another replica holds the pool.
func (r *Reconciler) Reconcile(ctx context.Context, name string) error {
	h, err := r.acquire(ctx, name)
	if err != nil {
		return err
	}
	st, err := r.cfg.Pools.Get(ctx, name)
	if apperr.Code(err) == apperr.NotFound {
		r.forget(name)
		return r.lease.drop(ctx, h)
	}
	if err != nil {
		return err
	}
	p := st.Pool
	if st.Deleted {
		p.Draining = true
	}
	// A launch decided but not seen answered is carried out first, as
	// decided: its epoch is still the record's.
	if pd := h.rec.Pending; pd != nil {
		if pd.Incarnation == st.Incarnation && pd.Epoch == st.Epoch {
			return r.launch(ctx, h, st, *pd, nil)
		}
		if err := r.lease.setPending(ctx, h, nil); err != nil {
			return err
		}
	}
	in, dp, err := r.input(ctx, st, p)
	if err != nil {
		return err
	}
	d, err := r.decide(ctx, &in)
	if err != nil {
		return err
	}
	obs := observe(name, in, d)
	r.audit(ctx, in, d)
	now := in.Now
	c := Commit{Incarnation: st.Incarnation, Epoch: st.Epoch, Instances: in.Instances}
	if !r.lease.live(h) { // the listing took the lease's time: decide again next pass
		r.report(obs)
		return errLost
	}
	r.carryDangling(ctx, p, dp, now, &obs)
	if err := r.end(ctx, p, d, now, &c); err != nil {
		r.report(obs)
		return err
	}
	if d.Launch.Capacity == 0 {
		r.report(obs)
		return r.record(ctx, h, st, c, len(d.End) > 0)
	}
	pd := Pending{Incarnation: st.Incarnation, Epoch: st.Epoch, At: now, Launch: d.Launch}
	if err := r.lease.setPending(ctx, h, &pd); err != nil {
		r.report(obs)
		return err
	}
	if len(d.End) > 0 {
		if err := r.cfg.Pools.Commit(ctx, name, c); err != nil {
			return err
		}
	}
	return r.launch(ctx, h, st, pd, &obs)
}

// acquire takes or renews the pool's lease and remembers it for Run to
// give up.
func (r *Reconciler) acquire(ctx context.Context, name string) (*held, error) {
	h, err := r.lease.acquire(ctx, name)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.held[name] = h
	case errors.Is(err, errLost):
		delete(r.held, name)
	}
	return h, err
}

// input is what Decide reads: the pool's record and its instances now,
// less the dangling ones (dangling.go).
func (r *Reconciler) input(ctx context.Context, st State, p pool.Pool) (pool.Input, danglePlan, error) {
	ins, err := r.cfg.Lister.Instances(ctx, p, st.Demand)
	if err != nil {
		return pool.Input{}, danglePlan{}, err
	}
	now := r.cfg.Now()
	dp, err := r.dangling(ctx, p, ins, now)
	if err != nil {
		return pool.Input{}, danglePlan{}, err
	}
	in := pool.Input{Pool: p, Demand: RunningOnPool(p, st.Demand, dp.keep), Instances: dp.keep, Now: now,
		LastScaleOut: st.LastScaleOut, LastScaleIn: st.LastScaleIn, Incarnation: st.Incarnation, Epoch: st.Epoch}
	return in, dp, nil
}

// decide is pool.Decide within the token's limits: a decision that would
// launch is made again with the Bounder's cap (looked up only then: it
// may cost an AWS call).
func (r *Reconciler) decide(ctx context.Context, in *pool.Input) (pool.Decision, error) {
	d := pool.Decide(*in)
	b, ok := r.cfg.Lister.(Bounder)
	if !ok || d.Launch.Capacity == 0 {
		return d, nil
	}
	n, err := b.MaxLaunch(ctx, in.Pool)
	if err != nil {
		return pool.Decision{}, err
	}
	if n < 0 {
		// No room under the token's caps: launch nothing, end as decided.
		d.Launch, d.Replacing = pool.Launch{}, 0
		return d, nil
	}
	in.MaxLaunch = n
	return pool.Decide(*in), nil
}

// end terminates the instances d names, and notes it in c.
func (r *Reconciler) end(ctx context.Context, p pool.Pool, d pool.Decision, now time.Time, c *Commit) error {
	if len(d.End) == 0 {
		return nil
	}
	ids := make([]string, len(d.End))
	for i, e := range d.End {
		ids[i] = e.ID
	}
	terminated, err := r.cfg.Terminator.Terminate(ctx, p, ids)
	r.ended(ctx, p.Name, d.Epoch, d, terminated, err)
	if err != nil {
		return err
	}
	if d.ScaledIn() {
		c.ScaledIn = now
	}
	c.Instances = remaining(c.Instances, ids)
	return nil
}

// record writes a decision that launched nothing when it changed the
// record, and removes a deleted pool once nothing of it runs.
func (r *Reconciler) record(ctx context.Context, h *held, st State, c Commit, ended bool) error {
	if ended || !sameInstances(st.Instances, c.Instances) {
		if err := r.cfg.Pools.Commit(ctx, st.Pool.Name, c); err != nil {
			return err
		}
	}
	if st.Deleted && len(c.Instances) == 0 {
		if err := r.cfg.Pools.Remove(ctx, st.Pool.Name); err != nil {
			return err
		}
		r.forget(st.Pool.Name)
		return r.lease.drop(ctx, h)
	}
	return nil
}

// forget drops what this replica keeps of a pool that is gone: its lease
// for Run to release, its last decision, its metrics.
func (r *Reconciler) forget(name string) {
	r.mu.Lock()
	delete(r.aims, name)
	delete(r.held, name)
	r.mu.Unlock()
	if r.cfg.Forget != nil {
		r.cfg.Forget(name)
	}
}

// launch carries out a persisted launch, then records its answer: the
// epoch moves and the pending launch is cleared. A failure EC2 may not
// have seen (a timeout, throttling, the store) leaves it pending for the
// next pass to send again, with the same ClientToken.
func (r *Reconciler) launch(ctx context.Context, h *held, st State, pd Pending, obs *Observation) error {
	if err := r.crash("persisted"); err != nil {
		return err
	}
	res, err := r.cfg.Launcher.Launch(ctx, st.Pool, pd)
	r.expect(ctx, st.Pool, res.Instances, pd.At)
	if obs != nil {
		obs.Launched = len(res.Instances)
		if res.Replayed {
			obs.Launched = 0
		}
		r.report(*obs)
	}
	if err != nil && retryable(err) {
		return err
	}
	if cerr := r.crash("launched"); cerr != nil {
		return cerr
	}
	r.cfg.Audit.LogAttrs(ctx, slog.LevelInfo, "pool launch", slog.String("pool", st.Pool.Name), slog.Uint64("epoch", pd.Epoch),
		slog.String("client_token", pd.Launch.ClientToken), slog.Int("units", pd.Launch.Capacity),
		slog.Any("instances", res.Instances), slog.Bool("replayed", res.Replayed), slog.Any("error", errText(err)))
	c := Commit{Incarnation: pd.Incarnation, Epoch: pd.Epoch, Advance: true}
	if len(res.Instances) > 0 {
		c.ScaledOut = pd.At // the cooldown counts from a launch that started something
	}
	if cerr := r.cfg.Pools.Commit(ctx, st.Pool.Name, c); cerr != nil && !errors.Is(cerr, ErrStale) {
		return cerr
	}
	if cerr := r.lease.setPending(ctx, h, nil); cerr != nil {
		return cerr
	}
	return err
}

func (r *Reconciler) crash(step string) error {
	if r.cfg.crashAfter == nil {
		return nil
	}
	return r.cfg.crashAfter(step)
}

// retryable reports whether EC2 may not have answered the launch, so it
// is sent again rather than recorded.
func retryable(err error) bool {
	switch apperr.Code(err) {
	case apperr.Unavailable, apperr.AWSUnavailable, apperr.AWSThrottled, apperr.Internal:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return apperr.Details(err)
}

func (r *Reconciler) report(o Observation) {
	if r.cfg.Observe != nil {
		r.cfg.Observe(o)
	}
}

func remaining(ins []pool.Instance, ended []string) []pool.Instance {
	gone := map[string]bool{}
	for _, id := range ended {
		gone[id] = true
	}
	out := []pool.Instance{}
	for _, i := range ins {
		if !gone[i.ID] {
			out = append(out, i)
		}
	}
	return out
}

func sameInstances(a, b []pool.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].State != b[i].State {
			return false
		}
	}
	return true
}
