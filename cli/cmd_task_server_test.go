package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

// taskEnv creates a signed token in a fresh sandbox and returns the client
// environment that reaches its capability URL, with the signing secret in
// a file, and the token as created.
func taskEnv(t *testing.T, extra ...string) (map[string]string, api.CreatedToken, map[string]string) {
	t.Helper()
	admin, _ := startAdminSandbox(t)
	args := append([]string{"token", "create", "--name", "tasks", "--access-key-id", testKeyID, "--secret-access-key-stdin",
		"--region", "us-east-1", "--instance-types", "t3.micro,t3.small", "--ami", testAMI, "--max-count", "3",
		"--require-signature", "--json"}, extra...)
	r := mustCLI(t, admin, testSecret+"\n", args...)
	var c api.CreatedToken
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("token create: %v\n%s", err, r.stdout)
	}
	secretFile := filepath.Join(t.TempDir(), "signing-secret")
	if err := os.WriteFile(secretFile, []byte(c.SigningSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{cliEnvCapURL: c.URL, cliEnvSigningSecret: c.SigningSecret}, c, admin
}

func taskJSON(t *testing.T, env map[string]string, stdin string, args ...string) (client.TaskReply, cliResult) {
	t.Helper()
	r := mustCLI(t, env, stdin, append(args, "--json")...)
	var reply client.TaskReply
	if err := json.Unmarshal([]byte(r.stdout), &reply); err != nil {
		t.Fatalf("spotter %v --json printed %q: %v", args, r.stdout, err)
	}
	return reply, r
}

func instanceIDs(in []api.Instance) []string {
	ids := make([]string, len(in))
	for i, x := range in {
		ids[i] = x.ID
	}
	slices.Sort(ids)
	return ids
}

// TestTaskEndToEnd drives the task commands against a real sandbox server
// (awssim inside): signed requests, idempotent retries, wait, status,
// terminate, and the stable codes of refusals.
// TestTaskExtend: spotter task extend moves an instance's TTL within
// maxTTL and says which it did; past maxTTL is the server's refusal.
func TestTaskExtend(t *testing.T) {
	env, _, _ := taskEnv(t, "--tasks", "launch,terminate,status,extend", "--max-ttl", "4h")
	launched, _ := taskJSON(t, env, "", "task", "launch", "--ttl", "1h", "--idempotency-key", "extend-1")
	id := launched.Instances[0].ID
	reply, _ := taskJSON(t, env, "", "task", "extend", id, "--ttl", "3h")
	if len(reply.Extended) != 1 || reply.Extended[0].ID != id || !reply.Extended[0].ExpiresAt.After(reply.Extended[0].Was) {
		t.Fatalf("task extend %s --ttl 3h = %+v; want it extended", id, reply.Extended)
	}
	if got := reply.Extended[0].ExpiresAt.Sub(reply.Extended[0].Was); got < 2*time.Hour-time.Minute || got > 2*time.Hour+time.Minute {
		t.Errorf("extended by %s; want 2h (from a 1h TTL to 3h)", got)
	}
	r := runCLI(t, env, "", "task", "extend", "--all", "--ttl", "5h")
	if r.err == nil || !strings.Contains(r.err.Error(), "policy_denied") {
		t.Errorf("task extend --ttl 5h past maxTTL 4h = %v; want policy_denied", r.err)
	}
	r = mustCLI(t, env, "", "task", "extend", "--all", "--ttl", "4h")
	if !strings.Contains(r.stdout, "extended (1)") || !strings.Contains(r.stdout, id) {
		t.Errorf("task extend --all printed:\n%s", r.stdout)
	}
}

func TestTaskEndToEnd(t *testing.T) {
	env, created, admin := taskEnv(t)
	bearer := map[string]string{cliEnvServer: admin[cliEnvServer], cliEnvCapToken: created.Token, cliEnvSigningSecret: created.SigningSecret}

	first, r := taskJSON(t, env, "", "task", "launch", "--count", "2", "--idempotency-key", "e2e-1", "--tag", "purpose=test")
	if len(first.Instances) != 2 || first.Replayed {
		t.Fatalf("task launch --count 2 = %s; want 2 new instances", r.stdout)
	}
	if strings.Contains(r.stderr, "idempotency key ") {
		t.Errorf("a given idempotency key was announced as new:\n%s", r.stderr)
	}
	again, _ := taskJSON(t, env, "", "task", "launch", "--count", "2", "--idempotency-key", "e2e-1", "--tag", "purpose=test")
	if !again.Replayed || !slices.Equal(instanceIDs(again.Instances), instanceIDs(first.Instances)) {
		t.Errorf("retry with the same key = %v replayed=%v; want the same instances %v, replayed", instanceIDs(again.Instances), again.Replayed, instanceIDs(first.Instances))
	}

	tests := []struct {
		name      string
		env       map[string]string
		stdin     string
		args      []string
		want      []string // substrings of stdout
		wantErr   string   // the error's stable code and status, as printed
		wantLines []string // substrings of stderr
		notLines  []string // not in stderr
	}{
		{name: "price", env: env, args: []string{"task", "price"}, want: []string{"prices (", "t3.micro", "us-east-1"}},
		{name: "dry run: no idempotency key to keep", env: env, args: []string{"task", "launch", "--dry-run"}, want: []string{"dryRun:", "true"},
			notLines: []string{"idempotency key"}},
		{name: "status by bearer token", env: bearer, args: []string{"task", "status"}, want: []string{"instances (", first.Instances[0].ID, "STATE"}},
		{name: "status --limit at the smallest page", env: bearer, args: []string{"task", "status", "--limit", "5"}, want: []string{"instances (2)", first.Instances[0].ID}},
		{name: "status --limit below the smallest", env: bearer, args: []string{"task", "status", "--limit", "4"}, wantErr: "invalid_request: limit: 4; send 5 to 1000"},
		{name: "status --cursor forged", env: bearer, args: []string{"task", "status", "--cursor", "not-a-cursor"}, wantErr: "invalid_request: cursor"},
		{name: "launch and wait", env: env, args: []string{"task", "launch", "--wait", "--instance-types", "t3.small"},
			// The launch reply (pools, template, hourly cost) with its instances up to date.
			want: []string{"instances (1)", "running", "t3.small", "pools (", "template:", "hourlyCost:"}, wantLines: []string{"waiting for 1 instance(s): 1 running", "spotter: idempotency key "}},
		{name: "unsigned refused", env: map[string]string{cliEnvCapURL: created.URL}, args: []string{"task", "status"},
			wantErr: "signature_invalid: this token requires an X-Spotter-Signature header (HTTP 401)"},
		{name: "wrong secret refused", env: map[string]string{cliEnvCapURL: created.URL, cliEnvSigningSecret: "not-the-secret"}, args: []string{"task", "status"},
			wantErr: "signature_invalid"},
		{name: "policy breach", env: env, args: []string{"task", "launch", "--count", "9"}, wantErr: "policy_denied"},
		{name: "type outside policy", env: env, args: []string{"task", "launch", "--instance-types", "p5.48xlarge"}, wantErr: "(HTTP 403)"},
		{name: "tampered token", env: map[string]string{cliEnvCapURL: created.URL + "x", cliEnvSigningSecret: created.SigningSecret}, args: []string{"task", "status"},
			wantErr: "token_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, tt.stdin, tt.args...)
			if tt.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) || !apiErrRe.MatchString(r.err.Error()) {
					t.Fatalf("spotter %v = %v; want %q as <error>: <details> (HTTP <code>)", tt.args, r.err, tt.wantErr)
				}
			} else if r.err != nil {
				t.Fatalf("spotter %v = %v\nstderr:\n%s", tt.args, r.err, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("spotter %v: stdout lacks %q:\n%s", tt.args, w, r.stdout)
				}
			}
			for _, w := range tt.wantLines {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("spotter %v: stderr lacks %q:\n%s", tt.args, w, r.stderr)
				}
			}
			for _, w := range tt.notLines {
				if strings.Contains(r.stderr, w) {
					t.Errorf("spotter %v: stderr says %q:\n%s", tt.args, w, r.stderr)
				}
			}
			all := r.stdout + r.stderr
			if r.err != nil {
				all += r.err.Error()
			}
			for _, s := range []string{created.Token, created.SigningSecret, testSecret} {
				if strings.Contains(all, s) {
					t.Errorf("spotter %v printed a secret", tt.args)
				}
			}
		})
	}

	t.Run("terminate", func(t *testing.T) {
		id := first.Instances[0].ID
		r := mustCLI(t, env, "", "task", "terminate", id)
		if !strings.Contains(r.stdout, id) {
			t.Errorf("task terminate %s:\n%s", id, r.stdout)
		}
		if strings.Contains(r.stderr, "idempotency key") {
			t.Errorf("task terminate talked of an idempotency key; done twice it changes nothing:\n%s", r.stderr)
		}
		r = runCLI(t, env, "", "task", "terminate", "i-0123456789abcdef0", id)
		if r.err == nil || !strings.Contains(r.err.Error(), "1 instance(s) refused") || !regexp.MustCompile(`refused \(1\):\n.*\ni-0123456789abcdef0 `).MatchString(r.stdout) {
			t.Errorf("terminating a foreign instance = %v\n%s; want it refused by id, and an error", r.err, r.stdout)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		mustCLI(t, admin, "", "token", "revoke", created.ID)
		r := runCLI(t, env, "", "task", "status")
		if r.err == nil || !strings.HasPrefix(r.err.Error(), "token_revoked: ") || !apiErrRe.MatchString(r.err.Error()) {
			t.Errorf("task status with a revoked token = %v; want token_revoked (HTTP 401)", r.err)
		}
	})
}

// TestTaskMFA reads a TOTP code from stdin (not a terminal, so no prompt),
// and shows that the same code is refused the second time.
func TestTaskMFA(t *testing.T) {
	env, created, _ := taskEnv(t, "--totp")
	code, err := totp.GenerateCode(created.TOTP.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, env, "", "task", "status"); r.err == nil || !strings.HasPrefix(r.err.Error(), "mfa_required: ") || !strings.Contains(r.err.Error(), "--mfa-code") {
		t.Errorf("task status without a code = %v; want mfa_required naming --mfa-code", r.err)
	}
	r := mustCLI(t, env, code+"\n", "task", "status", "--mfa")
	if strings.Contains(r.stderr, "MFA code:") {
		t.Errorf("prompted on a stdin that is not a terminal:\n%s", r.stderr)
	}
	r = runCLI(t, env, "", "task", "status", "--mfa-code", code)
	if r.err == nil || !strings.HasPrefix(r.err.Error(), "mfa_replayed: ") {
		t.Errorf("the same code again = %v; want mfa_replayed", r.err)
	}

	// A code is spent on the launch, so --wait lets the server wait rather
	// than poll status (which would need another code).
	next, err := totp.GenerateCode(created.TOTP.Secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, env, "", "task", "launch", "--wait", "--mfa-code", next)
	if r.err != nil {
		t.Fatalf("task launch --wait --mfa-code = %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "waiting for the server to report the instances running") || !strings.Contains(r.stdout, "running") || strings.Contains(r.stderr, "waiting for 1 instance(s)") {
		t.Errorf("task launch --wait under MFA: want the server-side wait, not polls\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
