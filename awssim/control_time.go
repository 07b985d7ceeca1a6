package awssim

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveTimeControl serves the control endpoints about time: the clock, the
// boot delay, the interruption rate, the event log and the instance
// metadata an instance would poll for its spot notices. It reports whether
// the route was one of them.
func (s *Sim) serveTimeControl(w http.ResponseWriter, r *http.Request, route string) bool {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/_sim/imds/"); ok && (r.Method == http.MethodGet || r.Method == http.MethodPut) {
		if r.Method == http.MethodPut {
			s.serveIMDSToken(w, r, rest)
			return true
		}
		if !s.imdsTokenOK(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		s.serveIMDS(w, rest)
		return true
	}
	var err error
	switch route {
	case "GET /_sim/clock":
		writeJSON(w, http.StatusOK, s.Clock())
		return true
	case "GET /_sim/identity-certificate":
		var pemText []byte
		if pemText, err = s.IdentityCertificate(); err == nil {
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Write(pemText)
			return true
		}
	case "POST /_sim/clock":
		if err = s.controlClock(r); err == nil {
			writeJSON(w, http.StatusOK, s.Clock())
			return true
		}
	case "POST /_sim/boot":
		var body delayJSON
		var d Delay
		if err = decodeJSON(r, &body); err == nil {
			if d, err = body.delay(EC2BootDelay); err == nil {
				err = s.SetBootDelay(d)
			}
		}
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]string{"boot": d.String()})
			return true
		}
	case "POST /_sim/interruptions":
		err = s.controlInterruptions(r)
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
			return true
		}
	case "GET /_sim/events":
		var since uint64
		if v := r.URL.Query().Get("since"); v != "" {
			if since, err = strconv.ParseUint(v, 10, 64); err != nil {
				err = fmt.Errorf("since must be an event's seq, a whole number: %q", v)
				break
			}
		}
		evs := s.Events(since)
		next := since
		if len(evs) > 0 {
			next = evs[len(evs)-1].Seq
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": evs, "next": next})
		return true
	default:
		return false
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	return true
}

func (s *Sim) controlClock(r *http.Request) error {
	var body struct {
		Advance string `json:"advance"`
		Set     string `json:"set"`
		Freeze  *bool  `json:"freeze"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Advance == "" && body.Set == "" && body.Freeze == nil {
		return errors.New(`give advance ("10m"), set (RFC 3339) or freeze (true/false)`)
	}
	var d time.Duration
	var t time.Time
	var err error
	if body.Advance != "" {
		if d, err = time.ParseDuration(body.Advance); err != nil {
			return fmt.Errorf("advance: %w", err)
		}
	}
	if body.Set != "" {
		if t, err = time.Parse(time.RFC3339Nano, body.Set); err != nil {
			return fmt.Errorf("set: %w", err)
		}
		if t.IsZero() {
			return errors.New("set needs a time after year 1")
		}
	}
	if body.Freeze != nil {
		s.FreezeClock(*body.Freeze)
	}
	if body.Advance == "" && body.Set == "" {
		return nil
	}
	_, err = s.moveClock(t, d)
	return err
}

func (s *Sim) controlInterruptions(r *http.Request) error {
	var body struct {
		RatePerHour   *float64   `json:"ratePerHour"`
		RebalanceLead *delayJSON `json:"rebalanceLead"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.RatePerHour == nil && body.RebalanceLead == nil {
		return errors.New("give ratePerHour (interruptions per spot instance-hour) or rebalanceLead")
	}
	if body.RebalanceLead != nil {
		d, err := body.RebalanceLead.delay(DefaultRebalanceLead)
		if err != nil {
			return fmt.Errorf("rebalanceLead: %w", err)
		}
		if err := s.SetRebalanceLead(d); err != nil {
			return err
		}
	}
	if body.RatePerHour != nil {
		return s.SetInterruptionRate(*body.RatePerHour)
	}
	return nil
}

// SetBootDelay sets the distribution of the boot delay (pending → running)
// of the instances launched from now on.
func (s *Sim) SetBootDelay(d Delay) error {
	if err := d.Validate(); err != nil {
		return err
	}
	for _, r := range s.regions {
		r.mu.Lock()
		r.boot = d
		r.mu.Unlock()
	}
	return nil
}

// SetRebalanceLead sets how long before its interruption notice a spot
// instance gets its rebalance recommendation, for recommendations given
// from now on.
func (s *Sim) SetRebalanceLead(d Delay) error {
	if err := d.Validate(); err != nil {
		return err
	}
	for _, r := range s.regions {
		r.mu.Lock()
		r.lead = d
		r.mu.Unlock()
	}
	return nil
}

// maxRate is far above any real interruption rate (100 per instance-hour
// is one every 36 s) and keeps the hazard arithmetic finite.
const maxRate = 100

func validRate(rate float64) error {
	if math.IsNaN(rate) || rate < 0 || rate > maxRate {
		return fmt.Errorf("rate %v must be in [0, %d] interruptions per spot instance-hour", rate, maxRate)
	}
	return nil
}

// SetInterruptionRate sets how many spot interruptions happen per spot
// instance-hour from now on, in every region; live spot instances keep
// what they have left of their seeded hazard and spend it at the new rate.
func (s *Sim) SetInterruptionRate(rate float64) error {
	if err := validRate(rate); err != nil {
		return err
	}
	now := s.now()
	for _, name := range s.catalog.regionNames() {
		r := s.regions[name]
		r.mu.Lock()
		r.setRate(rate, now)
		r.mu.Unlock()
	}
	return nil
}

// Interrupt interrupts a spot instance now: its rebalance recommendation
// (unless it had one), its interruption notice, and after
// Options.InterruptionNotice its termination (or stop, per its interruption
// behaviour), as AWS does. An instance already noticed, stopped or ended is
// left alone.
func (s *Sim) Interrupt(instanceID string) error {
	r, in, err := s.findInstance(instanceID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if !in.spot() {
		return fmt.Errorf("instance %s is not a spot instance", instanceID)
	}
	now := s.now()
	if !in.noticeAt.IsZero() || !in.liveAt(now) {
		return nil
	}
	in.riskGen++ // what was scheduled is overtaken
	if in.rebalanceAt.IsZero() {
		in.rebalanceAt = now
		r.logEvent(in, now, detailRebalance, "", "")
	}
	r.notice(in, now)
	return nil
}

// serveIMDS answers what an instance reads from its metadata service
// about spot notices, at /_sim/imds/<instance-id>/latest/meta-data/…:
// spot/instance-action ({"action","time"}), spot/termination-time (the
// legacy bare time, terminate only) and events/recommendations/rebalance
// ({"noticeTime"}); 404 while there is nothing, as on EC2.
func (s *Sim) serveIMDS(w http.ResponseWriter, rest string) {
	id, path, _ := strings.Cut(rest, "/")
	if s.serveIdentity(w, id, path) {
		return
	}
	body, found, err := s.Metadata(id, path)
	switch {
	case err != nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case !found:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("Not Found"))
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(body))
	}
}

// Metadata is what an instance's metadata service answers at path (under
// /latest/meta-data/) about its spot notices; found is false where EC2
// answers 404. An unknown instance or path is an error.
func (s *Sim) Metadata(instanceID, path string) (body string, found bool, err error) {
	path, ok := strings.CutPrefix(path, "latest/meta-data/")
	if !ok {
		return "", false, fmt.Errorf("want /_sim/imds/<instance-id>/latest/meta-data/<path>, got %q", path)
	}
	r, in, err := s.findInstance(instanceID)
	if err != nil {
		return "", false, err
	}
	defer r.mu.Unlock()
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch path {
	case "instance-id":
		return in.id, true, nil
	case "instance-life-cycle":
		return lifecycleName(in), true, nil
	case "spot/instance-action":
		if in.noticeAt.IsZero() {
			return "", false, nil
		}
		return `{"action":"` + in.interruptionBehavior + `","time":"` + stamp(in.interruptAt) + `"}`, true, nil
	case "spot/termination-time":
		if in.noticeAt.IsZero() || in.interruptionBehavior != "terminate" {
			return "", false, nil
		}
		return stamp(in.interruptAt), true, nil
	case "events/recommendations/rebalance":
		if in.rebalanceAt.IsZero() {
			return "", false, nil
		}
		return `{"noticeTime":"` + stamp(in.rebalanceAt) + `"}`, true, nil
	}
	return "", false, fmt.Errorf("metadata path %q is not emulated; use spot/instance-action, spot/termination-time, events/recommendations/rebalance, instance-id or instance-life-cycle", path)
}
