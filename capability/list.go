package capability

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/spotter-dev/spotter/apperr"
)

// Page sizes for ListPage: a page reads one record per token, so the cap
// bounds what one admin request costs the store.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of tokens in id order. Next is the cursor of the page
// after this one, "" on the last page.
type Page struct {
	Tokens []Info
	Next   string
}

// EncodeCursor makes the opaque cursor that resumes a listing after id.
func EncodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// decodeCursor checks a cursor came from EncodeCursor, so a mangled one is
// refused rather than silently restarting or skipping part of the listing.
func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !ValidID(string(b)) {
		return "", apperr.New(apperr.Invalid, "cursor %q is not one this server gave out; pass nextCursor from the previous page unchanged, or omit it to start at the first page", truncate(cursor, 40))
	}
	return string(b), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ListPage returns up to limit tokens (revoked and expired ones included)
// whose ids sort after cursor's, in id order. It lists only the shards the
// page needs (see keys.go) and reads the page's records alone.
// limit 0 means DefaultPageSize.
func (r *Registry) ListPage(ctx context.Context, cursor string, limit int) (Page, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return Page{}, apperr.New(apperr.Invalid, "limit %d is out of range; use 1 to %d", limit, MaxPageSize)
	}
	after := ""
	if cursor != "" {
		id, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		after = id
	}
	// One id past the page tells whether another page follows.
	ids, err := r.idsAfter(ctx, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list tokens: %w", err)
	}
	var p Page
	if len(ids) > limit {
		ids = ids[:limit]
		p.Next = EncodeCursor(ids[limit-1])
	}
	if p.Tokens, err = r.loadAll(ctx, ids); err != nil {
		return Page{}, err
	}
	return p, nil
}
