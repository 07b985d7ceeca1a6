package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/task"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

const poolAdmin = "pool-test-admin-token-0123456789"

// poolServer is the real router over real registries on one store.
type poolServer struct {
	e     *echo.Echo
	st    secrets.Store
	logs  *syncBuffer
	raw   func(t *testing.T) []byte // what the backend holds, read around the API
	toks  map[string]string         // kind → token id
	caps  map[string]string         // kind → a task capability token
	creds []string                  // credential secrets registered
	deps  Deps                      // what e was built from
}

func poolBackends() map[string]func(t *testing.T, log *slog.Logger) (secrets.Store, func(t *testing.T) []byte) {
	return map[string]func(t *testing.T, log *slog.Logger) (secrets.Store, func(t *testing.T) []byte){
		"embedded": func(t *testing.T, log *slog.Logger) (secrets.Store, func(t *testing.T) []byte) {
			dir := t.TempDir()
			s, err := secrets.OpenEmbedded(dir, nil, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func(t *testing.T) []byte {
				b, err := os.ReadFile(filepath.Join(dir, "spotter.db"))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		},
		"vault": func(t *testing.T, log *slog.Logger) (secrets.Store, func(t *testing.T) []byte) {
			srv := vaulttest.Shared(t)
			kv, transit := vaulttest.Unique("poolsrv-kv"), vaulttest.Unique("poolsrv-transit")
			s, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Addr: srv.Addr, Token: srv.Token, KVMount: kv, TransitMount: transit, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				s.Close()
				c := srv.Client(t)
				_ = c.Sys().Unmount(kv)
				_ = c.Sys().Unmount(transit)
			})
			return s, func(t *testing.T) []byte {
				// Every pool record as Vault's KV returns it.
				var all []byte
				keys, err := s.List(context.Background(), pools.Prefix)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					r, err := s.Get(context.Background(), k)
					if err != nil {
						t.Fatal(err)
					}
					all = append(append(all, r.Public...), r.Sealed...)
				}
				return all
			}
		},
	}
}

func newPoolServer(t *testing.T, open func(t *testing.T, log *slog.Logger) (secrets.Store, func(t *testing.T) []byte), lim handlers.DemandLimit) *poolServer {
	t.Helper()
	ps := &poolServer{logs: &syncBuffer{}, toks: map[string]string{}, caps: map[string]string{}}
	log := slog.New(slog.NewJSONHandler(ps.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, raw := open(t, log)
	ps.st, ps.raw = st, raw
	lim.Store = st
	keys, ok := st.(token.KeySource)
	if !ok {
		t.Fatalf("%T is no key source", st)
	}
	auth, err := token.NewAuthority(keys, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	caps, err := capability.New(capability.Config{Store: st, Authority: auth, Logger: log, PublicURL: "https://spotter.test"})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := capability.NewAdmin(context.Background(), st, poolAdmin)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := pools.New(pools.Config{Store: st, Authority: auth, Tokens: caps, Logger: log, PublicURL: "https://spotter.test"})
	if err != nil {
		t.Fatal(err)
	}
	pol := api.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"c6i.*"}, AMIs: []string{"ami-0abc1234"}, MaxCount: 10, MaxRunning: 50,
		MaxTTL: api.Duration(12 * time.Hour)}
	for kind, mfa := range map[string]*api.MFAInput{"plain": nil, "totp": {TOTP: true}} {
		secret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-" + kind
		p := pol
		out, err := caps.Create(context.Background(), api.CreateTokenRequest{Name: kind, Policy: &p, MFA: mfa,
			Credentials: &api.CredentialsInput{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret}})
		if err != nil {
			t.Fatal(err)
		}
		ps.toks[kind], ps.caps[kind], ps.creds = out.ID, out.Token, append(ps.creds, secret)
	}
	// The task routes are there too, so a test can show a pool capability
	// runs no task; the AWS endpoints answer nothing, and nothing reaches them.
	sp, err := spot.New(spot.Config{EC2Endpoint: "http://127.0.0.1:1", STSEndpoint: "http://127.0.0.1:1", PricingEndpoint: "http://127.0.0.1:1", DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ps.deps = Deps{Logger: log, Store: st, Tokens: caps, Admin: admin, Keys: nil, Pools: reg, DemandLimit: lim,
		Tasks: handlers.TaskDeps{Pipeline: &task.Pipeline{Tokens: caps, Spot: sp}, Tokens: caps}}
	ps.e = New(ps.deps, Options{})
	return ps
}

// reply is one answer of the router.
type reply struct {
	status int
	body   map[string]any
	header http.Header
	raw    string
}

func (ps *poolServer) call(t *testing.T, method, path, body, bearer string, hdr ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	ps.e.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
		t.Fatalf("%s %s = %d %q: not a JSON object", method, path, rec.Code, rec.Body)
	}
	return r
}

// issuePool is the issue's JSON for a pool on token tok.
func issuePool(name, tok string) string {
	return `{"name": "` + name + `", "tokenId": "` + tok + `", "region": "us-east-1", "ami": "ami-0abc1234",
	 "launchConfigs": [{"instanceType": "c6i.large", "capacity": 1}, {"instanceType": "c6i.2xlarge", "capacity": 4}],
	 "minCapacity": 0, "maxCapacity": 50, "scalingRatio": 1.0, "idleTimeout": "10m",
	 "maxLifetime": "12h", "labels": ["self-hosted", "linux"]}`
}

// create makes a pool through the router and returns its capability.
func (ps *poolServer) create(t *testing.T, name string) string {
	t.Helper()
	r := ps.call(t, http.MethodPost, "/v1/pools", issuePool(name, ps.toks["plain"]), poolAdmin)
	if r.status != http.StatusCreated {
		t.Fatalf("create %s = %d %s", name, r.status, r.raw)
	}
	return r.body["token"].(string)
}

// poolCase is one request and what must come back.
type poolCase struct {
	method, path, body string
	bearer             string // "admin", "pool" (the case's pool capability), "" or a literal token
	hdr                []string
	status             int
	code               string // the error code; "" for success
	details            string // part of the details
	check              func(t *testing.T, r reply)
	// before runs on the case's fresh pool, before the request.
	before func(t *testing.T, ps *poolServer)
}

func (ps *poolServer) run(t *testing.T, tt poolCase, poolCap string) reply {
	t.Helper()
	bearer := tt.bearer
	switch bearer {
	case "admin":
		bearer = poolAdmin
	case "pool":
		bearer = poolCap
	}
	if tt.before != nil {
		tt.before(t, ps)
	}
	path := strings.ReplaceAll(tt.path, "{cap}", poolCap)
	r := ps.call(t, tt.method, path, tt.body, bearer, tt.hdr...)
	if r.status != tt.status {
		t.Fatalf("%s %s = %d %s; want %d", tt.method, tt.path, r.status, r.raw, tt.status)
	}
	if r.body["code"] != float64(tt.status) {
		t.Errorf("code field %v; want %d", r.body["code"], tt.status)
	}
	if tt.code != "" || r.status >= 400 {
		if r.body["error"] != tt.code || !strings.Contains(r.body["details"].(string), tt.details) {
			t.Fatalf("error %v %q; want %s with %q", r.body["error"], r.body["details"], tt.code, tt.details)
		}
	}
	if tt.check != nil {
		tt.check(t, r)
	}
	return r
}

// adminCall is a case's step before its request, with the admin token.
func adminCall(method, path string) func(t *testing.T, ps *poolServer) {
	return func(t *testing.T, ps *poolServer) {
		t.Helper()
		if r := ps.call(t, method, path, "", poolAdmin); r.status >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, r.status, r.raw)
		}
	}
}

// forceRemove drops a pool's record as the reconciler will once its
// instances are gone.
func forceRemove(ps *poolServer, name string) error {
	err := ps.st.Delete(context.Background(), pools.Prefix+name)
	if apperr.Code(err) == apperr.NotFound {
		return nil
	}
	return err
}

// runFresh runs each case on a pool "p" created for it.
func (ps *poolServer) runFresh(t *testing.T, tests map[string]poolCase) {
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if err := forceRemove(ps, "p"); err != nil {
				t.Fatal(err)
			}
			poolCap := ps.create(t, "p")
			ps.run(t, tt, poolCap)
		})
	}
}
