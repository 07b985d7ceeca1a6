package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

// TestTaskPreset: --preset launches what the token's policy names under
// that name; flags given beside it win.
func TestTaskPreset(t *testing.T) {
	admin, _ := startAdminSandbox(t)
	c, err := client.New(admin[cliEnvServer], client.WithAdminToken(admin[cliEnvAdminToken]))
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateToken(context.Background(), api.CreateTokenRequest{
		Name:        "presets",
		Credentials: &api.CredentialsInput{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
		Policy: &api.Policy{
			Regions: []string{"us-east-1"}, InstanceTypes: []string{"t3.micro", "t3.small"}, AMIs: []string{testAMI},
			MaxCount: 3, MaxRunning: 6, Tasks: api.AllTasks(), MaxTTL: api.Duration(2 * time.Hour),
			Presets: map[string]api.Preset{"pair": {InstanceTypes: []string{"t3.small"}, Count: 2}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{cliEnvCapURL: created.URL}
	tests := []struct {
		name      string
		args      []string
		wantCount int
		wantType  string
		wantErr   string
	}{
		{name: "the preset's types and count", args: []string{"task", "launch", "--preset", "pair"}, wantCount: 2, wantType: "t3.small"},
		{name: "a flag beside the preset wins", args: []string{"task", "launch", "--preset", "pair", "--count", "1"}, wantCount: 1, wantType: "t3.small"},
		{name: "an unknown preset names the ones there are", args: []string{"task", "launch", "--preset", "gpu"}, wantErr: `no preset "gpu"; this token has pair`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr != "" {
				r := runCLI(t, env, "", tt.args...)
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Fatalf("spotter %v = %v; want %q", tt.args, r.err, tt.wantErr)
				}
				return
			}
			reply, r := taskJSON(t, env, "", tt.args...)
			if len(reply.Instances) != tt.wantCount {
				t.Fatalf("spotter %v launched %d; want %d\n%s", tt.args, len(reply.Instances), tt.wantCount, r.stdout)
			}
			for _, in := range reply.Instances {
				if in.Type != tt.wantType {
					t.Errorf("spotter %v launched a %s; want %s", tt.args, in.Type, tt.wantType)
				}
			}
		})
	}
}
