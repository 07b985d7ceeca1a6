package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"

	"github.com/spotter-dev/spotter/client"
)

// TestTaskUsageErrors covers what the task commands refuse before sending
// anything; none of these reaches a server.
func TestTaskUsageErrors(t *testing.T) {
	const tok = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0b2tfMSJ9.SECRET-SIGNATURE-PART"
	big := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), maxUserData+1), 0o600); err != nil {
		t.Fatal(err)
	}
	url := map[string]string{cliEnvCapURL: "http://127.0.0.1:1/hooks/" + tok}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "no capability", args: []string{"task", "status"}, wantErr: "no capability: pass --url"},
		{name: "url and token", args: []string{"task", "status", "--url", "https://s/hooks/x", "--token", "y"}, wantErr: "name the capability once"},
		{name: "terminate names nothing", env: url, args: []string{"task", "terminate"}, wantErr: "name instance ids, or --all"},
		{name: "terminate ids and all", env: url, args: []string{"task", "terminate", "i-0abc", "--all"}, wantErr: "not both"},
		{name: "extend names nothing", env: url, args: []string{"task", "extend", "--ttl", "4h"}, wantErr: "task extend: name instance ids, or --all"},
		{name: "extend without a ttl", env: url, args: []string{"task", "extend", "--all"}, wantErr: "--ttl is required"},
		{name: "user data too large", env: url, args: []string{"task", "launch", "--user-data-file", big}, wantErr: "EC2 takes at most"},
		{name: "code and prompt", env: url, args: []string{"task", "status", "--mfa-code", "123456", "--mfa"}, wantErr: "not both"},
		{name: "prompt with empty stdin", env: url, args: []string{"task", "status", "--mfa"}, wantErr: "read the MFA code from stdin: got nothing"},
		{name: "plain HTTP off loopback", args: []string{"task", "status", "--url", "http://spotter.example.com/hooks/" + tok}, wantErr: "in the clear"},
		{name: "not a capability URL", args: []string{"task", "status", "--url", "https://spotter.example.com/v1/" + tok}, wantErr: "want https://<server>/hooks/<token>"},
		{name: "launch takes no ids", env: url, args: []string{"task", "launch", "i-0abc"}, wantErr: `unexpected argument "i-0abc"`},
		{name: "unknown task", env: url, args: []string{"task", "explode"}, wantErr: `unknown command "task explode"`},
		{name: "status ids and limit", env: url, args: []string{"task", "status", "i-0abc", "--limit", "10"}, wantErr: "not both"},
		{name: "limit not on terminate", env: url, args: []string{"task", "terminate", "--all", "--limit", "10"}, wantErr: "flag provided but not defined"},
		{name: "status flag not on price", env: url, args: []string{"task", "price", "--instance-ids", "i-1"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, "", tt.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Fatalf("spotter %v = %v; want an error containing %q", tt.args, r.err, tt.wantErr)
			}
			if strings.Contains(r.err.Error()+r.stdout+r.stderr, "SECRET-SIGNATURE-PART") {
				t.Errorf("spotter %v printed the capability token:\n%v\n%s", tt.args, r.err, r.stderr)
			}
		})
	}
}

func TestPrintTaskReply(t *testing.T) {
	raw := `{"code":200,"task":"launch","dryRun":false,"replayed":false,"hourlyCost":0.0062,
		"instances":[{"id":"i-0abc","type":"t3.micro","az":"us-east-1a","lifecycle":"spot","state":"pending","price":0.0031,"zzExtra":"x"}],
		"pools":[],"terminated":["i-1","i-2"],"warnings":["no Idempotency-Key given"]}`
	reply := client.TaskReply{Raw: json.RawMessage(raw)}
	tests := []struct {
		name       string
		asJSON     bool
		wantOut    []string
		wantStderr string
	}{
		{name: "table", wantOut: []string{
			"task:        launch", "hourlyCost:  0.0062", "terminated:  i-1,i-2",
			"instances (1):", "ID      TYPE      AZ          LIFECYCLE  STATE    PRICE   ZZEXTRA",
			"i-0abc  t3.micro  us-east-1a  spot       pending  0.0031  x", "pools:       none",
		}, wantStderr: "spotter: warning: no Idempotency-Key given"},
		{name: "json", asJSON: true, wantOut: []string{`"task": "launch"`, `"warnings": [`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := printTaskReply(&out, &errb, reply, tt.asJSON); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("printTaskReply stdout lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("stderr = %q; want %q", errb.String(), tt.wantStderr)
			}
			if tt.asJSON && !json.Valid(out.Bytes()) {
				t.Errorf("--json output is not JSON:\n%s", out.String())
			}
		})
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPos  []string
		wantJSON bool
	}{
		{name: "flags first", args: []string{"--json", "a", "b"}, wantPos: []string{"a", "b"}, wantJSON: true},
		{name: "flags after", args: []string{"a", "--json", "b"}, wantPos: []string{"a", "b"}, wantJSON: true},
		{name: "double dash", args: []string{"a", "--", "--json"}, wantPos: []string{"a", "--json"}},
		{name: "none", args: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			j := fs.Bool("json", false, "")
			pos, err := parseInterspersed(fs, tt.args)
			if err != nil || !reflect.DeepEqual(pos, tt.wantPos) || *j != tt.wantJSON {
				t.Errorf("parseInterspersed(%q) = %q, json %v, %v; want %q, json %v", tt.args, pos, *j, err, tt.wantPos, tt.wantJSON)
			}
		})
	}
}

// TestWriteQR reads the half-block drawing back into modules and compares
// them with the encoder's, in both colour schemes, quiet zone included.
func TestWriteQR(t *testing.T) {
	const content = "otpauth://totp/spotter:ci?secret=JBSWY3DPEHPK3PXP&issuer=spotter"
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	want := qrModules(code)
	for _, invert := range []bool{false, true} {
		var b bytes.Buffer
		if err := writeQR(&b, content, invert); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		size := len(want) + 2*qrQuiet
		if len(lines) != (size+1)/2 {
			t.Fatalf("invert=%v: %d lines; want %d", invert, len(lines), (size+1)/2)
		}
		for row, line := range lines {
			runes := []rune(line)
			if len(runes) != size {
				t.Fatalf("invert=%v line %d: %d columns; want %d", invert, row, len(runes), size)
			}
			for x, r := range runes {
				top := r == '█' || r == '▀'
				bottom := r == '█' || r == '▄'
				for dy, ink := range []bool{top, bottom} {
					y := 2*row + dy - qrQuiet
					mx := x - qrQuiet
					if 2*row+dy >= size {
						continue
					}
					dark := mx >= 0 && y >= 0 && mx < len(want) && y < len(want) && want[y][mx]
					if ink != (dark == invert) {
						t.Fatalf("invert=%v module (%d,%d): ink %v, dark %v", invert, mx, y, ink, dark)
					}
				}
			}
		}
	}
}
