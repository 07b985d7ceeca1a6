package secrets

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/internal/logthrottle"
)

// A Raft cluster answers on every node: a standby forwards requests to the
// leader (or, while it knows of none, redirects to the last one, which the
// client follows). So spotter needs only one live node at a time; the others
// in VaultConfig.Addrs are where it goes when the current one stops
// answering. There is no health polling and no load spreading: the node in
// use is kept until it fails, and the next call after a failure goes on to
// the next address.

// nodeList is Addr then Addrs, without blanks or repeats.
func nodeList(addr string, more []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, a := range append([]string{addr}, more...) {
		a = strings.TrimRight(strings.TrimSpace(a), "/")
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// onAnyNode runs call and, while it fails because the node did not answer
// (see nodeDown) and ctx has time left, moves the client to the next node
// and runs call again: at most once per node, so a cluster with no leader
// costs len(nodes) quick failures, not a hang. A call that reached its
// deadline with no reply moves the client on for the calls after it.
//
// A write whose reply was lost may have been applied before it is sent
// again; for a check-and-set write that shows as ErrConflict, which fails
// closed (a replay marker or a reservation refused), never as a double write.
func (v *Vault) onAnyNode(ctx context.Context, call func() error) error {
	at := v.currentNode()
	err := call()
	for tried := 1; tried < len(v.nodes) && nodeDown(err) && ctx.Err() == nil; tried++ {
		at = v.nextNode(at)
		err = call()
	}
	if len(v.nodes) > 1 && timedOut(err) {
		// The node held the call to its deadline without a word: hung, or
		// cut off with its port still open. This call is out of time, but
		// the next must not wait on the same node.
		v.nextNode(at)
	}
	return err
}

// timedOut reports whether err is a deadline passing with no reply.
func timedOut(err error) bool {
	var re *api.ResponseError
	if err == nil || errors.As(err, &re) {
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (v *Vault) currentNode() int {
	v.nodeMu.Lock()
	defer v.nodeMu.Unlock()
	return v.node
}

// nextNode moves the client off node failed, unless a concurrent call has
// already moved it (then one failure does not skip a live node), and
// returns the node now in use.
func (v *Vault) nextNode(failed int) int {
	v.nodeMu.Lock()
	defer v.nodeMu.Unlock()
	if v.node != failed {
		return v.node
	}
	to := (failed + 1) % len(v.nodes)
	if err := v.client.SetAddress(v.nodes[to]); err != nil {
		// nodeList's entries parsed once already as VAULT_ADDR does;
		// should one not, the next failure tries the one after it.
		v.log.Error("cannot switch vault node", "to", v.nodes[to], "err", err)
	}
	v.node = to
	if v.switchLog.Allow(v.nodes[failed]) {
		v.log.Warn("vault node did not answer; switching to the next", "from", v.nodes[failed], "to", v.nodes[to])
	}
	return to
}

// newSwitchLog bounds the switch warnings: in an outage every failing call
// switches, and the log needs the first of each node's, then a count.
func newSwitchLog(log *slog.Logger) *logthrottle.Limiter[string] {
	return &logthrottle.Limiter[string]{Every: 10 * time.Second, Emit: func(s logthrottle.Summary[string]) {
		log.Warn("vault node switches not logged", "from", s.Key, "suppressed", s.Suppressed, "since", s.Since)
	}}
}

// nodeDown reports whether err means the node did not serve the request at
// all: no reply (refused, reset, TLS failure, timeout), sealed or not ready
// (503), or a proxy's 502/504. Any other reply came from a working cluster,
// and another node would answer the same.
func nodeDown(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return true
	}
	switch re.StatusCode {
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}
