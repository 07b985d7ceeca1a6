package command

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Each limit of the language at the limit (understood) and one past it
// (refused with a reply).
func TestParseLimits(t *testing.T) {
	types := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = "t3.size" + strings.Repeat("x", i)
		}
		return strings.Join(w, " ")
	}
	tests := []struct {
		name    string
		text    string
		check   func(c Command) bool
		wantErr string
	}{
		{name: "text of MaxTextLen", text: "status" + strings.Repeat(" ", MaxTextLen-len("status")), check: func(c Command) bool { return c.Task == Status }},
		{name: "text past MaxTextLen", text: "status" + strings.Repeat(" ", MaxTextLen-len("status")+1), wantErr: "too long"},
		{name: "64 KiB body", text: strings.Repeat("launch ", 64<<10/7), wantErr: "too long"},
		{name: "MaxWords words", text: "terminate all" + strings.Repeat(" x", MaxWords-2), check: func(c Command) bool { return c.All }},
		{name: "past MaxWords", text: "terminate all" + strings.Repeat(" x", MaxWords-1), wantErr: "too many words"},
		{name: "count of MaxCount", text: "launch 1000", check: func(c Command) bool { return c.Count == MaxCount }},
		{name: "count past MaxCount", text: "launch 1001", wantErr: "A count is 1-1000"},
		{name: "count of 1", text: "launch 1", check: func(c Command) bool { return c.Count == 1 }},
		{name: "count of 9", text: "launch 9", check: func(c Command) bool { return c.Count == 9 }},
		{name: "count of 10", text: "launch 10", check: func(c Command) bool { return c.Count == 10 }},
		{name: "MaxTypes types", text: "launch " + types(MaxTypes), check: func(c Command) bool { return len(c.InstanceTypes) == MaxTypes }},
		{name: "past MaxTypes", text: "launch " + types(MaxTypes+1), wantErr: "at most 10 instance types"},
		{name: "ttl of 7 days", text: "launch for 7 days", check: func(c Command) bool { return c.TTL == 7*24*time.Hour }},
		{name: "ttl of 168h", text: "launch for 168h", check: func(c Command) bool { return c.TTL == 7*24*time.Hour }},
		{name: "ttl past 7 days", text: "launch for 168h1m", wantErr: "between 1 minute and 7 days"},
		{name: "ttl of 10080 minutes", text: "launch for 10080 minutes", check: func(c Command) bool { return c.TTL == 7*24*time.Hour }},
		{name: "ttl of 10081 minutes", text: "launch for 10081 minutes", wantErr: `After "for"`},
		{name: "ttl of 1 minute", text: "launch for 1 minute", check: func(c Command) bool { return c.TTL == time.Minute }},
		{name: "ttl of 1m", text: "launch for 1m", check: func(c Command) bool { return c.TTL == time.Minute }},
		{name: "ttl of 59s", text: "launch for 59s", wantErr: "between 1 minute and 7 days"},
		{name: "ttl of 0 minutes", text: "launch for 0 minutes", wantErr: `After "for"`},
		{name: "ttl word of 16", text: "launch for " + strings.Repeat("0", 14) + "1h", check: func(c Command) bool { return c.TTL == time.Hour }},
		{name: "ttl word of 17", text: "launch for " + strings.Repeat("0", 15) + "1h", wantErr: `After "for"`},
		{name: "two ttls", text: "launch for 1h for 2h", wantErr: "one time to live"},
		{name: "ttl at the end", text: "launch for", wantErr: `After "for"`},
		{name: "number then no unit", text: "launch for 2", wantErr: `After "for"`},
		{name: "two codes", text: "status code 123456 code 654321", wantErr: "one MFA code"},
		{name: "two regions", text: "status in us-east-1 in eu-west-1", wantErr: "one region"},
		{name: "same region twice", text: "status in us-east-1 in us-east-1", check: func(c Command) bool { return c.Region == "us-east-1" }},
		{name: "two presets", text: "launch gpu cpu", wantErr: "one preset"},
		{name: "repeated id once", text: "terminate i-0abc12345def i-0abc12345def", check: func(c Command) bool { return len(c.InstanceIDs) == 1 }},
		{name: "repeated type once", text: "launch t3.micro t3.micro", check: func(c Command) bool { return len(c.InstanceTypes) == 1 }},
		{name: "id of 8 hex", text: "terminate i-0123abcd", check: func(c Command) bool { return len(c.InstanceIDs) == 1 }},
		{name: "id of 7 hex", text: "terminate i-0123abc", wantErr: "is not an instance id"},
		{name: "id of 17 hex", text: "terminate i-0123456789abcdef0", check: func(c Command) bool { return len(c.InstanceIDs) == 1 }},
		{name: "id of 18 hex", text: "terminate i-0123456789abcdef01", wantErr: "is not an instance id"},
		{name: "preset of 32", text: "launch p" + strings.Repeat("x", 31), check: func(c Command) bool { return len(c.Preset) == 32 }},
		{name: "preset of 33", text: "launch p" + strings.Repeat("x", 32), wantErr: "I don't understand"},
		{name: "digits of 12 are a count", text: "status 000000000001", wantErr: "A number goes with launch"},
		{name: "digits of 13 are a word", text: "status 0000000000001", wantErr: "I don't understand that word"},
		{name: "suggested word after a task", text: "status list", wantErr: `"status" is a command of its own`},
		{name: "help word after a task", text: "status usage", wantErr: `I don't understand "usage" after "status"`},
		{name: "usage is help", text: "usage", check: func(c Command) bool { return c.Task == Help }},
		{name: "spotter alone is help", text: "spotter", check: func(c Command) bool { return c.Task == Help }},
		{name: "terminate all code", text: "terminate all, code 123456.", check: func(c Command) bool { return c.All && c.Code == "123456" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.text)
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || !strings.Contains(ce.Msg, tt.wantErr) {
					t.Fatalf("Parse(%.60q) = %+v, %v; want a reply saying %q", tt.text, c, err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("Parse(%.60q) = %+v, %v", tt.text, c, err)
			}
		})
	}
}

// An echoed word is cut to maxEchoLen runes, and never shows a run of six
// digits, escapes included.
func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "abc", want: `"abc"`},
		{in: strings.Repeat("é", maxEchoLen), want: `"` + strings.Repeat("é", maxEchoLen) + `"`},
		{in: strings.Repeat("é", maxEchoLen+1), want: `"` + strings.Repeat("é", maxEchoLen) + `…"`},
		{in: "ab12345", want: `"ab12345"`},
		{in: "ab123456", want: "that word"},
		{in: "\x00" + "0000", want: "that word"}, // "\x00" quotes as \x00, and 00+0000 is six
		{in: "1a2b3c4d5e6f", want: `"1a2b3c4d5e6f"`},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.want {
			t.Errorf("quote(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}
