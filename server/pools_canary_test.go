package server

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/handlers"
)

// TestPoolSecretsStayPut: a pool's capability appears in the replies that
// hand it out (create, rotate) and nowhere else — not in other replies,
// not in a log line, not in what the store holds — and the token's
// credentials appear nowhere at all.
func TestPoolSecretsStayPut(t *testing.T) {
	for backend, open := range poolBackends() {
		t.Run(backend, func(t *testing.T) {
			ps := newPoolServer(t, open, handlers.DemandLimit{})
			first := ps.create(t, "linux-ci")
			rot := ps.call(t, "POST", "/v1/pools/linux-ci/rotate", "", poolAdmin)
			second, _ := rot.body["token"].(string)
			if rot.status != 200 || second == "" || second == first || rot.body["url"] != "https://spotter.test/hooks/"+second {
				t.Fatalf("rotate = %d %s", rot.status, rot.raw)
			}
			var replies []reply
			for _, c := range []struct{ method, path, body, bearer string }{
				{"POST", "/hooks/" + second + "/demand", `{"pending": 2}`, ""},
				{"POST", "/v1/pools/linux-ci/demand", `{"pending": 2}`, second},
				{"POST", "/hooks/" + first + "/demand", `{"pending": 2}`, ""}, // refused: rotated out
				{"POST", "/v1/pools/linux-ci/demand", `{"pending": 2, "pending": 3}`, second},
				{"POST", "/v1/pools/linux-ci/demand", `{"pending": 2}`, first},
				{"GET", "/v1/pools/linux-ci", "", poolAdmin},
				{"GET", "/v1/pools", "", poolAdmin},
				{"PATCH", "/v1/pools/linux-ci", `{"maxCapacity": 40}`, poolAdmin},
				{"POST", "/v1/pools/linux-ci/drain", "", poolAdmin},
				{"POST", "/v1/pools/linux-ci/revoke", "", poolAdmin},
				{"POST", "/hooks/" + second + "/demand", `{"pending": 2}`, ""}, // refused: revoked
				{"DELETE", "/v1/pools/linux-ci", "", poolAdmin},
			} {
				replies = append(replies, ps.call(t, c.method, c.path, c.body, c.bearer))
			}
			secrets := map[string]string{"first capability": first, "second capability": second,
				"first signature": sigOf(first), "second signature": sigOf(second)}
			for i, c := range ps.creds {
				secrets["credential "+string(rune('0'+i))] = c
			}
			places := map[string]string{"logs": ps.logs.String(), "store": string(ps.raw(t))}
			for i, r := range replies {
				places["reply "+string(rune('a'+i))] = r.raw
			}
			if !strings.Contains(places["logs"], "pool created") || !strings.Contains(places["store"], "linux-ci") {
				t.Fatalf("the canary reads nothing: logs %d bytes, store %d bytes", len(places["logs"]), len(places["store"]))
			}
			for where, text := range places {
				for what, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s holds the %s", where, what)
					}
				}
			}
		})
	}
}

// sigOf is a JWT's signature part: enough to find a token written in
// pieces.
func sigOf(tok string) string {
	return tok[strings.LastIndex(tok, ".")+1:]
}
