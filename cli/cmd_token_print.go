package cli

// How token commands print: secrets once, token info as label/value lines,
// policies and JSON values as table cells.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spotter-dev/spotter/api"
)

// sourceLabel is a source's name as its provider writes it.
func sourceLabel(src string) string {
	switch src {
	case "ifttt":
		return "IFTTT"
	case "twilio":
		return "Twilio"
	case "slack":
		return "Slack"
	case "mailgun":
		return "Mailgun"
	}
	return src
}

func totpField(e *api.TOTPEnrolment, f func(*api.TOTPEnrolment) string) string {
	if e == nil {
		return ""
	}
	return f(e)
}

type secretLine struct{ label, value string }

// printSecrets prints the secrets of a create or rotate under a warning
// that they are not shown again; empty ones are left out.
func printSecrets(w io.Writer, lines []secretLine) {
	fmt.Fprintln(w, "\nSECRETS — shown once, never again; anyone holding them can use this token:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range lines {
		if l.value != "" {
			fmt.Fprintf(tw, "  %s:\t%s\n", l.label, l.value)
		}
	}
	tw.Flush()
}

// printTokenInfo prints a token as label/value lines; withPolicy adds its
// policy, one field a line.
func printTokenInfo(w io.Writer, t api.TokenInfo, withPolicy bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", t.ID)
	row("Name", t.Name)
	if t.Status != "" {
		row("Status", t.Status)
	}
	row("Credentials", credentialSummary(t.Credentials))
	row("MFA", mfaSummary(t.MFA))
	if t.MFALock != nil {
		row("MFA lock", lockSummary(t.MFALock))
	}
	row("Signature", map[bool]string{true: "required", false: "not required"}[t.RequireSignature])
	row("Created", timeOrDash(&t.CreatedAt))
	row("Expires", timeOrDash(t.ExpiresAt))
	if t.RotatedAt != nil {
		row("Rotated", timeOrDash(t.RotatedAt))
	}
	if t.RevokedAt != nil {
		row("Revoked", timeOrDash(t.RevokedAt))
	}
	if t.KeyID != "" {
		row("Signing key", t.KeyID)
	}
	if len(t.Sources) > 0 {
		row("Sources", strings.Join(t.Sources, ", "))
	}
	if withPolicy {
		row("Policy", "")
		for _, kv := range policyLines(t.Policy) {
			row("  "+kv[0], kv[1])
		}
	}
	tw.Flush()
}

func credentialSummary(c api.CredentialRef) string {
	parts := []string{cmp.Or(c.Type, "?")}
	if c.AccessKeyID != "" {
		parts = append(parts, c.AccessKeyID)
	}
	if c.RoleARN != "" {
		parts = append(parts, c.RoleARN)
	}
	return strings.Join(parts, " ")
}

func mfaSummary(m api.MFAInfo) string {
	if m.SerialNumber != "" {
		return cmp.Or(m.Type, "aws") + " " + m.SerialNumber
	}
	return cmp.Or(m.Type, "none")
}

// policyLines renders a policy as sorted field/value pairs from its JSON, so
// fields the server adds show up without a client change.
func policyLines(p api.Policy) [][2]string {
	b, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][2]string
	for _, k := range keys {
		if v := cell(m[k]); v != "-" && v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// cell formats one JSON value for a table.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = cell(e)
		}
		return strings.Join(s, ",")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = k + "=" + cell(x[k])
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v)
}
