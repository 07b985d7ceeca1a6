package bootstrap_test

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/liveness"
)

// BenchmarkHeartbeat is one beat on the embedded store: "taken" within
// half an interval of the last write (two reads: the credential and the
// liveness record, plus the pool), "written" with the state flipping so
// every beat writes. The clock moves 5 ms a beat, the heartbeat rate's
// spacing, so the limiter never refuses.
func BenchmarkHeartbeat(b *testing.B) {
	for name, flip := range map[string]bool{"taken": false, "written": true} {
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, backends()["embedded"], false)
			f.heartbeatPool(b)
			const id = "i-0123456789abcdef0"
			g := f.bootstrapped(b, id, launchCT)
			states := []string{liveness.StateBusy, liveness.StateIdle}
			b.ResetTimer()
			for i := range b.N {
				state := ""
				if flip {
					state = states[i%2]
				}
				if _, err := f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: g.Heartbeat, InstanceID: id, State: state}); err != nil {
					b.Fatal(err)
				}
				f.clk.Add(5 * time.Millisecond)
			}
		})
	}
}
