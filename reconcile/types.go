package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/spotter-dev/spotter/pool"
)

// State is a pool as the store holds it.
type State struct {
	Pool        pool.Pool
	Incarnation string
	// Epoch counts the launches whose answer was recorded (pool.Input).
	Epoch                     uint64
	Demand                    pool.Demand // zero At: none reported yet
	LastScaleOut, LastScaleIn time.Time
	// Deleted: the pool drains; once no instance is left it is removed.
	Deleted bool
	// Instances are what the last decision recorded.
	Instances []pool.Instance
}

// Commit is what a decision records in the pool's record.
type Commit struct {
	Incarnation string
	// Epoch: the record's epoch moves from Epoch to Epoch+1 (a launch's
	// answer recorded) when Advance is set; if the record's epoch is not
	// Epoch, the commit is refused with ErrStale and changes nothing.
	Epoch   uint64
	Advance bool
	// ScaledOut and ScaledIn, when not zero, become LastScaleOut/In.
	ScaledOut, ScaledIn time.Time
	// Instances are the pool's live instances as this decision saw them.
	Instances []pool.Instance
}

// Apply is the rule every Pools keeps when it commits c to a pool's
// record s: nothing of another incarnation, and an epoch that moves only
// from the one the launch was decided at, once.
func (s *State) Apply(c Commit) error {
	if c.Incarnation != s.Incarnation || (c.Advance && c.Epoch != s.Epoch) {
		return ErrStale
	}
	if c.Advance {
		s.Epoch++
	}
	if !c.ScaledOut.IsZero() {
		s.LastScaleOut = c.ScaledOut
	}
	if !c.ScaledIn.IsZero() {
		s.LastScaleIn = c.ScaledIn
	}
	if c.Instances != nil {
		s.Instances = c.Instances
	}
	return nil
}

// ErrStale: the pool changed under a commit (another incarnation, or
// another replica moved its epoch).
var ErrStale = errors.New("reconcile: the pool's record moved on")

// Pools is where pools and their demand are read and decisions recorded.
type Pools interface {
	Names(ctx context.Context) ([]string, error)
	Get(ctx context.Context, name string) (State, error)
	// Commit applies c with check-and-set on the pool's record.
	Commit(ctx context.Context, name string, c Commit) error
	// Remove drops a deleted pool once it has no instance left.
	Remove(ctx context.Context, name string) error
}

// Lister reads a pool's live instances from EC2.
type Lister interface {
	Instances(ctx context.Context, p pool.Pool, d pool.Demand) ([]pool.Instance, error)
}

// Launcher carries out a pending launch; a repeat of one finds the first
// one's instances (ClientToken) and starts nothing.
type Launcher interface {
	Launch(ctx context.Context, p pool.Pool, l Pending) (Launched, error)
}

// Bounder, when the Lister is one too, caps a launch's capacity by the
// token's limits (pool.Input.MaxLaunch): it is asked only when a decision
// would launch. 0 means no cap; a negative cap means the token has no
// room at all, and the decision launches nothing.
type Bounder interface {
	MaxLaunch(ctx context.Context, p pool.Pool) (int, error)
}

// Launched is what a launch started.
type Launched struct {
	Instances []string
	Units     int
	Replayed  bool
	Warnings  []string
}

// Terminator ends instances of the pool.
type Terminator interface {
	Terminate(ctx context.Context, p pool.Pool, ids []string) ([]string, error)
}

// Observation is one pass over a pool, for metrics.
type Observation struct {
	Pool     string
	Decision pool.Decision
	Demand   pool.Demand
	// Counts of the instances it saw, in capacity units: Live is all of
	// them, the rest its parts.
	Live, Booting, Idle, Busy int
	HourlyCost                float64
	Launched                  int // instances started by this pass
	Interrupted               int // instances ended for an interruption notice
	// Dangling is the instances tagged dangling and still running (not in
	// Live); DanglingEnded the ones this pass terminated, by reason.
	Dangling      int
	DanglingEnded map[string]int
}
