package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/jsonkeys"
)

// readBody returns the raw body, already capped by the server's body limit.
// Signatures are checked over these exact bytes before anything parses them.
// Echo's limit fails the read with its 413 HTTPError; net/http's
// MaxBytesReader, with *http.MaxBytesError: both are a 413.
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, echo.ErrStatusRequestEntityTooLarge
		}
		return nil, apperr.Wrap(err, apperr.Invalid, "could not read the request body")
	}
	return b, nil
}

// isJSON accepts a missing Content-Type (curl -d sends form, so we also take
// that when the body looks like JSON) and any JSON media type.
func isJSON(c echo.Context, body []byte) bool {
	return jsonBody(c.Request().Header.Get(echo.HeaderContentType), body)
}

// jsonBody is isJSON for a Content-Type already read.
func jsonBody(ct string, body []byte) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return true
	}
	// curl -d without -H sends application/x-www-form-urlencoded; a body that
	// starts like a JSON object is JSON whatever the header says.
	return mt == "application/x-www-form-urlencoded" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
}

// decodeJSON decodes exactly one JSON object into v, refusing unknown fields
// so a typo ("maxPirce") is an error, not a silently ignored limit, and
// repeated keys (in any letter case: encoding/json matches "maxprice" to
// maxPrice), so no other reader of the body sees another request.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.New(apperr.Invalid, "the body is empty; send a JSON object")
	}
	if err := checkKeys(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apperr.New(apperr.Invalid, "%s", describeJSONError(err))
	}
	if dec.More() {
		return apperr.New(apperr.Invalid, "the body holds more than one JSON value")
	}
	return nil
}

// checkKeys refuses a body that is not a JSON object, nests too deep, or
// repeats a key (see package jsonkeys); v is what it will be decoded into.
// Every decoder of a request's JSON calls it before decoding.
func checkKeys(body []byte, v any) error {
	err := jsonkeys.Check(body, v)
	var dup *jsonkeys.DuplicateError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &dup):
		return apperr.New(apperr.Invalid, "%s", dup.Error())
	case errors.Is(err, jsonkeys.ErrNotObject):
		return apperr.New(apperr.Invalid, "send a JSON object ({...}), not an array or a bare value")
	default:
		return apperr.New(apperr.Invalid, "%s", err.Error())
	}
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The one error read by its text: encoding/json gives DisallowUnknownFields
		// no error type or value (golang/go#29035); TestDescribeJSONError pins the
		// wording, and a changed wording still reaches the client in the default case.
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the JSON ends early"
	default:
		// Custom unmarshalers (durations) give a message meant for people; it
		// holds no secret since it describes the field's shape.
		return "invalid JSON: " + err.Error()
	}
}
