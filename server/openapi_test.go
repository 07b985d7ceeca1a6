package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/pages"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/sources"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// TestOpenAPICoversRoutes builds the server with every dependency present
// and checks the document lists exactly the registered routes.
func TestOpenAPICoversRoutes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spot.New(spot.Config{EC2Endpoint: "http://127.0.0.1:1", STSEndpoint: "http://127.0.0.1:1", PricingEndpoint: "http://127.0.0.1:1", DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := pools.New(pools.Config{Store: st, Authority: auth, Tokens: reg})
	if err != nil {
		t.Fatal(err)
	}
	src, err := sources.New(sources.Deps{Store: st, Pools: pl})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := bootstrap.New(bootstrap.Config{Store: st, Pools: pl, Instances: noInstances{}, PublicURL: "https://spotter.test"})
	if err != nil {
		t.Fatal(err)
	}
	e := New(Deps{Logger: log, Store: st, Tokens: reg, Keys: st, Metrics: metrics.New(),
		Tasks: handlers.TaskDeps{Pipeline: &task.Pipeline{Tokens: reg, Spot: sp}, Tokens: reg}, Pools: pl, Sources: src, Bootstrap: boot,
		Console: &pages.ConsoleDeps{Store: st, Tokens: reg}}, Options{})

	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q; want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
			var o struct {
				Responses map[string]any `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || len(o.Responses) == 0 {
				t.Errorf("%s %s documents no responses", method, path)
			}
		}
	}
	param := regexp.MustCompile(`:([a-zA-Z]+)`)
	var registered []string
	for _, r := range e.Routes() {
		if strings.HasPrefix(r.Method, "echo_") || strings.Contains(r.Path, "*") {
			continue // Echo's own not-found routes for groups
		}
		registered = append(registered, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(registered)
	for _, r := range registered {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
}

// noInstances is an EC2 that knows no instance.
type noInstances struct{}

func (noInstances) Instance(context.Context, pool.Pool, string) (bootstrap.Instance, bool, error) {
	return bootstrap.Instance{}, false, nil
}
