package pool

import "time"

// Activity is what the CI sources saw of one instance's agents (the jobs
// that named it by its runner, agent or worker): the jobs running on it
// now, the jobs it finished, and when it finished the last one.
type Activity struct {
	Running  int       `json:"running"`
	Done     int       `json:"done"`
	LastDone time.Time `json:"lastDone,omitzero"`
}
