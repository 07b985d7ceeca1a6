package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/client"
)

// TestTokenListPages walks GET /v1/tokens page by page over HTTP, through
// the client and through the CLI, against a real `spotter serve`.
func TestTokenListPages(t *testing.T) {
	env, _ := startAdminSandbox(t)
	for i := range 4 {
		createTestToken(t, env, "page-"+string(rune('a'+i)))
	}
	c, err := client.New(env[cliEnvServer], client.WithAdminToken(env[cliEnvAdminToken]))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all, err := c.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tok := range all {
		ids = append(ids, tok.ID)
	}
	if len(ids) < 4 || !slices.IsSorted(ids) {
		t.Fatalf("ListTokens = %v; want at least the 4 created, in id order", ids)
	}
	n := len(ids)

	t.Run("http", func(t *testing.T) {
		base := env[cliEnvServer] + "/v1/tokens"
		admin := env[cliEnvAdminToken]
		tests := map[string]struct {
			query      string
			wantStatus int
			wantError  string
			wantCount  int
			wantNext   bool
		}{
			"default":             {query: "", wantStatus: 200, wantCount: n},
			"limit at the max":    {query: "?limit=1000", wantStatus: 200, wantCount: n},
			"limit one past max":  {query: "?limit=1001", wantStatus: 400, wantError: "invalid_request"},
			"limit zero":          {query: "?limit=0", wantStatus: 400, wantError: "invalid_request"},
			"limit not a number":  {query: "?limit=ten", wantStatus: 400, wantError: "invalid_request"},
			"garbage cursor":      {query: "?cursor=%25%25garbage", wantStatus: 400, wantError: "invalid_request"},
			"page exactly all":    {query: "?limit=" + strconv.Itoa(n), wantStatus: 200, wantCount: n},
			"page one short":      {query: "?limit=" + strconv.Itoa(n-1), wantStatus: 200, wantCount: n - 1, wantNext: true},
			"cursor past the end": {query: "?cursor=" + capability.EncodeCursor("tok_zzzzzzzzzzzzzzzzzzzz"), wantStatus: 200, wantCount: 0},
		}
		for name, tt := range tests {
			t.Run(name, func(t *testing.T) {
				code, v, raw := call(t, http.DefaultClient, "GET", base+tt.query, admin, "", nil)
				if code != tt.wantStatus || (tt.wantError != "" && v["error"] != tt.wantError) {
					t.Fatalf("GET %s = %d %s; want %d %q", tt.query, code, raw, tt.wantStatus, tt.wantError)
				}
				if code != 200 {
					return
				}
				toks, _ := v["tokens"].([]any)
				_, hasNext := v["nextCursor"]
				if len(toks) != tt.wantCount || hasNext != tt.wantNext {
					t.Errorf("GET %s = %d tokens, nextCursor %t; want %d, %t", tt.query, len(toks), hasNext, tt.wantCount, tt.wantNext)
				}
			})
		}
	})

	t.Run("client pages", func(t *testing.T) {
		var got []string
		pages := 0
		for tok, err := range c.Tokens(ctx, 3) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, tok.ID)
		}
		for o := (client.ListTokensOptions{Limit: 3}); ; pages++ {
			p, err := c.ListTokensPage(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if p.NextCursor == "" {
				pages++
				break
			}
			o.Cursor = p.NextCursor
		}
		if !slices.Equal(got, ids) || pages != (n+2)/3 {
			t.Errorf("Tokens(3) = %v over %d pages; want %v over %d", got, pages, ids, (n+2)/3)
		}
		_, err := c.ListTokensPage(ctx, client.ListTokensOptions{Limit: 1, Cursor: "nope"})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != "invalid_request" || !strings.Contains(ce.Details, "nextCursor") {
			t.Errorf("ListTokensPage with a made-up cursor = %v; want invalid_request naming nextCursor", err)
		}
	})

	t.Run("cli", func(t *testing.T) {
		var got []string
		cursor := ""
		for range n + 1 {
			args := []string{"token", "list", "--limit", "3", "--json"}
			if cursor != "" {
				args = append(args, "--cursor", cursor)
			}
			var p api.TokenPage
			if err := json.Unmarshal([]byte(mustCLI(t, env, "", args...).stdout), &p); err != nil {
				t.Fatal(err)
			}
			for _, tok := range p.Tokens {
				got = append(got, tok.ID)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, ids) {
			t.Errorf("token list --limit 3 pages = %v; want %v", got, ids)
		}
		r := mustCLI(t, env, "", "token", "list", "--limit", "1")
		if !strings.Contains(r.stderr, "more tokens: spotter token list --limit 1 --cursor ") || !strings.Contains(r.stdout, ids[0]) {
			t.Errorf("token list --limit 1: stdout %q stderr %q; want the first token and the next command", r.stdout, r.stderr)
		}
		for _, args := range [][]string{{"--limit", "1001"}, {"--limit", "-1"}, {"--cursor", "abc"}} {
			if r := runCLI(t, env, "", append([]string{"token", "list"}, args...)...); r.err == nil || !strings.Contains(r.err.Error(), "--limit takes 1 to 1000") {
				t.Errorf("token list %v = %v; want a usage error", args, r.err)
			}
		}
	})
}
