package capability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

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

// CredentialsOf opens the credentials of each token in infos (a page from
// Walk) with as few store calls as the store allows: one Transit batch per
// few hundred tokens with Vault, where CredentialsByID for each would make
// a round trip per token. errs[i] is token i's error.
func (r *Registry) CredentialsOf(ctx context.Context, infos []Info) ([]Credentials, []error) {
	creds, errs := make([]Credentials, len(infos)), make([]error, len(infos))
	recs := make([]record, len(infos))
	var idx []int // tokens with a sealed part to open
	var scopes []string
	var sealedParts [][]byte
	for i, info := range infos {
		recs[i], errs[i] = r.load(ctx, info.ID, false)
		creds[i].RoleARN = recs[i].Credentials.RoleARN
		if errs[i] == nil && len(recs[i].sealed) > 0 {
			idx = append(idx, i)
			scopes, sealedParts = append(scopes, recs[i].ID), append(sealedParts, recs[i].sealed)
		}
	}
	plain, openErrs := secrets.OpenAll(ctx, r.store, scopes, sealedParts)
	for n, i := range idx {
		if errs[i] = openErrs[n]; errs[i] != nil {
			errs[i] = fmt.Errorf("open secrets of %s: %w", recs[i].ID, errs[i])
			continue
		}
		var sec sealed
		errs[i] = json.Unmarshal(plain[n], &sec)
		clear(plain[n])
		if errs[i] != nil {
			errs[i] = fmt.Errorf("decode secrets of %s: %w", recs[i].ID, errs[i])
			continue
		}
		creds[i].AccessKeyID, creds[i].SecretAccessKey, creds[i].ExternalID = sec.AccessKeyID, sec.SecretAccessKey, sec.ExternalID
		r.noteAccount(recs[i], creds[i])
	}
	return creds, errs
}
