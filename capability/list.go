package capability

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
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
// whose ids sort after cursor's, in id order. Records are read for this
// page's tokens alone; the embedded store lists only the page's keys, Vault
// (whose KV LIST does not page) names every key but reads no record.
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
		after = tokensPrefix + id
	}
	// One key past the page tells whether another page follows.
	keys, err := secrets.ListAfter(ctx, r.store, tokensPrefix, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list tokens: %w", err)
	}
	var p Page
	if len(keys) > limit {
		keys = keys[:limit]
		p.Next = EncodeCursor(strings.TrimPrefix(keys[limit-1], tokensPrefix))
	}
	p.Tokens = make([]Info, 0, len(keys))
	for _, k := range keys {
		rec, err := r.load(ctx, strings.TrimPrefix(k, tokensPrefix), true)
		if apperr.Code(err) == apperr.NotFound {
			continue // deleted between list and read
		}
		if err != nil {
			return Page{}, err
		}
		p.Tokens = append(p.Tokens, rec.Info)
	}
	return p, nil
}
