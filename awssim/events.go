package awssim

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// EventBridge detail types of the events the sim records (EC2 User Guide:
// "rebalance-recommendations", "spot-instance-termination-notices",
// instance state-change notifications).
const (
	detailRebalance    = "EC2 Instance Rebalance Recommendation"
	detailInterruption = "EC2 Spot Instance Interruption Warning"
	detailStateChange  = "EC2 Instance State-change Notification"
)

// maxEvents is how many events the log keeps; older ones are dropped. A
// simulated CI day with a few hundred instances makes some thousands.
const maxEvents = 100_000

// Event is one EC2 event as EventBridge delivers it (source aws.ec2), with
// the sim's sequence number and the exact time beside EventBridge's
// second-precision one.
type Event struct {
	Seq        uint64      `json:"seq"`
	At         time.Time   `json:"at"`
	Version    string      `json:"version"`
	ID         string      `json:"id"`
	DetailType string      `json:"detail-type"`
	Source     string      `json:"source"`
	Account    string      `json:"account"`
	Time       string      `json:"time"`
	Region     string      `json:"region"`
	Resources  []string    `json:"resources"`
	Detail     EventDetail `json:"detail"`
}

// EventDetail is the detail of the three kinds: instance-action for an
// interruption warning (terminate, stop or hibernate), state for a
// state change.
type EventDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action,omitempty"`
	State          string `json:"state,omitempty"`
}

// eventRec is an event as the log keeps it: compact, rendered into an
// Event only when read, so launches that nobody watches cost little.
type eventRec struct {
	seq        uint64
	at         time.Time
	region     string
	instanceID string
	detailType string
	action     string
	state      string
}

// eventLog is the sim's events in the order they were carried out: time
// order within a region. Regions append under their own lock, then this.
type eventLog struct {
	mu     sync.Mutex
	seq    uint64
	events []eventRec
}

func (l *eventLog) add(e eventRec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.seq = l.seq
	if len(l.events) == maxEvents {
		n := copy(l.events, l.events[maxEvents/10:])
		clear(l.events[n:])
		l.events = l.events[:n]
	}
	l.events = append(l.events, e)
}

func (l *eventLog) since(seq uint64) []eventRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.events), func(i int) bool { return l.events[i].seq > seq })
	return append([]eventRec{}, l.events[i:]...)
}

func (l *eventLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = nil
}

func (r *region) logEvent(in *instance, at time.Time, detailType, action, state string) {
	r.sim.events.add(eventRec{at: at, region: r.name, instanceID: in.id, detailType: detailType, action: action, state: state})
}

func (r *region) logState(in *instance, at time.Time, state string) {
	r.logEvent(in, at, detailStateChange, "", state)
}

// event renders a record as EventBridge delivers it. Its id is a
// function of the seed and the record, so replays give the same ids.
func (s *Sim) event(e eventRec) Event {
	n := mix64(uint64(s.opts.Seed) ^ stableHash(fmt.Sprintf("event/%d/%s/%s/%s", e.at.UnixNano(), e.instanceID, e.detailType, e.state)))
	return Event{
		Seq: e.seq, At: e.at, Version: "0",
		ID:         fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(n), uint16(n>>32), uint16(n>>48), uint16(n>>16), n&0xffffffffffff),
		DetailType: e.detailType, Source: "aws.ec2", Account: s.opts.AccountID,
		Time: e.at.UTC().Format(time.RFC3339), Region: e.region,
		Resources: []string{"arn:aws:ec2:" + e.region + ":" + s.opts.AccountID + ":instance/" + e.instanceID},
		Detail:    EventDetail{InstanceID: e.instanceID, InstanceAction: e.action, State: e.state},
	}
}

// Events carries out what is due and returns the events recorded after
// sequence number since (0: all the log holds), in the order they were
// carried out.
func (s *Sim) Events(since uint64) []Event {
	s.settleAll(s.now())
	recs := s.events.since(since)
	out := make([]Event, len(recs))
	for i, e := range recs {
		out[i] = s.event(e)
	}
	return out
}
