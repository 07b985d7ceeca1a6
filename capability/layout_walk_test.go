package capability_test

import (
	"context"
	"errors"
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

// TestWalk: a walk over one token more than a page hands over two pages,
// MaxPageSize then 1, holding every token once, in id order.
func TestWalk(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now().UTC()), slog.New(slog.DiscardHandler))
	real := createTokens(t, reg, 1)[0]
	n := capability.MaxPageSize + 1
	fillTokens(t, st, real.ID, n, 4)
	var sizes []int
	var ids []string
	err := reg.Walk(context.Background(), func(page []capability.Info) error {
		sizes = append(sizes, len(page))
		for _, i := range page {
			ids = append(ids, i.ID)
		}
		return nil
	})
	if err != nil || !slices.Equal(sizes, []int{capability.MaxPageSize, 1}) {
		t.Fatalf("Walk = pages %v, %v; want [%d 1]", sizes, err, capability.MaxPageSize)
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != n || !slices.Contains(ids, real.ID) {
		t.Fatalf("Walk did not give every token once, in id order")
	}
	stop := errors.New("stop")
	calls := 0
	if err := reg.Walk(context.Background(), func([]capability.Info) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk whose fn fails = %v after %d calls; want that error after 1", err, calls)
	}
}

// TestCredentialsOf: opening a page's credentials together gives, token by
// token, what CredentialsByID gives, and a token whose sealed part does not
// open, or whose record is gone, fails alone.
func TestCredentialsOf(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t, slog.New(slog.DiscardHandler))
			reg := newRegistry(t, st, testclock.New(time.Now().UTC()), slog.New(slog.DiscardHandler))
			ctx := context.Background()
			keys := createTokens(t, reg, 2)
			role, err := reg.Create(ctx, api.CreateTokenRequest{Name: "role", Policy: launchPolicy(),
				Credentials: &api.CredentialsInput{RoleARN: "arn:aws:iam::123456789012:role/spot", ExternalID: "ext-1"}})
			if err != nil {
				t.Fatal(err)
			}
			// A copy of keys[0]'s record under another id: its sealed part
			// is bound to keys[0] and does not open there.
			src, err := st.Get(ctx, capability.StoreKey(keys[0].ID))
			if err != nil {
				t.Fatal(err)
			}
			copyID := scaleID(1)
			if _, err := st.Put(ctx, capability.StoreKey(copyID), secrets.Record{Public: []byte(strings.Replace(string(src.Public), keys[0].ID, copyID, 1)), Sealed: src.Sealed}, secrets.CreateOnly); err != nil {
				t.Fatal(err)
			}
			gone := keys[1].ID
			var page []capability.Info
			if err := reg.Walk(ctx, func(p []capability.Info) error { page = p; return nil }); err != nil || len(page) != 4 {
				t.Fatalf("Walk = %d tokens, %v; want 4", len(page), err)
			}
			if err := st.Delete(ctx, capability.StoreKey(gone)); err != nil {
				t.Fatal(err)
			}
			reg = newRegistry(t, st, testclock.New(time.Now().UTC()), slog.New(slog.DiscardHandler)) // nothing cached
			creds, errs := reg.CredentialsOf(ctx, page)
			for i, info := range page {
				switch info.ID {
				case copyID:
					if !errors.Is(errs[i], secrets.ErrOpen) {
						t.Errorf("copy with another token's sealed part = %v; want ErrOpen", errs[i])
					}
				case gone:
					if apperr.Code(errs[i]) != apperr.NotFound {
						t.Errorf("deleted token = %v; want not found", errs[i])
					}
				default:
					want, _, err := reg.CredentialsByID(ctx, info.ID)
					if err != nil || errs[i] != nil || creds[i] != want {
						t.Errorf("%s: CredentialsOf = %+v, %v; CredentialsByID = %+v, %v", info.Name, creds[i].RoleARN, errs[i], want.RoleARN, err)
					}
					if info.ID == role.ID && (creds[i].RoleARN == "" || creds[i].ExternalID != "ext-1") {
						t.Errorf("role token's credentials lost the role or external id")
					}
				}
			}
		})
	}
}

// folderCounter counts Folders calls: the one LIST whose cost grows with
// every token stored.
type folderCounter struct {
	store
	folders atomic.Int32
}

func (f *folderCounter) Folders(ctx context.Context, prefix string) ([]string, error) {
	f.folders.Add(1)
	return f.store.Folders(ctx, prefix)
}

// TestShardWalkModes: a page among shards dense with tokens names the
// shards and does not LIST the folder of shards; among sparse ones it
// LISTs it once to skip the empty ones. Either way paging gives every
// token once, in id order, the last shard's included.
func TestShardWalkModes(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct {
				name        string
				shards      []string // each gets perShard tokens
				perShard    int
				wantFolders bool
			}{
				{name: "dense", shards: []string{"22", "23", "24", "25", "26", "27", "2a", "zz"}, perShard: 3, wantFolders: false},
				{name: "sparse", shards: []string{"22", "2b", "mm", "q7", "zz"}, perShard: 1, wantFolders: true},
			} {
				t.Run(tt.name, func(t *testing.T) {
					fc := &folderCounter{store: open(t, slog.New(slog.DiscardHandler))}
					clk := testclock.New(time.Now().UTC())
					ctx := context.Background()
					real := createTokens(t, newRegistry(t, fc, clk, slog.New(slog.DiscardHandler)), 1)[0]
					if err := fc.Delete(ctx, capability.StoreKey(real.ID)); err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, shard := range tt.shards {
						for i := range tt.perShard {
							id := "tok_" + shard + strings.Repeat(string("abc"[i]), 18)
							ids = append(ids, id)
							rec := secrets.Record{Public: []byte(`{"id":"` + id + `","name":"t","createdAt":"2026-12-01T00:00:00Z"}`)}
							if _, err := fc.Put(ctx, capability.StoreKey(id), rec, secrets.CreateOnly); err != nil {
								t.Fatal(err)
							}
						}
					}
					reg := newRegistry(t, fc, clk, slog.New(slog.DiscardHandler))
					fc.folders.Store(0)
					p, err := reg.ListPage(ctx, "", 4)
					if err != nil || len(p.Tokens) != 4 {
						t.Fatalf("first page = %d tokens, %v", len(p.Tokens), err)
					}
					if n := fc.folders.Load(); n != map[bool]int32{true: 1, false: 0}[tt.wantFolders] {
						t.Errorf("the first page made %d folder LISTs; want %t", n, tt.wantFolders)
					}
					fc.folders.Store(0)
					got, pages := walkPages(t, reg, 4)
					if !slices.Equal(got, ids) {
						t.Fatalf("paging by 4 = %v; want %v", got, ids)
					}
					if n := fc.folders.Load(); n > int32(pages) {
						t.Errorf("%d pages made %d folder LISTs; want at most one a page", pages, n)
					}
				})
			}
		})
	}
}
