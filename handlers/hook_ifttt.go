package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/task"
)

// IFTTTSecretHeader carries the IFTTT source secret (Additional Headers).
const IFTTTSecretHeader = "X-Spotter-Ifttt-Secret"

// iftttSource checks the static secret an applet sends (IFTTT cannot sign)
// in constant time, then reads a JSON task or command text in value1.
func iftttSource(d TaskDeps) hook {
	return hook{signature: IFTTTSecretHeader, Source: task.Source{
		Name: api.SourceIFTTT,
		Verify: func(ctx context.Context, tok capability.Token, r task.Request) (task.Proof, error) {
			secret, err := d.Tokens.SourceSecret(ctx, tok, api.SourceIFTTT)
			if err != nil {
				return task.Proof{}, err
			}
			defer clear(secret)
			fields, err := iftttFields(r.ContentType, r.Body)
			if err != nil {
				return task.Proof{}, err
			}
			got := r.Signature
			if got == "" || isIngredient(got) {
				got = fields["secret"]
			}
			if got == "" || isIngredient(got) {
				return task.Proof{}, apperr.New(apperr.SignatureInvalid, "send the IFTTT secret in the %s header or a secret field", IFTTTSecretHeader)
			}
			// Hashing first makes the comparison constant-time in length too.
			want, have := sha256.Sum256(secret), sha256.Sum256([]byte(strings.TrimSpace(got)))
			if subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
				return task.Proof{}, apperr.New(apperr.SignatureInvalid, "the IFTTT secret does not match")
			}
			return task.Proof{Fields: fields}, nil
		},
		Decode: decodeIFTTT,
	}}
}

// iftttFields reads the string fields of a JSON object or a form.
func iftttFields(contentType string, body []byte) (map[string]string, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return formFields(contentType, body)
	}
	// The applet's fields and the task's share one object, read as a task.
	if err := checkKeys(body, &task.Task{}); err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, apperr.New(apperr.Invalid, "%s", describeJSONError(err))
	}
	out := map[string]string{}
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		}
	}
	return out, nil
}

// decodeIFTTT reads command text from value1, or else the body as a native
// task. Ingredients left unreplaced ("{{FromNumber}}") are dropped, as are
// the applet's own fields, so a half-filled applet is not a malformed task.
func decodeIFTTT(body []byte, p task.Proof) (task.Task, error) {
	key := p.Fields["idempotencyKey"]
	if isIngredient(key) {
		key = ""
	}
	if v1 := strings.TrimSpace(p.Fields["value1"]); v1 != "" && !isIngredient(v1) {
		t, err := commandTask(v1)
		if err != nil {
			return t, err
		}
		t.IdempotencyKey = key
		return t, t.Validate()
	}
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return task.Task{}, apperr.New(apperr.Invalid, "send the command in value1, or a JSON task")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return task.Task{}, apperr.New(apperr.Invalid, "%s", describeJSONError(err))
	}
	// The applet's own fields are not task fields.
	for _, k := range []string{"secret", "value1", "value2", "value3", "occurredAt", "OccurredAt"} {
		delete(raw, k)
	}
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil && isIngredient(s) {
			delete(raw, k)
		}
	}
	if len(raw) == 0 {
		return task.Task{}, apperr.New(apperr.Invalid, "send the command in value1, or a JSON task")
	}
	clean, err := json.Marshal(raw)
	if err != nil {
		return task.Task{}, err
	}
	return decodeTask(clean)
}

// IFTTTHook serves POST /hooks/:token/ifttt, an IFTTT "Make a web request".
func IFTTTHook(d TaskDeps) echo.HandlerFunc {
	return d.serveJSONSource(iftttSource(d))
}
