// Package awssim is an in-memory EC2 and STS that speaks the AWS Query wire
// protocol, so the real aws-sdk-go-v2 and the AWS CLI can be pointed at it
// unchanged (BaseEndpoint / --endpoint-url). It plays the part moto plays for
// Python: spotter's end-to-end tests, `spotter sim` and the sandbox run on it.
//
// The world it emulates is deterministic for a given seed and clock: spot
// prices are a function of (seed, pool, time bucket), identifiers come from a
// seeded counter, and injected faults fire on a seeded schedule.
package awssim

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Defaults a caller can print or configure clients with. The key pair is the
// example pair from the AWS documentation, so it can never be mistaken for a
// real credential.
const (
	DefaultAccountID       = "123456789012"
	DefaultAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	DefaultSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	DefaultUserName        = "spotter-sim"
	DefaultRegion          = "us-east-1"
	// DefaultMFASecret is the base32 TOTP secret of the MFA device New
	// registers for the default user (see Sim.DefaultMFASerial).
	DefaultMFASecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

// Options configures a Sim. The zero value is usable.
type Options struct {
	// Seed makes prices, capacities, ids and fault schedules reproducible.
	Seed int64
	// Now is the clock; tests inject one to move time without sleeping.
	Now func() time.Time
	// PendingDelay is how long an instance stays pending (and shutting-down)
	// before it is running (terminated). Zero means transitions are immediate.
	PendingDelay time.Duration
	// TerminatedRetention is how long terminated instances stay visible;
	// AWS keeps them about an hour, which is the default.
	TerminatedRetention time.Duration
	// InterruptionNotice is the delay between a spot interruption notice and
	// the interruption itself; AWS gives two minutes, which is the default.
	InterruptionNotice time.Duration
	// AccountID is the emulated account; DefaultAccountID if empty.
	AccountID string
	// Logger receives one debug line per request; nothing is logged if nil.
	Logger *slog.Logger
}

// Sim is the emulator. It is an http.Handler serving both EC2 and STS on the
// same endpoint, plus the control API under /_sim/. It is safe for
// concurrent use.
type Sim struct {
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	catalog *catalog

	// seq feeds identifiers and request ids; one atomic counter keeps them
	// unique across regions without a shared lock.
	seq atomic.Uint64

	// Each region has its own lock so callers in different regions never
	// contend; STS, MFA and fault state have theirs.
	regions map[string]*region

	iam   *iamState
	mfa   *mfaState
	chaos *chaosState

	ec2, sts map[string]handler

	counters counters
}

// New returns a Sim with the default user, its access key and its MFA device
// registered.
func New(opts Options) *Sim { return newSim(opts, mustLoadCatalog()) }

func newSim(opts Options, cat *catalog) *Sim {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TerminatedRetention == 0 {
		opts.TerminatedRetention = time.Hour
	}
	if opts.InterruptionNotice == 0 {
		opts.InterruptionNotice = 2 * time.Minute
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{
		opts:    opts,
		now:     opts.Now,
		log:     opts.Logger,
		catalog: cat,
		mfa:     newMFAState(),
		regions: map[string]*region{},
	}
	for _, r := range s.catalog.Regions {
		s.regions[r.Name] = newRegion(s, r)
	}
	s.ec2, s.sts = s.ec2Actions(), s.stsActions()
	s.iam = newIAMState(opts.AccountID)
	s.chaos = newChaosState(opts.Seed)
	if err := s.RegisterMFA(s.DefaultMFASerial(), DefaultMFASecret); err != nil {
		panic(err) // the constant secret is valid base32
	}
	return s
}

// AccountID returns the emulated account id.
func (s *Sim) AccountID() string { return s.opts.AccountID }

// Regions returns the names of the emulated regions, sorted.
func (s *Sim) Regions() []string { return s.catalog.regionNames() }

// DefaultMFASerial returns the serial (ARN) of the MFA device New registers.
func (s *Sim) DefaultMFASerial() string {
	return "arn:aws:iam::" + s.opts.AccountID + ":mfa/" + DefaultUserName
}

// DefaultUserARN returns the ARN of the identity DefaultAccessKeyID maps to.
func (s *Sim) DefaultUserARN() string {
	return "arn:aws:iam::" + s.opts.AccountID + ":user/" + DefaultUserName
}

// Reset drops every instance, request, template, session, fault, capacity
// override and registered image, as /_sim/reset does. Registered MFA devices
// and roles are configuration and survive, but their used-code memory does
// not. Each part is reset under its own lock, so Reset may run while
// requests are served.
func (s *Sim) Reset() {
	for _, r := range s.regions {
		r.reset()
	}
	s.iam.reset()
	s.chaos.reset()
	s.mfa.forgetUsed()
	s.counters.reset()
}

// nextID returns a fresh 64-bit identifier. splitmix64 is a bijection, so
// distinct counter values never collide, and the seed makes the sequence
// reproducible.
func (s *Sim) nextID() uint64 {
	return mix64(uint64(s.opts.Seed) ^ s.seq.Add(1)*0x9e3779b97f4a7c15)
}

// mix64 is the splitmix64 finaliser.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ServeHTTP serves the Query API on any path but /_sim/, which is the
// control API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Path) >= 6 && r.URL.Path[:6] == "/_sim/" {
		s.serveControl(w, r)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(w, r, target)
		return
	}
	s.serveQuery(w, r)
}
