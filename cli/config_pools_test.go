package cli

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The pool interval comes from --pool-interval, else SPOTTER_POOL_INTERVAL,
// else 10 s; 0 turns the reconciler off, and a bad value is refused by name.
func TestServeConfigPoolInterval(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     string
		want    time.Duration
		wantErr string
	}{
		"the default":                {want: 10 * time.Second},
		"from the environment":       {env: "30s", want: 30 * time.Second},
		"the flag wins":              {args: []string{"--pool-interval", "2s"}, env: "30s", want: 2 * time.Second},
		"0 turns it off":             {env: "0", want: 0},
		"not a duration":             {env: "soon", wantErr: "SPOTTER_POOL_INTERVAL"},
		"negative":                   {env: "-1s", wantErr: "SPOTTER_POOL_INTERVAL"},
		"a flag that is no duration": {args: []string{"--pool-interval", "x"}, wantErr: "pool-interval"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"SPOTTER_POOL_INTERVAL": tt.env}
			c, err := parseServeConfig(tt.args, func(k string) string { return env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Timeouts.PoolInterval != tt.want {
				t.Errorf("PoolInterval = %s; want %s", c.Timeouts.PoolInterval, tt.want)
			}
		})
	}
}
