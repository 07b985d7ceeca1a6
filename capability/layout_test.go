package capability_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// unshard puts a token's record back where spotter kept it before token
// keys were sharded, "tokens/<id>", as a store written by an older release
// holds it.
func unshard(t *testing.T, st store, id string) {
	t.Helper()
	ctx := context.Background()
	rec, err := st.Get(ctx, capability.StoreKey(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "tokens/"+id, secrets.Record{Public: rec.Public, Sealed: rec.Sealed}, secrets.CreateOnly); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, capability.StoreKey(id)); err != nil {
		t.Fatal(err)
	}
}

// flatKeys is what is left at "tokens/<id>".
func flatKeys(t *testing.T, st store) []string {
	t.Helper()
	keys, err := st.List(context.Background(), "tokens/")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func createTokens(t *testing.T, reg *capability.Registry, n int) []api.CreatedToken {
	t.Helper()
	out := make([]api.CreatedToken, n)
	for i := range out {
		var err error
		out[i], err = reg.Create(context.Background(), api.CreateTokenRequest{Name: "t",
			Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestTokenKeyLayout: on both stores, new records go to their shard; a
// store written by an older release (every record flat), or one half moved,
// lists in id order with every token once, verifies, revokes and opens its
// credentials, and each record read moves to its shard, leaving no flat key.
func TestTokenKeyLayout(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct {
				name string
				flat func(i int) bool // which of the 7 tokens an older release wrote
			}{
				{name: "new layout", flat: func(int) bool { return false }},
				{name: "old layout", flat: func(int) bool { return true }},
				{name: "mixed", flat: func(i int) bool { return i%2 == 0 }},
			} {
				t.Run(tt.name, func(t *testing.T) {
					st := open(t, slog.New(slog.DiscardHandler))
					clk := testclock.New(time.Now().UTC())
					reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
					ctx := context.Background()
					toks := createTokens(t, reg, 7)
					var ids []string
					for i, c := range toks {
						if _, err := st.Get(ctx, capability.StoreKey(c.ID)); err != nil {
							t.Fatalf("new token %s not at %s: %v", c.ID, capability.StoreKey(c.ID), err)
						}
						if tt.flat(i) {
							unshard(t, st, c.ID)
						}
						ids = append(ids, c.ID)
					}
					slices.Sort(ids)
					// A fresh registry: nothing cached from the creates.
					reg = newRegistry(t, st, clk, slog.New(slog.DiscardHandler))

					first, err := reg.ListPage(ctx, "", 3)
					if err != nil || len(first.Tokens) != 3 || first.Next == "" {
						t.Fatalf("first page of 3 = %d tokens, next %q, %v", len(first.Tokens), first.Next, err)
					}
					got, pages := walkPages(t, reg, 3)
					if !slices.Equal(got, ids) || pages != 3 {
						t.Fatalf("paging by 3 = %v in %d pages; want %v in 3", got, pages, ids)
					}
					if left := flatKeys(t, st); len(left) != 0 {
						t.Fatalf("flat keys left after a listing read every record: %v", left)
					}
					all, err := reg.List(ctx)
					if err != nil || len(all) != len(ids) {
						t.Fatalf("List = %d tokens, %v; want %d", len(all), err, len(ids))
					}
					// A listing that found no flat key marks the store, so
					// later listings skip the flat LIST.
					if _, err := st.Get(ctx, "layout/tokens"); err != nil {
						t.Fatalf("no layout mark after a listing found no flat key: %v", err)
					}
					for _, c := range toks {
						tok, err := reg.Authenticate(ctx, c.Token)
						if err != nil {
							t.Fatalf("Authenticate(%s) = %v", c.ID, err)
						}
						if creds, err := reg.Credentials(ctx, tok); err != nil || creds.AccessKeyID != testAKID {
							t.Fatalf("Credentials(%s) = %v", c.ID, err)
						}
					}
				})
			}
		})
	}
}

// TestFlatTokenMovesOnUse: a flat record that nothing listed moves the
// first time it is used, whether that is a verification or a revocation,
// and a revocation made that way holds.
func TestFlatTokenMovesOnUse(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t, slog.New(slog.DiscardHandler))
			clk := testclock.New(time.Now().UTC())
			reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
			ctx := context.Background()
			toks := createTokens(t, reg, 2)
			for _, c := range toks {
				unshard(t, st, c.ID)
			}
			reg = newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
			if _, err := reg.Authenticate(ctx, toks[0].Token); err != nil {
				t.Fatalf("Authenticate of a flat token = %v", err)
			}
			if _, err := reg.Revoke(ctx, toks[1].ID); err != nil {
				t.Fatalf("Revoke of a flat token = %v", err)
			}
			if left := flatKeys(t, st); len(left) != 0 {
				t.Fatalf("flat keys left after use: %v", left)
			}
			reg = newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
			if _, err := reg.Authenticate(ctx, toks[1].Token); err == nil {
				t.Fatal("a token revoked while it moved still authenticates")
			}
			if _, err := reg.Get(ctx, "tok_aaaaaaaaaaaaaaaaaaaa"); apperr.Code(err) != apperr.NotFound {
				t.Fatalf("Get of an unknown id = %v; want not found", err)
			}
		})
	}
}

// TestFlatTokenMoveRaces: replicas that read the same flat record at once
// all get it and leave one sharded copy; and a write to the flat key by a
// replica still on the older release, landing just after the copy, is
// not lost: the move copies it again.
func TestFlatTokenMoveRaces(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t, slog.New(slog.DiscardHandler))
			clk := testclock.New(time.Now().UTC())
			ctx := context.Background()
			toks := createTokens(t, newRegistry(t, st, clk, slog.New(slog.DiscardHandler)), 2)
			for _, c := range toks {
				unshard(t, st, c.ID)
			}

			t.Run("replicas at once", func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, 6)
				for range 6 {
					reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
					wg.Go(func() {
						_, err := reg.Authenticate(ctx, toks[0].Token)
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatalf("a replica reading the flat record as it moved: %v", err)
					}
				}
				if left := flatKeys(t, st); slices.Contains(left, "tokens/"+toks[0].ID) {
					t.Fatalf("flat key left: %v", left)
				}
				// What the race left in the shard is the token, not a
				// retired flat record's mark.
				if _, err := newRegistry(t, st, clk, slog.New(slog.DiscardHandler)).Authenticate(ctx, toks[0].Token); err != nil {
					t.Fatalf("after the race, Authenticate = %v", err)
				}
			})

			t.Run("older replica writes during the move", func(t *testing.T) {
				id := toks[1].ID
				older := &olderReplica{store: st, id: id}
				reg := newRegistry(t, older, clk, slog.New(slog.DiscardHandler))
				if _, err := reg.Get(ctx, id); err != nil {
					t.Fatalf("Get while an older replica revokes = %v", err)
				}
				if older.wrote.Load() != 1 {
					t.Fatalf("the older replica's write ran %d times; want 1", older.wrote.Load())
				}
				info, err := newRegistry(t, st, clk, slog.New(slog.DiscardHandler)).Get(ctx, id)
				if err != nil || info.RevokedAt == nil {
					t.Fatalf("after the move, token = revoked %v, %v; want the older replica's revocation kept", info.RevokedAt, err)
				}
				if left := flatKeys(t, st); len(left) != 0 {
					t.Fatalf("flat keys left: %v", left)
				}
			})

			t.Run("another replica retires the flat record first", func(t *testing.T) {
				// Between this replica's copy and its retiring of the flat
				// record, another (which found the copy) marks it retired.
				fresh := createTokens(t, newRegistry(t, st, clk, slog.New(slog.DiscardHandler)), 1)[0]
				unshard(t, st, fresh.ID)
				other := &retiredFirst{store: st, id: fresh.ID}
				if _, err := newRegistry(t, other, clk, slog.New(slog.DiscardHandler)).Authenticate(ctx, fresh.Token); err != nil {
					t.Fatalf("Authenticate while another replica retires the flat record = %v", err)
				}
				if other.done.Load() != 1 {
					t.Fatalf("the other replica's retire ran %d times; want 1", other.done.Load())
				}
				if _, err := newRegistry(t, st, clk, slog.New(slog.DiscardHandler)).Authenticate(ctx, fresh.Token); err != nil {
					t.Fatalf("after the move, Authenticate = %v; the shard must hold the token, not the retired mark", err)
				}
			})

			t.Run("a move stopped before the delete", func(t *testing.T) {
				// The sharded record exists, and a stale flat copy with it.
				fresh := createTokens(t, newRegistry(t, st, clk, slog.New(slog.DiscardHandler)), 1)[0]
				rec, err := st.Get(ctx, capability.StoreKey(fresh.ID))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Put(ctx, "tokens/"+fresh.ID, secrets.Record{Public: rec.Public, Sealed: rec.Sealed}, secrets.CreateOnly); err != nil {
					t.Fatal(err)
				}
				reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
				ids, _ := walkPages(t, reg, 100)
				if n := len(slices.Compact(slices.Clone(ids))); n != len(ids) || !slices.Contains(ids, fresh.ID) {
					t.Fatalf("listing with a stale flat copy = %v; want each token once", ids)
				}
				if left := flatKeys(t, st); slices.Contains(left, "tokens/"+fresh.ID) {
					t.Fatalf("the stale flat copy is still there after a listing: %v", left)
				}
			})
		})
	}
}

// olderReplica is a store through which, the moment the record of id is
// copied to its shard, a replica on the older release revokes id at its
// flat key.
type olderReplica struct {
	store
	id    string
	wrote atomic.Int32
}

func (o *olderReplica) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	v, err := o.store.Put(ctx, key, rec, cas)
	if err == nil && key == capability.StoreKey(o.id) && cas == secrets.CreateOnly && o.wrote.Add(1) == 1 {
		flat, gerr := o.store.Get(ctx, "tokens/"+o.id)
		if gerr != nil {
			return 0, gerr
		}
		revoked := strings.Replace(string(flat.Public), `"createdAt"`, `"revokedAt":"`+time.Now().UTC().Format(time.RFC3339)+`","createdAt"`, 1)
		if _, perr := o.store.Put(ctx, "tokens/"+o.id, secrets.Record{Public: []byte(revoked), Sealed: flat.Sealed}, flat.Version); perr != nil {
			return 0, perr
		}
	}
	return v, err
}

// retiredFirst is a store through which, when this replica first goes to
// retire the flat record of id, another replica has just done so (and
// stopped before deleting it).
type retiredFirst struct {
	store
	id   string
	done atomic.Int32
}

func (o *retiredFirst) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	if key == "tokens/"+o.id && cas > 0 && o.done.Add(1) == 1 {
		if _, err := o.store.Put(ctx, key, rec, cas); err != nil {
			return 0, err
		}
	}
	return o.store.Put(ctx, key, rec, cas)
}
