package awssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// serveControl is the /_sim/ API for tests and demos. Requests and replies
// are JSON; errors are {"error": "..."} with a 4xx status.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	if s.serveTimeControl(w, r, route) {
		return
	}
	var err error
	switch route {
	case "GET /_sim/state":
		writeJSON(w, http.StatusOK, s.State())
		return
	case "GET /_sim/pools":
		q := r.URL.Query()
		var ps []PoolState
		if ps, err = s.Pools(q.Get("region"), q.Get("instanceType")); err == nil {
			writeJSON(w, http.StatusOK, ps)
			return
		}
	case "POST /_sim/capacity":
		err = s.controlCapacity(r)
	case "POST /_sim/faults":
		var f fault
		if err = decodeJSON(r, &f); err == nil {
			err = s.InjectFault(f.Action, f.Code, f.Rate, f.Count)
		}
	case "DELETE /_sim/faults":
		s.ClearFaults()
	case "POST /_sim/latency":
		var body struct {
			Action string `json:"action"`
			MS     int    `json:"ms"`
		}
		if err = decodeJSON(r, &body); err == nil {
			err = s.SetLatency(body.Action, time.Duration(body.MS)*time.Millisecond)
		}
	case "POST /_sim/interrupt":
		var body struct {
			InstanceID string `json:"instanceId"`
		}
		if err = decodeJSON(r, &body); err == nil {
			err = s.Interrupt(body.InstanceID)
		}
	case "POST /_sim/shutdown":
		var body struct {
			InstanceID string `json:"instanceId"`
		}
		if err = decodeJSON(r, &body); err == nil {
			err = s.Shutdown(body.InstanceID)
		}
	case "POST /_sim/image":
		var body struct {
			Region       string `json:"region"`
			ImageID      string `json:"imageId"`
			Architecture string `json:"architecture"`
		}
		if err = decodeJSON(r, &body); err == nil {
			err = s.SetImage(body.Region, body.ImageID, body.Architecture)
		}
	case "POST /_sim/mfa":
		var body struct {
			SerialNumber string `json:"serialNumber"`
			Secret       string `json:"secret"`
		}
		if err = decodeJSON(r, &body); err == nil {
			err = s.RegisterMFA(body.SerialNumber, body.Secret)
		}
	case "POST /_sim/reset":
		s.Reset()
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such control endpoint: " + route})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (s *Sim) controlCapacity(r *http.Request) error {
	var body struct {
		Region           string `json:"region"`
		AvailabilityZone string `json:"availabilityZone"`
		InstanceType     string `json:"instanceType"`
		Available        *int   `json:"available"`
		Market           string `json:"market"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Available == nil {
		return errors.New("available is required")
	}
	return s.SetCapacity(body.Region, body.AvailabilityZone, body.InstanceType, body.Market == "on-demand", *body.Available)
}

// SetCapacity sets how many more instances a pool can take. An empty zone or
// type applies to all zones of the region or all types; onDemand selects the
// on-demand pool instead of the spot one.
func (s *Sim) SetCapacity(regionName, zone, itype string, onDemand bool, available int) error {
	if regionName == "" {
		regionName = DefaultRegion
	}
	r, ok := s.regions[regionName]
	if !ok {
		return fmt.Errorf("unknown region %q", regionName)
	}
	if available < 0 {
		return errors.New("available must not be negative")
	}
	if zone != "" {
		if _, ok := r.zone(zone); !ok {
			return fmt.Errorf("unknown availability zone %q in %s", zone, regionName)
		}
	}
	if itype != "" && !r.offered(itype) {
		return fmt.Errorf("instance type %q is not offered in %s", itype, regionName)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, z := range r.zones {
		if zone != "" && z.Name != zone {
			continue
		}
		for _, t := range s.catalog.offered[regionName] {
			if itype != "" && t.Name != itype {
				continue
			}
			p := r.pool(z.Name, t.Name)
			if onDemand {
				p.odCap = p.odUsed + available
			} else {
				p.spotCap = p.spotUsed + available
			}
		}
	}
	return nil
}

// InjectFault makes a share (rate) of the calls to action ("*" for any)
// fail with code, count times (0: until reset).
func (s *Sim) InjectFault(action, code string, rate float64, count int) error {
	if action == "" || code == "" {
		return errors.New("action and code are required")
	}
	if rate <= 0 || rate > 1 {
		return fmt.Errorf("rate %v must be in (0, 1]", rate)
	}
	if count < 0 {
		return errors.New("count must not be negative")
	}
	s.chaos.addFault(fault{Action: action, Code: code, Rate: rate, Count: count})
	return nil
}

// ClearFaults removes every injected fault (latencies stay), so a test can
// end an outage and see what the clients' retries make of it.
func (s *Sim) ClearFaults() { s.chaos.clearFaults() }

// SetLatency delays every call to action ("*" for any) by d; zero removes it.
func (s *Sim) SetLatency(action string, d time.Duration) error {
	if action == "" {
		return errors.New("action is required")
	}
	if d > time.Minute {
		return errors.New("latency above one minute is refused")
	}
	s.chaos.setLatency(action, d)
	return nil
}

// findInstance locates an instance in any region and returns it with its
// region locked; the caller must unlock.
func (s *Sim) findInstance(id string) (*region, *instance, error) {
	for _, r := range s.regions {
		r.mu.Lock()
		r.settle(s.now())
		if in, ok := r.instances[id]; ok {
			return r, in, nil
		}
		r.mu.Unlock()
	}
	return nil, nil, fmt.Errorf("instance %q not found", id)
}

// Shutdown emulates a shutdown from inside the instance (say, a TTL guard in
// user data): it stops or terminates per InstanceInitiatedShutdownBehavior.
func (s *Sim) Shutdown(instanceID string) error {
	r, in, err := s.findInstance(instanceID)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	reason := stateReason{"Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
	if in.shutdownBehavior == "terminate" {
		r.terminateInstance(in, s.now(), reason, "instance-terminated-by-user")
	} else {
		r.stopInstance(in, s.now(), reason)
	}
	return nil
}
