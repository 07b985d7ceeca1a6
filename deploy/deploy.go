// Package deploy holds what an operator installs beside spotter — the Vault
// policy, the systemd unit, the Kubernetes manifests, the Prometheus alert
// rules — embedded, so the tests check the very files the README points at.
package deploy

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// VaultPolicyFile is deploy/vault/spotter.hcl as shipped, for the default
// names.
//
//go:embed vault/spotter.hcl
var VaultPolicyFile string

// VaultNames are the Vault mounts and transit keys a spotter store uses
// (secrets.VaultConfig's KVMount, TransitMount, KeyName, SigningKeyName).
type VaultNames struct {
	KVMount, TransitMount, KeyName, SigningKeyName string
}

// DefaultVaultNames are the names VaultPolicyFile is written for (and
// spotter's defaults).
func DefaultVaultNames() VaultNames {
	return VaultNames{KVMount: "spotter", TransitMount: "transit", KeyName: "spotter-credentials", SigningKeyName: "spotter-tokens"}
}

// Rule is one `path "…" { capabilities = […] }` block of a policy.
type Rule struct {
	Path         string
	Capabilities []string
}

var (
	ruleRE    = regexp.MustCompile(`(?s)path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}`)
	commentRE = regexp.MustCompile(`(?m)#.*$`)
	capRE     = regexp.MustCompile(`^"([a-z]+)"$`)
)

// ParsePolicy reads a policy written as VaultPolicyFile is: path blocks with
// one capabilities list each, and # comments. Anything else is an error, so
// a rule this parser would miss cannot hide in the file.
func ParsePolicy(hcl string) ([]Rule, error) {
	text := commentRE.ReplaceAllString(hcl, "")
	var rules []Rule
	for _, m := range ruleRE.FindAllStringSubmatch(text, -1) {
		r := Rule{Path: m[1]}
		for c := range strings.SplitSeq(m[2], ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			cm := capRE.FindStringSubmatch(c)
			if cm == nil {
				return nil, fmt.Errorf("policy path %q: capability %s is not a quoted word", r.Path, c)
			}
			r.Capabilities = append(r.Capabilities, cm[1])
		}
		rules = append(rules, r)
	}
	if rest := strings.TrimSpace(ruleRE.ReplaceAllString(text, "")); rest != "" {
		return nil, fmt.Errorf("policy holds something other than path blocks: %.60q", rest)
	}
	return rules, nil
}

// FormatPolicy writes rules back as HCL Vault reads.
func FormatPolicy(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "path %q {\n  capabilities = [", r.Path)
		for i, c := range r.Capabilities {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", c)
		}
		b.WriteString("]\n}\n\n")
	}
	return b.String()
}

// VaultPolicy is VaultPolicyFile's rules for names: each rule's mount segment
// and key-name segments renamed from the defaults. auth/ paths stay.
func VaultPolicy(n VaultNames) ([]Rule, error) {
	rules, err := ParsePolicy(VaultPolicyFile)
	if err != nil {
		return nil, err
	}
	d := DefaultVaultNames()
	for i, r := range rules {
		segs := strings.Split(r.Path, "/")
		switch segs[0] {
		case d.KVMount:
			segs[0] = n.KVMount
		case d.TransitMount:
			segs[0] = n.TransitMount
			for j := 1; j < len(segs); j++ {
				switch segs[j] {
				case d.KeyName:
					segs[j] = n.KeyName
				case d.SigningKeyName:
					segs[j] = n.SigningKeyName
				}
			}
		case "auth":
		default:
			return nil, fmt.Errorf("policy path %q is on no mount spotter uses", r.Path)
		}
		rules[i].Path = strings.Join(segs, "/")
	}
	return rules, nil
}
