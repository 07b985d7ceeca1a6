package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

// TestPoolCallsWithoutCode: pool replies come back without the server's
// "code", as every admin reply does, and the definition a person wrote
// reaches the server with every key as written (so the server judges them).
func TestPoolCallsWithoutCode(t *testing.T) {
	const def = `{"name":"p","maxCapacity":2,"maxCapacity":3}`
	var got string
	info := `"name":"p","status":"active","instances":[]`
	replies := map[string]string{
		"POST /v1/pools":             `{"code":201,` + info + `,"token":"t","url":"u"}`,
		"GET /v1/pools":              `{"code":200,"pools":[{` + info + `}]}`,
		"GET /v1/pools/p":            `{"code":200,` + info + `}`,
		"POST /v1/pools/p/rotate":    `{"code":200,` + info + `,"token":"t","url":"u"}`,
		"POST /v1/pools/p/demand":    `{"code":200,"pool":"p","demand":{"pending":1,"running":0,"idle":0},"desired":1}`,
		"POST /hooks/eyJ.x.y/demand": `{"code":200,"pool":"p","demand":{"pending":1,"running":0,"idle":0},"desired":1}`,
		"DELETE /v1/pools/p":         `{"code":202,` + info + `}`,
		"POST /v1/pools/p/drain":     `{"code":200,` + info + `}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := replies[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/v1/pools" && r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			got = string(b)
			w.WriteHeader(http.StatusCreated)
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusAccepted)
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithAdminToken("admin"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := api.DemandRequest{Pending: 1}
	calls := map[string]func() (any, error){
		"create":        func() (any, error) { return c.CreatePool(ctx, json.RawMessage(def)) },
		"list":          func() (any, error) { return c.ListPools(ctx) },
		"show":          func() (any, error) { return c.GetPool(ctx, "p") },
		"rotate":        func() (any, error) { return c.RotatePoolCapability(ctx, "p") },
		"demand":        func() (any, error) { return c.ReportDemand(ctx, "p", d) },
		"demand by URL": func() (any, error) { return c.ReportDemandByURL(ctx, srv.URL+"/hooks/eyJ.x.y", d) },
		"delete":        func() (any, error) { return c.DeletePool(ctx, "p") },
		"drain":         func() (any, error) { return c.DrainPool(ctx, "p") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			out, err := call()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(out)
			if strings.Contains(string(b), `"code"`) || !strings.Contains(string(b), `"p"`) {
				t.Errorf("%s returned %s; want the reply's content without code", name, b)
			}
		})
	}
	if got != def {
		t.Errorf("create sent %s; want the definition as written, %s", got, def)
	}
}
