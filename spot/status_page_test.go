package spot

import (
	"context"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// TestStatusPaged: a status page is one DescribeInstances page of limit
// instances; at the limit there is no next cursor, one past it the cursor
// reads the rest, and every instance is listed exactly once.
func TestStatusPaged(t *testing.T) {
	tests := map[string]struct{ live, limit int }{
		"at the smallest limit":      {5, 5},
		"one past the smallest":      {6, 5},
		"at the default page":        {StatusDefaultPage, StatusDefaultPage},
		"one past the default page":  {StatusDefaultPage + 1, StatusDefaultPage},
		"at the largest limit":       {StatusMaxPage, StatusMaxPage},
		"one past the largest limit": {StatusMaxPage + 1, StatusMaxPage},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			if err := e.sim.SetCapacity(region, "", "", false, 1<<30); err != nil {
				t.Fatal(err)
			}
			e.seed(t, "tokA", tt.live, time.Hour)
			e.seed(t, "tokB", 7, time.Hour) // another token's: never listed
			e.resetCalls()
			seen := map[string]bool{}
			var sizes []int
			cursor := ""
			for {
				res, err := e.client.StatusPaged(context.Background(), e.creds, region, "tokA", nil, StatusPage{Limit: tt.limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(res.Instances))
				for _, in := range res.Instances {
					if in.Tags[TagToken] != "tokA" || seen[in.ID] {
						t.Fatalf("listed %s (token %q) again or of another token", in.ID, in.Tags[TagToken])
					}
					seen[in.ID] = true
				}
				if cursor = res.NextCursor; cursor == "" {
					break
				}
				if len(sizes) > tt.live {
					t.Fatal("cursor never ends")
				}
			}
			wantPages := (tt.live + tt.limit - 1) / tt.limit
			if len(seen) != tt.live || len(sizes) != wantPages || sizes[0] != tt.limit {
				t.Fatalf("pages %v holding %d; want %d pages, the first of %d, holding %d", sizes, len(seen), wantPages, tt.limit, tt.live)
			}
			if got := e.callCount("DescribeInstances"); got != wantPages {
				t.Fatalf("%d DescribeInstances calls for %d pages; want one a page", got, wantPages)
			}
		})
	}
}

// TestStatusPagedRefuses: a limit outside EC2's page range, a limit with
// named ids, and a cursor that is not EC2's are 400s that list nothing.
func TestStatusPagedRefuses(t *testing.T) {
	tests := map[string]struct {
		ids  []string
		page StatusPage
	}{
		"below the smallest": {page: StatusPage{Limit: StatusMinPage - 1}},
		"past the largest":   {page: StatusPage{Limit: StatusMaxPage + 1}},
		"with named ids":     {ids: []string{"i-0123456789abcdef0"}, page: StatusPage{Limit: 10}},
		"a forged cursor":    {page: StatusPage{Limit: 10, Cursor: "not-a-token"}},
	}
	e := mustEnv(t)
	e.seed(t, "tokA", 1, time.Hour)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := e.client.StatusPaged(context.Background(), e.creds, region, "tokA", tt.ids, tt.page)
			wantCode(t, err, apperr.Invalid)
			if len(res.Instances) != 0 {
				t.Fatalf("listed %d instances with the error", len(res.Instances))
			}
		})
	}
}
