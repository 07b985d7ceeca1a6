package taskcluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Hawk is verified in full for the header scheme Taskcluster clients use:
// id = clientId, key = accessToken, sha256, the MAC over the normalized
// string "hawk.1.header\nts\nnonce\nMETHOD\nresource\nhost\nport\nhash\next\n"
// (plus app/dlg when present), and ts within ±SkewSeconds of the server's
// clock. Not checked: the payload hash against the body (the endpoints here
// are GETs), nonce replay, bewit URLs, temporary-credential certificates in
// ext, and authorizedScopes.

// SkewSeconds is Hawk's default allowed clock skew.
const SkewSeconds = 60

var errHawk = errors.New("hawk: bad authorization")

type hawkAttrs struct {
	id, ts, nonce, hash, ext, mac, app, dlg string
}

// parseHawk reads `Hawk id="…", ts="…", …`, refusing unknown or repeated
// attributes and characters outside Hawk's allowed set.
func parseHawk(header string) (hawkAttrs, error) {
	var a hawkAttrs
	rest, ok := strings.CutPrefix(header, "Hawk ")
	if !ok || len(header) > 4096 {
		return a, errHawk
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := hawkAttr(part)
		if !ok || seen[k] {
			return a, errHawk
		}
		seen[k] = true
		f := a.field(k)
		if f == nil {
			return a, errHawk
		}
		*f = v
	}
	if a.id == "" || a.ts == "" || a.nonce == "" || a.mac == "" {
		return a, errHawk
	}
	return a, nil
}

// hawkAttr reads one `key="value"` attribute, refusing a value that is not
// quoted or holds characters outside Hawk's allowed set.
func hawkAttr(part string) (k, v string, ok bool) {
	k, v, ok = strings.Cut(strings.TrimSpace(part), "=")
	if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", "", false
	}
	v = v[1 : len(v)-1]
	for _, c := range v {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", "", false
		}
	}
	return k, v, true
}

// field is where attribute k goes, or nil for an attribute Hawk does not have.
func (a *hawkAttrs) field(k string) *string {
	switch k {
	case "id":
		return &a.id
	case "ts":
		return &a.ts
	case "nonce":
		return &a.nonce
	case "hash":
		return &a.hash
	case "ext":
		return &a.ext
	case "mac":
		return &a.mac
	case "app":
		return &a.app
	case "dlg":
		return &a.dlg
	}
	return nil
}

// hawkMAC is base64(HMAC-SHA256(key, normalized string)).
func hawkMAC(key, method, resource, host, port string, a hawkAttrs) string {
	s := "hawk.1.header\n" + a.ts + "\n" + a.nonce + "\n" + strings.ToUpper(method) + "\n" + resource + "\n" +
		strings.ToLower(host) + "\n" + port + "\n" + a.hash + "\n" + a.ext + "\n"
	if a.app != "" {
		s += a.app + "\n" + a.dlg + "\n"
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hostPort splits r.Host, defaulting the port as Hawk clients do.
func hostPort(r *http.Request) (string, string) {
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		return h, p
	}
	if r.TLS != nil {
		return r.Host, "443"
	}
	return r.Host, "80"
}

// verifyHawk returns the authenticated clientId, or an error naming what is
// wrong (never the key or the expected MAC).
func verifyHawk(r *http.Request, keys map[string]string, now time.Time) (string, error) {
	a, err := parseHawk(r.Header.Get("Authorization"))
	if err != nil {
		return "", errors.New("the Authorization header is not a Hawk header with id, ts, nonce and mac")
	}
	key, ok := keys[a.id]
	if !ok {
		return "", errors.New("unknown clientId")
	}
	host, port := hostPort(r)
	if !hmac.Equal([]byte(hawkMAC(key, r.Method, r.URL.RequestURI(), host, port, a)), []byte(a.mac)) {
		return "", errors.New("bad mac")
	}
	ts, err := strconv.ParseInt(a.ts, 10, 64)
	if err != nil || ts < now.Unix()-SkewSeconds || ts > now.Unix()+SkewSeconds {
		return "", errors.New("stale timestamp")
	}
	return a.id, nil
}

// SignHawk sets a Hawk Authorization header on req for clientID/accessToken
// at now, as Taskcluster's clients do (no payload hash, no ext). Tests use
// it to call the fake; spotter's own client signs independently.
func SignHawk(req *http.Request, clientID, accessToken string, now time.Time, nonce string) {
	host, port := hostPort(req)
	if req.Host == "" {
		host, port = req.URL.Hostname(), req.URL.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[req.URL.Scheme]
			if port == "" {
				port = "80"
			}
		}
	}
	a := hawkAttrs{id: clientID, ts: strconv.FormatInt(now.Unix(), 10), nonce: nonce}
	a.mac = hawkMAC(accessToken, req.Method, req.URL.RequestURI(), host, port, a)
	req.Header.Set("Authorization", `Hawk id="`+a.id+`", ts="`+a.ts+`", nonce="`+a.nonce+`", mac="`+a.mac+`"`)
}
