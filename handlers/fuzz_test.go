package handlers

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/task"
)

// Every decoder a request body reaches is fuzzed here with the server's
// body limit: no panic, no error that is neither a client error nor a
// notice, and bounded output. Seeds live in testdata/fuzz/<Fuzz…>/ and run
// under plain go test.

const fuzzBodyLimit = 64 << 10 // serve's default --body-limit

// clientError fails unless err is nil, a notice, or an apperr a client may see.
func clientError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var n *task.Notice
	if errors.As(err, &n) {
		return
	}
	if apperr.Code(err) == apperr.Internal {
		t.Fatalf("%s: internal error %v", what, err)
	}
	if len(apperr.Details(err)) > 4096 {
		t.Fatalf("%s: %d bytes of details", what, len(apperr.Details(err)))
	}
}

// taskOK checks what every decoded task must satisfy before the policy sees it.
func taskOK(t *testing.T, what string, tk task.Task, err error) {
	t.Helper()
	clientError(t, what, err)
	if err != nil {
		return
	}
	if verr := tk.Validate(); verr != nil {
		t.Fatalf("%s: decoded task does not validate: %v", what, verr)
	}
	if _, rerr := tk.Request(); rerr != nil && apperr.Code(rerr) != apperr.Invalid {
		t.Fatalf("%s: Request() = %v", what, rerr)
	}
}

func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(`{"task":"launch","instanceTypes":["t3.micro"],"count":2,"ttl":"90m","maxPrice":"0.05","dryRun":"true"}`))
	f.Add([]byte(`{"task":"terminate","instanceIds":["i-0abc12345def"]}`))
	f.Add([]byte(`{"task":"launch","preset":"gpu","mfaCode":"123456","tags":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		tk, err := decodeTask(body)
		taskOK(t, "decodeTask", tk, err)
	})
}

func FuzzDecodeWTSpotter(f *testing.F) {
	f.Add([]byte(`{"construct":{"keys":{"region":"us-east-1"},"upgrade":{"tokenCode":"123456"}},"attributes":{"type":"t3.micro","price":"0.02","ami":"ami-0123","dryRun":"false","securityGroups":"sg-1, sg-2"}}`))
	f.Add([]byte(`{"attributes":{"task":"terminate","instanceIds":["i-0abc12345def"]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		tk, err := decodeWTSpotter(body)
		taskOK(t, "decodeWTSpotter", tk, err)
	})
}

func FuzzSlackForm(f *testing.F) {
	f.Add("command=%2Fspotter&text=launch+2+t3.micro+for+90m&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F2%2F3&trigger_id=1.2.3")
	f.Add("ssl_check=1&token=x")
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		fields, err := formFields("application/x-www-form-urlencoded", []byte(body))
		clientError(t, "formFields", err)
		if err != nil {
			return
		}
		tk, err := commandTask(fields["text"])
		taskOK(t, "slack text", tk, err)
		newResponder(SourceConfig{}).allowed(fields["response_url"])
	})
}

func FuzzTwilioForm(f *testing.F) {
	f.Add("MessageSid=SM00000000000000000000000000000001&Body=launch+small+code+123456&From=%2B14158675309")
	f.Add("Body=status&Body=terminate+all")
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		vals, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		tk, err := commandTask(vals.Get("Body"))
		taskOK(t, "twilio Body", tk, err)
		reply := vals.Get("Body")
		if err != nil {
			reply = humanError(err, "req")
		}
		parts := smsParts(reply)
		if len(parts) == 0 || len(parts) > smsMaxMessages {
			t.Fatalf("smsParts gave %d messages", len(parts))
		}
		for _, p := range parts {
			if len(p) > smsSegment || strings.ContainsRune(xmlText(p), 0) {
				t.Fatalf("smsParts part of %d bytes: %q", len(p), p)
			}
		}
	})
}

func FuzzMailgunForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("timestamp=1700000000&token=abc&signature=00&subject=Re%3A+launch+2&body-plain=%3E+quoted%0A%0Astatus"))
	f.Add("multipart/form-data; boundary=XX", []byte("--XX\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nstatus\r\n--XX--\r\n"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		fields, err := formFields(ctype, body)
		clientError(t, "formFields", err)
		if err != nil {
			return
		}
		tk, err := commandTask(mailCommand(fields["subject"], fields["body-plain"]))
		taskOK(t, "mail command", tk, err)
	})
}

func FuzzIFTTT(f *testing.F) {
	f.Add("application/json", []byte(`{"value1":"launch 1 t3.micro","value2":"{{FromNumber}}","secret":"s"}`))
	f.Add("application/json", []byte(`{"task":"status","region":"{{Region}}"}`))
	f.Add("application/x-www-form-urlencoded", []byte(`secret=s&value1=status`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		fields, err := iftttFields(ctype, body)
		clientError(t, "iftttFields", err)
		if err != nil {
			return
		}
		tk, err := decodeIFTTT(body, task.Proof{Fields: fields})
		taskOK(t, "decodeIFTTT", tk, err)
	})
}
