package handlers_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/awssim"
)

// TestAdminRoutes drives the admin API through the real router, behind
// the admin token. The cases run in order on one stack: the last revokes
// a token and a task with it is then refused.
func TestAdminRoutes(t *testing.T) {
	f := mustFixture(t)
	admin := map[string]string{echo.HeaderAuthorization: "Bearer " + adminToken}
	plain, totp, signed := f.tokens["plain"].ID, f.tokens["totp"].ID, f.tokens["signed"].ID
	const jsonType = echo.MIMEApplicationJSON
	create := `{"name":"ci","credentials":{"accessKeyId":"` + awssim.DefaultAccessKeyID + `","secretAccessKey":"` + awssim.DefaultSecretAccessKey + `"},` +
		`"policy":{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxTTL":"1h"}}`
	f.run(t, []routeCase{
		{name: "no admin token", method: http.MethodGet, path: "/v1/tokens", wantStatus: 401, wantCode: apperr.Unauth, want: []string{"Authorization: Bearer"}},
		{name: "a capability token as admin", method: http.MethodGet, path: "/v1/tokens", header: map[string]string{echo.HeaderAuthorization: "Bearer " + f.raw("plain")},
			wantStatus: 401, wantCode: apperr.Unauth, want: []string{"not accepted"}},
		{name: "list", method: http.MethodGet, path: "/v1/tokens", header: admin,
			wantStatus: 200, want: []string{`"tokens":[`, `"id":"` + plain + `"`, `"status":"revoked"`, `"status":"active"`}},
		{name: "list one per page", method: http.MethodGet, path: "/v1/tokens?limit=1", header: admin, wantStatus: 200, want: []string{`"nextCursor":`}},
		{name: "list limit 0", method: http.MethodGet, path: "/v1/tokens?limit=0", header: admin, wantStatus: 400, wantCode: apperr.Invalid},
		{name: "list limit not a number", method: http.MethodGet, path: "/v1/tokens?limit=ten", header: admin, wantStatus: 400, wantCode: apperr.Invalid, want: []string{"whole number"}},
		{name: "show", method: http.MethodGet, path: "/v1/tokens/" + plain, header: admin, wantStatus: 200, want: []string{`"id":"` + plain + `"`, `"name":"plain"`, `"status":"active"`}},
		{name: "show unknown", method: http.MethodGet, path: "/v1/tokens/tok_unknown", header: admin, wantStatus: 404, wantCode: apperr.NotFound},
		{name: "create", path: "/v1/tokens", ctype: jsonType, body: create, header: admin,
			wantStatus: 201, want: []string{`"code":201`, `"token":"`, `"url":"` + publicURL + `/hooks/`, `"status":"active"`}},
		{name: "create from a form", path: "/v1/tokens", ctype: "text/plain", body: create, header: admin, wantStatus: 415, wantCode: apperr.Unsupported},
		{name: "create without credentials", path: "/v1/tokens", ctype: jsonType, body: `{"name":"ci"}`, header: admin, wantStatus: 400, wantCode: apperr.Invalid},
		{name: "create with a repeated key", path: "/v1/tokens", ctype: jsonType, body: `{"name":"a","name":"b"}`, header: admin, wantStatus: 400, wantCode: apperr.Invalid},
		{name: "rotate the signing secret", path: "/v1/tokens/" + signed + "/rotate", ctype: jsonType, body: `{"signingSecret":true,"grace":"0s"}`, header: admin,
			wantStatus: 200, want: []string{`"signingSecret":"`}},
		{name: "unlock MFA", path: "/v1/tokens/" + totp + "/unlock", header: admin, wantStatus: 200, want: []string{`"id":"` + totp + `"`, `"wasLocked":false`}},
		{name: "rotate the signing keys", path: "/v1/keys/rotate", header: admin, wantStatus: 200, want: []string{`"keyId":"`}},
		{name: "revoke", method: http.MethodDelete, path: "/v1/tokens/" + plain, header: admin, wantStatus: 200, want: []string{`"status":"revoked"`, `"revokedAt":"`}},
		{name: "a task with the revoked token", path: "/hooks/" + f.raw("plain"), ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 401, wantCode: apperr.TokenRevoked, wantOutcome: "unknown/refused"},
	})
	rec := f.do(http.MethodGet, "/v1/tokens", "", "", nil)
	if got := rec.Header().Get(echo.HeaderWWWAuthenticate); got != `Bearer realm="spotter-admin"` {
		t.Errorf("GET /v1/tokens without a token: WWW-Authenticate %q; want the admin realm", got)
	}
}
