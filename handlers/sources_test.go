package handlers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/task"
)

func TestResponseURLRule(t *testing.T) {
	r := newResponder(SourceConfig{SlackResponseURLs: []string{"https://hooks.slack.com/", "http://127.0.0.1:9999/slack/"}})
	tests := []struct {
		name string
		url  string
		want bool
	}{
		{name: "slack", url: "https://hooks.slack.com/commands/T1/2/3", want: true},
		{name: "slack host case", url: "https://HOOKS.slack.com/commands/T1/2/3", want: true},
		{name: "loopback test server", url: "http://127.0.0.1:9999/slack/x", want: true},
		{name: "plain http to slack", url: "http://hooks.slack.com/commands/T1", want: false},
		{name: "look-alike host", url: "https://hooks.slack.com.evil.example/commands", want: false},
		{name: "userinfo trick", url: "https://hooks.slack.com@evil.example/commands", want: false},
		{name: "other port", url: "https://hooks.slack.com:8443/commands", want: false},
		{name: "loopback outside the path", url: "http://127.0.0.1:9999/admin", want: false},
		{name: "metadata service", url: "http://169.254.169.254/latest/meta-data/", want: false},
		{name: "empty", url: "", want: false},
		{name: "not a URL", url: "::", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.allowed(tt.url); got != tt.want {
				t.Errorf("allowed(%q) = %v; want %v", tt.url, got, tt.want)
			}
		})
	}
}

func TestParseResponseURLPrefix(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		wantErr bool
	}{
		{name: "https host", prefix: "https://hooks.slack.com/"},
		{name: "https host with path", prefix: "https://proxy.example.com/slack/"},
		{name: "http loopback", prefix: "http://127.0.0.1:8080/"},
		{name: "http ipv6 loopback", prefix: "http://[::1]:8080/"},
		{name: "http elsewhere", prefix: "http://hooks.slack.com/", wantErr: true},
		{name: "http localhost name", prefix: "http://localhost:8080/", wantErr: true},
		{name: "no scheme", prefix: "hooks.slack.com", wantErr: true},
		{name: "userinfo", prefix: "https://a:b@hooks.slack.com/", wantErr: true},
		{name: "ftp", prefix: "ftp://hooks.slack.com/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResponseURLPrefix(tt.prefix)
			if (err != nil) != tt.wantErr {
				t.Errorf("ParseResponseURLPrefix(%q) = %v; want error %v", tt.prefix, err, tt.wantErr)
			}
		})
	}
}

func TestSMSParts(t *testing.T) {
	long := strings.Repeat("i-0abc12345def t3.micro running, 45m left\n", 30)
	tests := []struct {
		name      string
		text      string
		wantParts int
		wantFirst string
	}{
		{name: "short", text: "Terminated i-0abc12345def.", wantParts: 1, wantFirst: "Terminated i-0abc12345def."},
		{name: "lines share a message", text: "2 instance(s):\ni-1 t3.micro\ni-2 t3.micro", wantParts: 1, wantFirst: "2 instance(s):\ni-1 t3.micro\ni-2 t3.micro"},
		{name: "ellipsis becomes GSM", text: "…and 3 more", wantParts: 1, wantFirst: "...and 3 more"},
		{name: "capped", text: long, wantParts: smsMaxMessages},
		{name: "one huge word", text: strings.Repeat("x", 400), wantParts: 3},
		{name: "empty", text: "", wantParts: 1, wantFirst: "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := smsParts(tt.text)
			if len(parts) != tt.wantParts || (tt.wantFirst != "" && parts[0] != tt.wantFirst) {
				t.Fatalf("smsParts(%q) = %q; want %d parts starting %q", tt.text, parts, tt.wantParts, tt.wantFirst)
			}
			for _, p := range parts {
				if len(p) > smsSegment {
					t.Errorf("part of %d characters: %q", len(p), p)
				}
			}
			if tt.name == "capped" && !strings.HasSuffix(parts[len(parts)-1], "(more: reply status)") {
				t.Errorf("a cut reply does not say so: %q", parts[len(parts)-1])
			}
		})
	}
}

func TestMailCommand(t *testing.T) {
	tests := []struct {
		name, subject, body, want string
	}{
		{name: "subject", subject: "launch 2 t3.micro", body: "hi", want: "launch 2 t3.micro"},
		{name: "reply prefixes", subject: "RE: Fwd: status", body: "", want: "status"},
		{name: "first unquoted line", subject: "hello", body: "> launch 3\n\n  terminate all  \nthanks", want: "terminate all"},
		{name: "signature stops", subject: "hello", body: "\n-- \nlaunch 3", want: "hello"},
		{name: "empty subject is help, body wins", subject: "", body: "price", want: "price"},
		{name: "nothing", subject: "", body: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mailCommand(tt.subject, tt.body); got != tt.want {
				t.Errorf("mailCommand(%q, %q) = %q; want %q", tt.subject, tt.body, got, tt.want)
			}
		})
	}
}

func TestHumanError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "internal names only the request", err: apperr.Wrap(errTest("vault: token s.SECRET"), apperr.Internal, ""), want: "request r-1"},
		{name: "policy", err: apperr.New(apperr.PolicyDenied, "rule maxCount: 9 asked"), want: "Not allowed: rule maxCount"},
		{name: "mfa required", err: apperr.New(apperr.MFARequired, "needs mfaCode"), want: `add "code"`},
		{name: "command", err: apperr.New(apperr.Invalid, "I don't know \"x\"."), want: `I don't know "x".`},
		{name: "capacity", err: apperr.New(apperr.CapacityUnavailable, "no t3.micro"), want: "Failed (capacity_unavailable): no t3.micro"},
		{name: "help notice", err: &task.Notice{Text: "usage: launch"}, want: "usage: launch"},
		{name: "wrapped help notice", err: fmt.Errorf("slack: %w", &task.Notice{Text: "usage: launch"}), want: "usage: launch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := humanError(tt.err, "r-1")
			if !strings.Contains(got, tt.want) || strings.Contains(got, "SECRET") {
				t.Errorf("humanError(%v) = %q; want it to say %q", tt.err, got, tt.want)
			}
		})
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

// TestCommandTaskExtend: "extend … to TTL" typed in chat, SMS or e-mail
// becomes the extend task, with its TTL and instances, and passes the
// checks a JSON extend does.
func TestCommandTaskExtend(t *testing.T) {
	tests := []struct {
		text    string
		wantIDs []string
		wantAll bool
		wantTTL string
	}{
		{text: "extend all to 4h", wantAll: true, wantTTL: "4h0m0s"},
		{text: "extend i-0abc12345def for 90 minutes code 123456", wantIDs: []string{"i-0abc12345def"}, wantTTL: "1h30m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			task, err := commandTask(tt.text)
			if err != nil {
				t.Fatalf("commandTask(%q) = %v", tt.text, err)
			}
			if task.Task != "extend" || task.All != tt.wantAll || task.TTL != tt.wantTTL || strings.Join(task.InstanceIDs, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("commandTask(%q) = %+v", tt.text, task.TaskRequest)
			}
		})
	}
	if _, err := commandTask("extend all"); apperr.Code(err) != apperr.Invalid {
		t.Errorf("extend without a TTL = %v; want invalid_request", err)
	}
}
