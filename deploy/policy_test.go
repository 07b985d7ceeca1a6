package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/deploy"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name, hcl string
		want      []deploy.Rule
		wantErr   string
	}{
		{name: "blocks and comments",
			hcl:  "# c\npath \"a/*\" {\n  capabilities = [\"read\", \"list\"] # why\n}\npath \"b\" { capabilities = [] }\n",
			want: []deploy.Rule{{Path: "a/*", Capabilities: []string{"read", "list"}}, {Path: "b"}}},
		{name: "anything else is refused", hcl: "path \"a\" { capabilities = [\"read\"] }\nmax_ttl = \"1h\"\n", wantErr: "other than path blocks"},
		{name: "a second attribute in a block is refused",
			hcl: "path \"a\" {\n capabilities = [\"read\"]\n denied_parameters = {}\n}\n", wantErr: "other than path blocks"},
		{name: "an unquoted capability is refused", hcl: "path \"a\" { capabilities = [read] }\n", wantErr: "not a quoted word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deploy.ParsePolicy(tt.hcl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicy = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.EqualFunc(got, tt.want, func(a, b deploy.Rule) bool {
				return a.Path == b.Path && slices.Equal(a.Capabilities, b.Capabilities)
			}) {
				t.Fatalf("ParsePolicy = %v, %v; want %v", got, err, tt.want)
			}
			again, err := deploy.ParsePolicy(deploy.FormatPolicy(got))
			if err != nil || len(again) != len(got) {
				t.Fatalf("FormatPolicy does not parse back: %v, %v", again, err)
			}
		})
	}
}

// TestVaultPolicyRenamed: rendered for other names, every path moves to
// them and none keeps a default name; rendered for the defaults it is the
// file.
func TestVaultPolicyRenamed(t *testing.T) {
	file, err := deploy.ParsePolicy(deploy.VaultPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(file) < 10 {
		t.Fatalf("the shipped policy parses to %d rules", len(file))
	}
	same, err := deploy.VaultPolicy(deploy.DefaultVaultNames())
	if err != nil || deploy.FormatPolicy(same) != deploy.FormatPolicy(file) {
		t.Fatalf("rendered for the defaults:\n%s\nwant the file's rules (%v)", deploy.FormatPolicy(same), err)
	}
	n := deploy.VaultNames{KVMount: "kv-x", TransitMount: "tr-x", KeyName: "cred-x", SigningKeyName: "sign-x"}
	got, err := deploy.VaultPolicy(n)
	if err != nil {
		t.Fatal(err)
	}
	text := deploy.FormatPolicy(got)
	for _, want := range []string{`"kv-x/data/*"`, `"kv-x/metadata/*"`, `"tr-x/encrypt/cred-x"`, `"tr-x/decrypt/cred-x"`,
		`"tr-x/keys/cred-x"`, `"tr-x/sign/sign-x"`, `"tr-x/keys/sign-x/rotate"`, `"auth/token/renew-self"`} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered policy lacks %s:\n%s", want, text)
		}
	}
	for _, old := range []string{`"spotter/`, `"transit/`, "spotter-credentials", "spotter-tokens"} {
		if strings.Contains(text, old) {
			t.Errorf("rendered policy still names %s:\n%s", old, text)
		}
	}
}
