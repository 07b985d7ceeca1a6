package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/money"
)

// Credentials never show a secret, whichever way they are printed,
// logged or marshalled; only the masked key id and the role do.
func TestCredentialsRedacted(t *testing.T) {
	creds := Credentials{AccessKeyID: "AKIDLEAKCHECK0001", SecretAccessKey: "s3cr3t-leak-check",
		SessionToken: "sess-leak-check", RoleARN: "arn:aws:iam::1:role/r", ExternalID: "ext-leak-check"}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("x", "creds", creds)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "creds", creds)
	marshalled, err := json.Marshal(struct{ C Credentials }{creds})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", creds), "%+v": fmt.Sprintf("%+v", creds), "%#v": fmt.Sprintf("%#v", creds),
		"String": creds.String(), "slog text": text.String(), "slog json": js.String(), "json": string(marshalled),
	}
	for how, out := range outputs {
		for _, secret := range []string{"AKIDLEAKCHECK0001", "s3cr3t-leak-check", "sess-leak-check", "ext-leak-check"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s reveals %q: %s", how, secret, out)
			}
		}
	}
	for _, how := range []string{"%v", "%#v", "slog text", "slog json"} {
		if out := outputs[how]; !strings.Contains(out, "AKID…0001") || !strings.Contains(out, "arn:aws:iam::1:role/r") {
			t.Errorf("%s = %s; want the masked key id and the role", how, out)
		}
	}
}

// Credentials show the first and last four characters of a key id of at
// least twelve, and a shorter one as an ellipsis only.
func TestCredentialsMaskKey(t *testing.T) {
	tests := []struct{ name, id, want string }{
		{name: "long", id: "AKIAIOSFODNN7EXAMPLE", want: "AKIA…MPLE"},
		{name: "at the limit", id: "AKIAIOSFODNN", want: "AKIA…ODNN"},
		{name: "one short", id: "AKIAIOSFODN", want: "…"},
		{name: "empty", id: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Credentials{AccessKeyID: tt.id, SecretAccessKey: "secret"}.String()
			if want := "Credentials{accessKeyId:" + tt.want + " roleArn:}"; got != want {
				t.Errorf("Credentials{%q}.String() = %q; want %q", tt.id, got, want)
			}
		})
	}
}

// An instance's tags, AMI and end time are spotter's to read, not the
// reply's: the JSON carries only the reported fields.
func TestInstanceJSON(t *testing.T) {
	in := Instance{ID: "i-0123456789abcdef0", Type: "t3.micro", Lifecycle: "spot", Price: money.FromDollars(0.0104),
		Tags: map[string]string{TagClientToken: "sp-key", TagToken: "tok"}, AMI: "ami-1", EndedAt: time.Unix(1, 0)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"i-0123456789abcdef0","type":"t3.micro","lifecycle":"spot","price":0.0104}`; string(b) != want {
		t.Errorf("json.Marshal(instance) = %s; want %s", b, want)
	}
	if got := in.LaunchKey(); got != "sp-key" {
		t.Errorf("LaunchKey() = %q; want sp-key", got)
	}
	if got := (Instance{}).LaunchKey(); got != "" {
		t.Errorf("LaunchKey() of an undescribed instance = %q; want \"\"", got)
	}
}
