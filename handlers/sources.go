package handlers

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/command"
	"github.com/spotter-dev/spotter/task"
)

// SourceConfig is what the provider endpoints need beyond the task pipeline.
type SourceConfig struct {
	// PublicURL is the base URL providers call (SPOTTER_PUBLIC_URL). Twilio
	// signs the full URL it requested, so it is rebuilt from this, never
	// from request headers a proxy or a caller could set.
	PublicURL string
	// SlackResponseURLs are the URL prefixes a Slack response_url may have;
	// empty means DefaultSlackResponseURLs. See ParseResponseURLPrefix.
	SlackResponseURLs []string
	// HTTPClient posts to Slack's response_url; nil means a client with a
	// 10 s timeout that follows no redirect.
	HTTPClient *http.Client
	// Log receives delivery failures (never a URL or a body).
	Log *slog.Logger
	// Now is the clock signatures are checked against; nil means time.Now.
	Now func() time.Time
}

func (s SourceConfig) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s SourceConfig) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// commandTask turns command text into a task. Help is a notice; a command
// that cannot be understood is invalid_request with the reply as details.
func commandTask(text string) (task.Task, error) {
	cmd, err := command.Parse(text)
	var ce *command.Error
	if errors.As(err, &ce) {
		return task.Task{}, apperr.New(apperr.Invalid, "%s", ce.Msg)
	}
	if err != nil {
		return task.Task{}, err
	}
	if cmd.Task == command.Help {
		return task.Task{}, &task.Notice{Text: command.Usage}
	}
	t := task.Task{TaskRequest: api.TaskRequest{
		Task: cmd.Task, Region: cmd.Region, InstanceTypes: cmd.InstanceTypes,
		MFACode: cmd.Code, InstanceIDs: cmd.InstanceIDs, All: cmd.All, Preset: cmd.Preset,
	}}
	if cmd.Count > 0 {
		t.Count = &cmd.Count
	}
	if cmd.TTL > 0 {
		t.TTL = cmd.TTL.String()
	}
	return t, t.Validate()
}

// Form bounds: the body limit caps bytes; these cap the work per request.
const (
	maxFormFields = 200
	maxFieldBytes = 32 << 10
)

// formFields reads a urlencoded or multipart/form-data body (Mailgun posts
// either) into single values: the first of a repeated name wins. File
// parts are skipped unread.
func formFields(contentType string, body []byte) (map[string]string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return nil, apperr.New(apperr.Unsupported, "send a form (application/x-www-form-urlencoded or multipart/form-data)")
	}
	out := map[string]string{}
	switch mt {
	case "", "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "the form body is malformed")
		}
		if len(vals) > maxFormFields {
			return nil, apperr.New(apperr.Invalid, "the form has more than %d fields", maxFormFields)
		}
		for k, v := range vals {
			for _, other := range v[1:] {
				if other != v[0] {
					return nil, repeatedField(k)
				}
			}
			out[k] = v[0]
		}
		return out, nil
	case "multipart/form-data":
		return multipartFields(body, params["boundary"])
	}
	return nil, apperr.New(apperr.Unsupported, "send a form (application/x-www-form-urlencoded or multipart/form-data)")
}

func multipartFields(body []byte, boundary string) (map[string]string, error) {
	if boundary == "" {
		return nil, apperr.New(apperr.Invalid, "multipart body without a boundary")
	}
	out := map[string]string{}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for n := 0; ; n++ {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil || n >= maxFormFields {
			return nil, apperr.New(apperr.Invalid, "the multipart body is malformed or has too many parts")
		}
		name := p.FormName()
		if name == "" || p.FileName() != "" {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil || len(b) > maxFieldBytes {
			return nil, apperr.New(apperr.Invalid, "multipart field %q is malformed or too long", truncate(name, 40))
		}
		if first, seen := out[name]; seen && first != string(b) {
			return nil, repeatedField(name)
		} else if !seen {
			out[name] = string(b)
		}
	}
}

// repeatedField refuses a form field sent twice with different values, as
// JSON bodies refuse repeated keys: one reader would take the first, another
// the last. A field repeated with one value means one thing and passes.
func repeatedField(name string) error {
	return apperr.New(apperr.Invalid, "form field %q appears twice with different values; send it once", truncate(name, 40))
}

// requestURL is the URL the provider called: the configured public base
// plus the path and query exactly as received.
func requestURL(base, uri string) string {
	return strings.TrimRight(base, "/") + uri
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
