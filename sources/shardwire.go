package sources

import (
	"encoding/json"
	"time"
)

// shardWire is a shard as stored: times as Unix seconds and a job's
// instance left out (its runner's name carries it), so a shard at its
// caps is about 11 KiB and reads and writes in a fraction of the time a
// record of time strings takes.
type shardWire struct {
	Incarnation string             `json:"incarnation"`
	Jobs        map[string]jobWire `json:"j"`
	Deliveries  map[string]int64   `json:"d"`
	Legacy      map[string]int64   `json:"l,omitempty"`
}

type jobWire struct {
	State  int    `json:"s"`
	Repo   string `json:"r,omitempty"`
	Runner string `json:"n,omitempty"`
	At     int64  `json:"t"`
	Ended  int64  `json:"e,omitempty"`
}

func encodeShard(incarnation string, t Tracker) ([]byte, error) {
	w := shardWire{Incarnation: incarnation, Jobs: make(map[string]jobWire, len(t.Jobs)),
		Deliveries: make(map[string]int64, len(t.Deliveries)), Legacy: stamps(t.Legacy)}
	for k, j := range t.Jobs {
		jw := jobWire{State: j.State, Repo: j.Repo, Runner: j.Runner, At: j.At.Unix()}
		if !j.Ended.IsZero() {
			jw.Ended = j.Ended.Unix()
		}
		w.Jobs[k] = jw
	}
	for id, at := range t.Deliveries {
		w.Deliveries[id] = at.Unix()
	}
	return json.Marshal(w)
}

func decodeShard(b []byte) (string, Tracker, error) {
	var w shardWire
	if err := json.Unmarshal(b, &w); err != nil {
		return "", Tracker{}, err
	}
	t := Tracker{Jobs: make(map[string]Job, len(w.Jobs)), Deliveries: make(map[string]time.Time, len(w.Deliveries)), Legacy: times(w.Legacy)}
	for k, jw := range w.Jobs {
		j := Job{State: jw.State, Repo: jw.Repo, Runner: jw.Runner, Instance: InstanceOf(jw.Runner), At: time.Unix(jw.At, 0).UTC()}
		if jw.Ended != 0 {
			j.Ended = time.Unix(jw.Ended, 0).UTC()
		}
		t.Jobs[k] = j
	}
	for id, at := range w.Deliveries {
		t.Deliveries[id] = time.Unix(at, 0).UTC()
	}
	return w.Incarnation, t, nil
}

func stamps(m map[string]time.Time) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v.Unix()
	}
	return out
}

func times(m map[string]int64) map[string]time.Time {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = time.Unix(v, 0).UTC()
	}
	return out
}
