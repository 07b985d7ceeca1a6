package command

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    Command
		wantErr string // substring of the reply
	}{
		{name: "empty is help", text: "  ", want: Command{Task: Help}},
		{name: "help", text: "HELP", want: Command{Task: Help}},
		{name: "question mark", text: "?", want: Command{Task: Help}},
		{name: "bare launch", text: "launch", want: Command{Task: Launch}},
		{name: "launch count type ttl", text: "launch 2 t3.micro for 90m", want: Command{Task: Launch, Count: 2, InstanceTypes: []string{"t3.micro"}, TTL: 90 * time.Minute}},
		{name: "launch with x and words", text: "Launch 3 x c5.large in eu-west-1 for 2 hours.", want: Command{Task: Launch, Count: 3, InstanceTypes: []string{"c5.large"}, Region: "eu-west-1", TTL: 2 * time.Hour}},
		{name: "launch preset code", text: "spotter launch gpu code 123456", want: Command{Task: Launch, Preset: "gpu", Code: "123456"}},
		{name: "launch types comma", text: "launch t3.micro,t3.small", want: Command{Task: Launch, InstanceTypes: []string{"t3.micro", "t3.small"}}},
		{name: "ttl 1h30m", text: "launch for 1h30m", want: Command{Task: Launch, TTL: 90 * time.Minute}},
		{name: "ttl 2hr", text: "launch for 2hr", want: Command{Task: Launch, TTL: 2 * time.Hour}},
		{name: "ttl 1 day", text: "launch for 1 day", want: Command{Task: Launch, TTL: 24 * time.Hour}},
		{name: "status region mfa", text: "status in us-west-2 mfa 654321", want: Command{Task: Status, Region: "us-west-2", Code: "654321"}},
		{name: "terminate ids", text: "terminate i-0abc12345def i-0fedcba98765", want: Command{Task: Terminate, InstanceIDs: []string{"i-0abc12345def", "i-0fedcba98765"}}},
		{name: "terminate all", text: "terminate all code 000111", want: Command{Task: Terminate, All: true, Code: "000111"}},
		{name: "price types region", text: "price g5.xlarge g5.2xlarge in us-west-2", want: Command{Task: Price, InstanceTypes: []string{"g5.xlarge", "g5.2xlarge"}, Region: "us-west-2"}},
		{name: "extend all to", text: "extend all to 4h", want: Command{Task: Extend, All: true, TTL: 4 * time.Hour}},
		{name: "extend ids for hours with code", text: "Extend i-0abc12345def for 3 hours code 123456", want: Command{Task: Extend, InstanceIDs: []string{"i-0abc12345def"}, TTL: 3 * time.Hour, Code: "123456"}},
		{name: "extend without a ttl", text: "extend all", wantErr: `Say the new time to live`},
		{name: "extend nothing", text: "extend to 4h", wantErr: `Say which instances`},
		{name: "extend all and ids", text: "extend all i-0abc12345def to 4h", wantErr: `not both`},
		{name: "renew suggests extend", text: "renew all", wantErr: `did you mean "extend"`},
		{name: "to is for extend only", text: "launch to 2h", wantErr: `I don't understand "to"`},

		{name: "unknown verb suggests", text: "stop everything", wantErr: `did you mean "terminate"`},
		{name: "unknown verb", text: "reboot", wantErr: `I don't know "reboot"`},
		{name: "unknown word after launch", text: "launch 2 t3.micro please now", wantErr: `Name one preset`},
		{name: "code without the word", text: "launch 2 123456", wantErr: `Give one count`},
		{name: "count too big is not echoed", text: "launch 123456", wantErr: `A count is 1-1000`},
		{name: "zero count", text: "launch 0", wantErr: `A count is 1-1000`},
		{name: "bad region", text: "launch in mars", wantErr: `a region`},
		{name: "region without in", text: "status us-east-1", wantErr: `Put "in" before a region`},
		{name: "bad ttl", text: "launch for ever", wantErr: `After "for"`},
		{name: "ttl too long", text: "launch for 30 days", wantErr: `between 1 minute and 7 days`},
		{name: "ttl too short", text: "launch for 10s", wantErr: `between 1 minute and 7 days`},
		{name: "short code", text: "status code 1234", wantErr: `six digits`},
		{name: "terminate nothing", text: "terminate", wantErr: `Say which instances`},
		{name: "terminate all and ids", text: "terminate all i-0abc12345def", wantErr: `not both`},
		{name: "types and preset", text: "launch gpu t3.micro", wantErr: `not both`},
		{name: "type on status", text: "status t3.micro", wantErr: `Instance types go with launch or price`},
		{name: "id on launch", text: "launch i-0abc12345def", wantErr: `Instance ids go with terminate`},
		{name: "bare code on status", text: "status 123456", wantErr: `after the word "code"`},
		{name: "keyword as preset", text: "launch all", wantErr: `"all" goes with terminate`},
		{name: "too long", text: strings.Repeat("launch ", 200), wantErr: `too long`},
		{name: "too many words", text: strings.Repeat("x ", 65), wantErr: `too many words`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || !strings.Contains(ce.Msg, tt.wantErr) {
					t.Fatalf("Parse(%q) = %+v, %v; want an error saying %q", tt.text, got, err, tt.wantErr)
				}
				if strings.Contains(ce.Msg, "123456") {
					t.Errorf("Parse(%q) error echoes a code: %s", tt.text, ce.Msg)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.text, got, err, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{name: "launch", cmd: Command{Task: Launch, Count: 2, InstanceTypes: []string{"t3.micro"}, Region: "eu-west-1", TTL: 90 * time.Minute, Code: "123456"}, want: "launch 2 t3.micro in eu-west-1 for 1h30m"},
		{name: "preset", cmd: Command{Task: Launch, Preset: "gpu", TTL: 2 * time.Hour}, want: "launch gpu for 2h"},
		{name: "terminate all", cmd: Command{Task: Terminate, All: true}, want: "terminate all"},
		{name: "extend", cmd: Command{Task: Extend, InstanceIDs: []string{"i-0abc12345def"}, TTL: 4 * time.Hour, Code: "123456"}, want: "extend i-0abc12345def to 4h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

var sixDigits = regexp.MustCompile(`\d{6}`)

// FuzzParse: no panic, every error is a reply that echoes no code, and
// every command survives a round trip through String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"launch 2 t3.micro for 90m", "launch gpu code 123456", "terminate all", "price g5.xlarge in us-west-2",
		"status in eu-west-1 mfa 000000", "stop", "launch for 2 hours", "launch 3 x c5.large", "", "help"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse(%q) error %T is not *Error", text, err)
			}
			if sixDigits.MatchString(ce.Msg) {
				t.Fatalf("Parse(%q) error holds six digits: %q", text, ce.Msg)
			}
			if len(ce.Msg) > 300 {
				t.Fatalf("Parse(%q) reply is %d bytes", text, len(ce.Msg))
			}
			return
		}
		if c.Count < 0 || c.Count > MaxCount || (c.TTL != 0 && (c.TTL < time.Minute || c.TTL > 7*24*time.Hour)) ||
			(c.Code != "" && !codeRe.MatchString(c.Code)) || len(c.InstanceTypes) > MaxTypes || len(c.InstanceIDs) > MaxIDs {
			t.Fatalf("Parse(%q) = %+v: out of bounds", text, c)
		}
		if c.Task == Help {
			return
		}
		again, err := Parse(c.String())
		c.Code = ""
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(%q) = %+v; Parse(String()=%q) = %+v, %v", text, c, c.String(), again, err)
		}
	})
}
