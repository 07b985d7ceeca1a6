package cli

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestServeConfigVaultAddrs(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{name: "none", env: map[string]string{}},
		{
			name: "a cluster's nodes, spaces and blanks dropped",
			env: map[string]string{"VAULT_ADDR": "https://v1:8200", "VAULT_TOKEN": "t",
				"SPOTTER_VAULT_ADDRS": " https://v1:8200, https://v2:8200,,https://v3:8200 "},
			want: []string{"https://v1:8200", "https://v2:8200", "https://v3:8200"},
		},
		{
			name:    "nodes without VAULT_ADDR",
			env:     map[string]string{"VAULT_TOKEN": "t", "SPOTTER_VAULT_ADDRS": "https://v1:8200,https://v2:8200"},
			wantErr: "SPOTTER_VAULT_ADDRS is set but VAULT_ADDR is not",
		},
		{
			name:    "a node without a scheme",
			env:     map[string]string{"VAULT_ADDR": "https://v1:8200", "VAULT_TOKEN": "t", "SPOTTER_VAULT_ADDRS": "v2:8200"},
			wantErr: `SPOTTER_VAULT_ADDRS: "v2:8200" is not an address`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseServeConfig = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseServeConfig: %v", err)
			}
			if !slices.Equal(c.VaultAddrs, tt.want) {
				t.Fatalf("VaultAddrs = %q; want %q", c.VaultAddrs, tt.want)
			}
		})
	}
}
