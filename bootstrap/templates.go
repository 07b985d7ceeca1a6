package bootstrap

import (
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/pool"
)

//go:embed templates/*.sh
var templateFS embed.FS

// Script returns a template's script without the credential: what a
// launch's user data holds after its three assignments.
func Script(name string) (string, error) {
	common, err := templateFS.ReadFile("templates/common.sh")
	if err != nil {
		return "", err
	}
	body, err := templateFS.ReadFile("templates/" + name + ".sh")
	if err != nil {
		return "", fmt.Errorf("bootstrap: no template %q", name)
	}
	return string(common) + string(body), nil
}

// render is a launch's user data: a shell script that knows spotter's URL
// and the launch's credential, and nothing else of spotter's.
func render(p pool.Pool, publicURL, serverCA, cred string) ([]byte, error) {
	script, err := Script(p.Bootstrap)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# spotter bootstrap %s for pool %s: trades the one-use credential below for the pool's secrets.\n", p.Bootstrap, p.Name)
	fmt.Fprintf(&b, "SPOTTER_URL=%s\nSPOTTER_CREDENTIAL=%s\n", shellQuote(publicURL), cred)
	if serverCA != "" {
		fmt.Fprintf(&b, "SPOTTER_CA_PEM=%s\n", shellQuote(serverCA))
	}
	b.WriteString(script)
	if b.Len() > policy.MaxUserDataBytes {
		return nil, fmt.Errorf("bootstrap: template %s renders %d bytes of user data, over %d", p.Bootstrap, b.Len(), policy.MaxUserDataBytes)
	}
	return []byte(b.String()), nil
}

// shellQuote single-quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Lines is the grant as the templates read it (Accept: text/plain): one
// "<kind> <scope|-> <name> <base64 value>" line per secret, and the
// settings as "agents N", "terminate-after-job 0|1", "label L",
// "heartbeat <seconds> <credential>". Names,
// scopes and labels are validated to hold no spaces, so sh's read splits
// them; values are base64.
func (g Grant) Lines() string {
	var b strings.Builder
	b.WriteString("agents " + strconv.Itoa(g.Agents) + "\n")
	t := "0"
	if g.TerminateAfterJob {
		t = "1"
	}
	b.WriteString("terminate-after-job " + t + "\n")
	for _, l := range g.Labels {
		b.WriteString("label " + l + "\n")
	}
	if g.Heartbeat != "" {
		b.WriteString("heartbeat " + strconv.Itoa(int(g.HeartbeatInterval/time.Second)) + " " + g.Heartbeat + "\n")
	}
	write := func(scope string, m map[string]string) {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "secret %s %s %s\n", scope, n, b64(m[n]))
		}
	}
	write("-", g.Secrets)
	scopes := make([]string, 0, len(g.Scoped))
	for s := range g.Scoped {
		scopes = append(scopes, s)
	}
	sort.Strings(scopes)
	for _, s := range scopes {
		write(s, g.Scoped[s])
	}
	return b.String()
}
