package pool

import (
	"slices"
	"strings"
)

// Bootstrap templates a pool may name: each is a POSIX sh script that
// fetches the pool's secrets from spotter once and starts that agent.
const (
	BootstrapBuildkite     = "buildkite-agent"
	BootstrapGitHubRunner  = "github-runner"
	BootstrapGenericWorker = "generic-worker"
)

// BootstrapTemplates lists the names Bootstrap accepts.
func BootstrapTemplates() []string {
	return []string{BootstrapBuildkite, BootstrapGitHubRunner, BootstrapGenericWorker}
}

// validateBootstrap holds the template name to the known ones. A template
// is the whole user data of the pool's instances (it carries the one-use
// credential), so it does not mix with the operator's own user data:
// setup belongs in the AMI, where it is not run at every launch.
func (p *Pool) validateBootstrap() error {
	switch {
	case p.Bootstrap == "":
		if p.TerminateAfterJob {
			return invalid("terminateAfterJob", "needs a bootstrap template (%s) to start the agents that end after a job", strings.Join(BootstrapTemplates(), ", "))
		}
		return nil
	case !slices.Contains(BootstrapTemplates(), p.Bootstrap):
		return invalid("bootstrap", "%q is not a template; use one of %s, or \"\" for none", truncate(p.Bootstrap, 64), strings.Join(BootstrapTemplates(), ", "))
	case p.UserData != "":
		return invalid("userData", "a pool with bootstrap %q launches with the template's script as its user data; bake your setup into the AMI, or drop bootstrap", p.Bootstrap)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
