package handlers

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/task"
)

// Every decoder of a request's JSON refuses repeated keys, naming the key,
// so no proxy, reviewer or audit log reads another request than spotter runs.
func TestDecodersRefuseRepeatedKeys(t *testing.T) {
	native := func(b []byte) error { _, err := decodeTask(b); return err }
	create := func(b []byte) error { return decodeJSON(b, &api.CreateTokenRequest{}) }
	rotate := func(b []byte) error { return decodeJSON(b, &api.RotateTokenRequest{}) }
	ifttt := func(b []byte) error {
		f, err := iftttFields("application/json", b)
		if err != nil {
			return err
		}
		_, err = decodeIFTTT(b, task.Proof{Fields: f})
		return err
	}
	cases := map[string]struct {
		decode func([]byte) error
		body   string
		// key is the key the refusal names; "" means the body is accepted.
		key string
	}{
		"native case variant":         {native, `{"task":"launch","dryRun":true,"DRYRUN":false}`, "DRYRUN"},
		"native exact repeat":         {native, `{"task":"launch","count":1,"count":5}`, "count"},
		"native task repeat":          {native, `{"task":"status","Task":"launch"}`, "Task"},
		"native tags exact repeat":    {native, `{"task":"launch","tags":{"team":"a","team":"b"}}`, "team"},
		"native tags case variants":   {native, `{"task":"launch","tags":{"team":"a","Team":"b"}}`, ""},
		"native array body":           {native, `[{"task":"launch"}]`, "JSON object"},
		"wt-spotter attributes":       {native, `{"attributes":{"dryRun":"true","dryrun":"false"}}`, "dryrun"},
		"wt-spotter construct":        {native, `{"construct":{"upgrade":{"tokenCode":"1"}},"Construct":{}}`, "Construct"},
		"admin create top level":      {create, `{"name":"a","NAME":"b"}`, "NAME"},
		"admin create policy":         {create, `{"name":"a","policy":{"maxCount":1,"maxcount":9}}`, "maxcount"},
		"admin create policy tags":    {create, `{"name":"a","policy":{"tags":{"k":"1","k":"2"}}}`, "k"},
		"admin create tags case ok":   {create, `{"name":"a","policy":{"tags":{"k":"1","K":"2"}}}`, ""},
		"admin create credentials":    {create, `{"credentials":{"roleArn":"a","RoleArn":"b"}}`, "RoleArn"},
		"admin create array":          {create, `[]`, "JSON object"},
		"admin rotate":                {rotate, `{"grace":"1h","Grace":"0s"}`, "Grace"},
		"ifttt applet field":          {ifttt, `{"value1":"status","VALUE1":"launch"}`, "VALUE1"},
		"ifttt task field":            {ifttt, `{"task":"launch","dryRun":true,"dryRun":false}`, "dryRun"},
		"ifttt plain":                 {ifttt, `{"value1":"status"}`, ""},
		"native plain":                {native, `{"task":"launch","dryRun":true}`, ""},
		"admin create presets differ": {create, `{"name":"a","policy":{"presets":{"gpu":{},"GPU":{}}}}`, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.decode([]byte(tc.body))
			if tc.key == "" {
				if err != nil {
					t.Fatalf("refused: %v (%s)", err, apperr.Details(err))
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), tc.key) {
				t.Fatalf("decode = %v (%s); want invalid_request naming %q", err, apperr.Details(err), tc.key)
			}
		})
	}
}

// Form bodies (Slack, Twilio, Mailgun, IFTTT) refuse a field repeated with
// another value, and let an identical repeat through.
func TestFormRepeatedFields(t *testing.T) {
	multipart := func(parts ...string) string {
		var b strings.Builder
		for i := 0; i < len(parts); i += 2 {
			b.WriteString("--XX\r\nContent-Disposition: form-data; name=\"" + parts[i] + "\"\r\n\r\n" + parts[i+1] + "\r\n")
		}
		return b.String() + "--XX--\r\n"
	}
	cases := map[string]struct {
		ctype, body string
		refused     bool
	}{
		"form, once":                 {"application/x-www-form-urlencoded", "text=status&user=a", false},
		"form, same value twice":     {"application/x-www-form-urlencoded", "text=status&text=status", false},
		"form, two values":           {"application/x-www-form-urlencoded", "text=status&text=launch+9", true},
		"multipart, once":            {"multipart/form-data; boundary=XX", multipart("stripped-text", "status"), false},
		"multipart, same value":      {"multipart/form-data; boundary=XX", multipart("stripped-text", "status", "stripped-text", "status"), false},
		"multipart, two values":      {"multipart/form-data; boundary=XX", multipart("stripped-text", "status", "stripped-text", "launch"), true},
		"form, case variants differ": {"application/x-www-form-urlencoded", "text=status&Text=launch", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := formFields(tc.ctype, []byte(tc.body))
			if !tc.refused {
				if err != nil {
					t.Fatalf("formFields = %v", err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), "appears twice") {
				t.Fatalf("formFields = %v; want invalid_request naming the field", err)
			}
		})
	}
}
