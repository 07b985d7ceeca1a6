package cli

import (
	"io"
	"testing"
)

// Prices follow an emulator on this machine unless told otherwise, so no
// test or demo pointed at awssim asks real AWS; a remote EC2 endpoint (a VPC
// endpoint) leaves the Price List API at its AWS default.
func TestServeConfigPricingEndpoint(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		want string
	}{
		"nothing set":           {env: map[string]string{}, want: ""},
		"emulator on 127.0.0.1": {env: map[string]string{"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:4566"}, want: "http://127.0.0.1:4566"},
		"emulator on localhost": {env: map[string]string{"AWS_ENDPOINT_URL_EC2": "http://localhost:4566"}, want: "http://localhost:4566"},
		"emulator on ::1":       {env: map[string]string{"AWS_ENDPOINT_URL_EC2": "http://[::1]:4566"}, want: "http://[::1]:4566"},
		"VPC endpoint":          {env: map[string]string{"AWS_ENDPOINT_URL_EC2": "https://vpce-0abc.ec2.us-east-1.vpce.amazonaws.com"}, want: ""},
		"pricing set wins": {env: map[string]string{"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:4566",
			"AWS_ENDPOINT_URL_PRICING": "http://127.0.0.1:5000"}, want: "http://127.0.0.1:5000"},
		"not a URL": {env: map[string]string{"AWS_ENDPOINT_URL_EC2": "127.0.0.1:4566"}, want: ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := parseServeConfig(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.PricingEndpoint != tt.want {
				t.Errorf("PricingEndpoint = %q; want %q", c.PricingEndpoint, tt.want)
			}
		})
	}
}
