package capability_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// recordCounter counts the token records read, to prove a page reads only
// its own tokens' records.
type recordCounter struct {
	store
	gets atomic.Int64
}

func (c *recordCounter) Get(ctx context.Context, key string) (secrets.Record, error) {
	if strings.HasPrefix(key, "tokens/") {
		c.gets.Add(1)
	}
	return c.store.Get(ctx, key)
}

func TestListPage(t *testing.T) {
	pastEnd := capability.EncodeCursor("tok_zzzzzzzzzzzzzzzzzzzz")
	tests := map[string]struct {
		tokens, limit int
		revoke        int // how many of the tokens are revoked first
		cursor        string
		wantPages     []int
		embeddedOnly  bool // too many creates for a Transit round trip each
	}{
		"empty store":                {tokens: 0, limit: 3, wantPages: []int{0}},
		"one partial page":           {tokens: 2, limit: 3, wantPages: []int{2}},
		"exactly one page":           {tokens: 3, limit: 3, wantPages: []int{3}},
		"limit plus one":             {tokens: 4, limit: 3, wantPages: []int{3, 1}},
		"two full pages":             {tokens: 6, limit: 3, wantPages: []int{3, 3}},
		"limit one":                  {tokens: 3, limit: 1, wantPages: []int{1, 1, 1}},
		"default limit":              {tokens: 2, limit: 0, wantPages: []int{2}},
		"revoked listed as today":    {tokens: 4, limit: 2, revoke: 3, wantPages: []int{2, 2}},
		"cursor past the end":        {tokens: 2, limit: 3, cursor: pastEnd, wantPages: []int{0}},
		"at the max page size":       {tokens: capability.MaxPageSize, limit: capability.MaxPageSize, wantPages: []int{capability.MaxPageSize}, embeddedOnly: true},
		"one past the max page size": {tokens: capability.MaxPageSize + 1, limit: capability.MaxPageSize, wantPages: []int{capability.MaxPageSize, 1}, embeddedOnly: true},
	}
	for backend, open := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			for name, tt := range tests {
				t.Run(name, func(t *testing.T) {
					if tt.embeddedOnly && (backend != "embedded" || testing.Short()) {
						t.Skip("1,000 creates: embedded store, not -short")
					}
					log := slog.New(slog.DiscardHandler)
					st := &recordCounter{store: open(t, log)}
					clk := testclock.New(time.Now().UTC())
					reg := newRegistry(t, st, clk, log)
					ctx := context.Background()
					var ids []string
					for i := range tt.tokens {
						out, err := reg.Create(ctx, api.CreateTokenRequest{Name: "t",
							Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret},
							Policy:      launchPolicy()})
						if err != nil {
							t.Fatal(err)
						}
						ids = append(ids, out.ID)
						if i < tt.revoke {
							if _, err := reg.Revoke(ctx, out.ID); err != nil {
								t.Fatal(err)
							}
						}
					}
					slices.Sort(ids)
					if tt.cursor != "" {
						ids = nil
					}

					var got []string
					var sizes []int
					revoked := 0
					cursor := tt.cursor
					for page := 0; ; page++ {
						if page > len(tt.wantPages) {
							t.Fatalf("more pages than the %d wanted", len(tt.wantPages))
						}
						st.gets.Store(0)
						p, err := reg.ListPage(ctx, cursor, tt.limit)
						if err != nil {
							t.Fatal(err)
						}
						if n := st.gets.Load(); n != int64(len(p.Tokens)) {
							t.Errorf("page %d read %d token records for %d tokens; want one each", page, n, len(p.Tokens))
						}
						sizes = append(sizes, len(p.Tokens))
						for _, i := range p.Tokens {
							got = append(got, i.ID)
							if i.Status(clk.Now()) == "revoked" {
								revoked++
							}
						}
						if p.Next == "" {
							break
						}
						cursor = p.Next
					}
					if !slices.Equal(sizes, tt.wantPages) {
						t.Errorf("page sizes = %v; want %v", sizes, tt.wantPages)
					}
					if !slices.Equal(got, ids) {
						t.Errorf("listed ids (%d) differ from the created ones in id order (%d)", len(got), len(ids))
					}
					if want := min(tt.revoke, len(ids)); revoked != want {
						t.Errorf("revoked tokens listed = %d; want %d", revoked, want)
					}
				})
			}
		})
	}
}

func TestListPageRefuses(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st := backends(t)["embedded"](t, log)
	reg := newRegistry(t, st, testclock.New(time.Now().UTC()), log)
	good := capability.EncodeCursor("tok_aaaaaaaaaaaaaaaaaaaa")
	tests := map[string]struct {
		cursor   string
		limit    int
		wantCode string
	}{
		"limit at the max":       {cursor: good, limit: capability.MaxPageSize},
		"limit one past the max": {limit: capability.MaxPageSize + 1, wantCode: apperr.Invalid},
		"negative limit":         {limit: -1, wantCode: apperr.Invalid},
		"garbage cursor":         {cursor: "!!not base64!!", limit: 1, wantCode: apperr.Invalid},
		"base64 of a non-id":     {cursor: capability.EncodeCursor("tokens/../x"), limit: 1, wantCode: apperr.Invalid},
		"padded base64 of an id": {cursor: good + "==", limit: 1, wantCode: apperr.Invalid},
		"id without base64":      {cursor: "tok_aaaaaaaaaaaaaaaaaaaa", limit: 1, wantCode: apperr.Invalid},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := reg.ListPage(context.Background(), tt.cursor, tt.limit)
			if got := apperr.Code(err); (tt.wantCode == "" && err != nil) || (tt.wantCode != "" && got != tt.wantCode) {
				t.Fatalf("ListPage(%q, %d) = %v; want code %q", tt.cursor, tt.limit, err, tt.wantCode)
			}
		})
	}
}
