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
	// Now is the base clock; tests inject one to move time without
	// sleeping. The sim's own clock is Now plus what AdvanceClock and
	// SetClock added, or frozen (see Start and FreezeClock).
	Now func() time.Time
	// Start, when set, makes the clock virtual: it starts frozen at Start
	// and moves only by AdvanceClock and SetClock (or POST /_sim/clock),
	// so a benchmark runs a simulated day in seconds.
	Start time.Time
	// PendingDelay is how long an instance stays shutting-down (stopping)
	// before it is terminated (stopped), and, unless Boot is set, how long
	// it stays pending before it is running. Zero means immediate.
	PendingDelay time.Duration
	// Boot, when set, draws each instance's pending time from a
	// distribution instead: EC2BootDelay() is 20–90 s as on EC2. Nil keeps
	// PendingDelay for every instance, which is what tests and the sandbox
	// want: a box that is running as soon as they look.
	Boot *Delay
	// InterruptionRate is how many spot interruptions happen per spot
	// instance-hour (0.05: 5 % of instances an hour); zero means none but
	// those Interrupt sends. Each is a rebalance recommendation, then after
	// RebalanceLead the interruption notice, then after InterruptionNotice
	// the interruption. Seeded: the same calls give the same interruptions.
	InterruptionRate float64
	// RebalanceLead is how long before its notice an instance gets its
	// rebalance recommendation; DefaultRebalanceLead() (0–10 min) if nil.
	RebalanceLead *Delay
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
	clock   *simClock
	now     func() time.Time
	events  *eventLog
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

	identity identitySigner
	imds     imdsTokens
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
	boot, lead := FixedDelay(opts.PendingDelay), DefaultRebalanceLead()
	if opts.Boot != nil {
		boot = *opts.Boot
	}
	if opts.RebalanceLead != nil {
		lead = *opts.RebalanceLead
	}
	for _, d := range []Delay{boot, lead} {
		if err := d.Validate(); err != nil {
			panic("awssim: invalid Options delay: " + err.Error())
		}
	}
	if err := validRate(opts.InterruptionRate); err != nil {
		panic("awssim: invalid Options.InterruptionRate: " + err.Error())
	}
	clk := &simClock{base: opts.Now}
	if !opts.Start.IsZero() {
		clk.frozen, clk.at = true, opts.Start
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{
		opts:    opts,
		clock:   clk,
		now:     clk.Now,
		events:  &eventLog{},
		log:     opts.Logger,
		catalog: cat,
		mfa:     newMFAState(),
		regions: map[string]*region{},
	}
	for _, cr := range s.catalog.Regions {
		r := newRegion(s, cr)
		r.boot, r.lead, r.rate = boot, lead, opts.InterruptionRate
		s.regions[cr.Name] = r
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
// override, registered image and event, as /_sim/reset does. Registered MFA
// devices and roles are configuration and survive, but their used-code
// memory does not; so do the clock, the boot delay and the interruption
// rate. Each part is reset under its own lock, so Reset may run while
// requests are served.
func (s *Sim) Reset() {
	for _, r := range s.regions {
		r.reset()
	}
	s.iam.reset()
	s.chaos.reset()
	s.mfa.forgetUsed()
	s.events.reset()
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
