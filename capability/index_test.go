package capability_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// tokenReads counts the token records read from the store.
type tokenReads struct {
	store
	n atomic.Int64
}

func (s *tokenReads) Get(ctx context.Context, key string) (secrets.Record, error) {
	if strings.HasPrefix(key, "tokens/") {
		s.n.Add(1)
	}
	return s.store.Get(ctx, key)
}

// TestWalkKeepsRecords: the reaper's Walk reads every record once, then on
// each later walk with nothing changed only a rolling 1/RefreshPasses of
// them (each exactly once per RefreshPasses walks), and sees on the next
// walk a token created elsewhere, a revocation here or
// elsewhere and a rotation elsewhere to other keys; a write that moved no
// change stamp (a revocation, a deletion) shows through Revoked at once
// and in a walk within RefreshPasses. On both stores.
func TestWalkKeepsRecords(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			clk := testclock.New(time.Now().UTC())
			st := &tokenReads{store: open(t, log)}
			reaper := newRegistry(t, st, clk, log)      // the replica that walks
			other := newRegistry(t, st.store, clk, log) // another replica
			ctx := context.Background()
			create := func(name, akid string) api.CreatedToken {
				t.Helper()
				c, err := other.Create(ctx, api.CreateTokenRequest{Name: name, Policy: launchPolicy(),
					Credentials: &api.CredentialsInput{AccessKeyID: akid, SecretAccessKey: testSecret}})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			var toks []api.CreatedToken
			for i := range 12 {
				toks = append(toks, create("t"+string(rune('a'+i)), testAKID))
			}
			walk := func() (map[string]capability.Info, int64) {
				t.Helper()
				st.n.Store(0)
				got := map[string]capability.Info{}
				if err := reaper.Walk(ctx, func(page []capability.Info) error {
					for _, i := range page {
						got[i.ID] = i
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return got, st.n.Load()
			}
			if got, reads := walk(); len(got) != 12 || reads != 12 {
				t.Fatalf("first walk: %d tokens, %d records read; want 12, 12", len(got), reads)
			}
			var total int64
			for range capability.RefreshPasses {
				got, reads := walk()
				if len(got) != 12 {
					t.Fatalf("walk: %d tokens; want 12", len(got))
				}
				total += reads
			}
			if total != 12 {
				t.Fatalf("%d walks read %d records; want each of 12 once", capability.RefreshPasses, total)
			}

			created := create("new", testAKID)
			if got, _ := walk(); got[created.ID].ID == "" {
				t.Fatal("a token created on another replica is not in the next walk")
			}
			if err := st.store.Delete(ctx, capability.StoreKey(toks[0].ID)); err != nil {
				t.Fatal(err)
			}
			// spotter deletes no token record; one deleted behind its back
			// moves no stamp, and drops out within RefreshPasses walks.
			for range capability.RefreshPasses {
				walk()
			}
			if got, _ := walk(); got[toks[0].ID].ID != "" || len(got) != 12 {
				t.Fatalf("a deleted token is still walked (%d tokens)", len(got))
			}
			if _, err := reaper.Revoke(ctx, toks[1].ID); err != nil {
				t.Fatal(err)
			}
			if got, _ := walk(); got[toks[1].ID].RevokedAt == nil {
				t.Fatal("a token revoked on this replica is not revoked in its next walk")
			}

			// Another replica revokes one and rotates another to other keys:
			// their shards' stamps move, so the next walk reads them again.
			if _, err := other.Revoke(ctx, toks[2].ID); err != nil {
				t.Fatal(err)
			}
			const otherKeys = "AKIAI44QH8DHBEXAMPLE"
			if _, err := other.Rotate(ctx, toks[3].ID, api.RotateTokenRequest{
				Credentials: &api.CredentialsInput{AccessKeyID: otherKeys, SecretAccessKey: testSecret}}); err != nil {
				t.Fatal(err)
			}
			got, _ := walk()
			key, _ := reaper.Account(got[toks[3].ID])
			if got[toks[2].ID].RevokedAt == nil || key != capability.AccountKey(capability.Credentials{AccessKeyID: otherKeys}) {
				t.Fatalf("next walk: revoked elsewhere %v, account after a rotation elsewhere %q; want both seen", got[toks[2].ID].RevokedAt, key)
			}

			// A write that moved no stamp (a replica of an older release):
			// seen within RefreshPasses walks, and Revoked sees it at once.
			rec, err := st.store.Get(ctx, capability.StoreKey(toks[4].ID))
			if err != nil {
				t.Fatal(err)
			}
			rec.Public = []byte(strings.Replace(string(rec.Public), `"createdAt"`, `"revokedAt":"2026-01-01T00:00:00Z","createdAt"`, 1))
			if _, err := st.store.Put(ctx, capability.StoreKey(toks[4].ID), rec, rec.Version); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second) // the record cache's TTL
			if gone, err := reaper.Revoked(ctx, toks[4].ID); err != nil || !gone {
				t.Fatalf("Revoked of a token revoked without stamps = %v, %v; want true", gone, err)
			}
			seen := 0
			for i := range capability.RefreshPasses {
				if got, _ := walk(); got[toks[4].ID].RevokedAt != nil && seen == 0 {
					seen = i + 1
				}
			}
			if seen == 0 {
				t.Fatalf("a revocation that moved no stamp not walked within %d walks", capability.RefreshPasses)
			}
		})
	}
}

// TestAccountOfOlderRecords: a record written before records named their
// account is not known until its credentials are opened, then is; tokens
// on one key share an account, a role is its own, other keys another.
func TestAccountOfOlderRecords(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			clk := testclock.New(time.Now().UTC())
			st := open(t, log)
			reg := newRegistry(t, st, clk, log)
			ctx := context.Background()
			mk := func(c api.CredentialsInput) capability.Info {
				t.Helper()
				out, err := reg.Create(ctx, api.CreateTokenRequest{Name: "t", Policy: launchPolicy(), Credentials: &c})
				if err != nil {
					t.Fatal(err)
				}
				return out.TokenRecord
			}
			a := mk(api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret})
			b := mk(api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret})
			role := mk(api.CredentialsInput{RoleARN: "arn:aws:iam::123456789012:role/spotter"})
			old := mk(api.CredentialsInput{AccessKeyID: "AKIAI44QH8DHBEXAMPLE", SecretAccessKey: testSecret})
			// Make old's record as an older release wrote it: no account.
			rec, err := st.Get(ctx, capability.StoreKey(old.ID))
			if err != nil {
				t.Fatal(err)
			}
			var pub map[string]any
			if err := json.Unmarshal(rec.Public, &pub); err != nil || pub["account"] == nil {
				t.Fatalf("record has no account field (%v): %s", err, rec.Public)
			}
			delete(pub, "account")
			rec.Public, _ = json.Marshal(pub)
			if _, err := st.Put(ctx, capability.StoreKey(old.ID), rec, rec.Version); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second)
			var infos []capability.Info
			if err := reg.Walk(ctx, func(p []capability.Info) error { infos = append(infos, p...); return nil }); err != nil {
				t.Fatal(err)
			}
			acct := func(i capability.Info) string {
				k, _ := reg.Account(i)
				return k
			}
			if acct(a) == "" || acct(a) != acct(b) || acct(role) == acct(a) || acct(role) != "role:arn:aws:iam::123456789012:role/spotter" {
				t.Fatalf("accounts: a %q, b %q, role %q; want a = b, role its own", acct(a), acct(b), acct(role))
			}
			if k, ok := reg.Account(old); ok {
				t.Fatalf("an older record's account is known (%q) before its credentials were opened", k)
			}
			if _, errs := reg.CredentialsOf(ctx, []capability.Info{old}); errs[0] != nil {
				t.Fatal(errs[0])
			}
			if k, ok := reg.Account(old); !ok || k == acct(a) || k != capability.AccountKey(capability.Credentials{AccessKeyID: "AKIAI44QH8DHBEXAMPLE"}) {
				t.Fatalf("older record's account after opening = %q, %t; want its own keys'", k, ok)
			}
			if strings.Contains(acct(a), testAKID) {
				t.Fatalf("the account key %q holds the access key id", acct(a))
			}
		})
	}
}

// TestWalkDense: with more tokens than a listing names shard by shard
// (2,100, past the ~2,048 where walks stop listing every token when a
// stamp moves), a walk after another replica's create or rotation reads
// the shard stamps and re-lists and re-reads only the moved shards (and
// its rolling share), not every record, and walks both changes. On both
// stores.
func TestWalkDense(t *testing.T) {
	if testing.Short() {
		t.Skip("2,100 tokens")
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			clk := testclock.New(time.Now().UTC())
			st := &tokenReads{store: open(t, log)}
			reaper := newRegistry(t, st, clk, log)
			other := newRegistry(t, st.store, clk, log)
			ctx := context.Background()
			first, err := other.Create(ctx, api.CreateTokenRequest{Name: "first", Policy: launchPolicy(),
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
			if err != nil {
				t.Fatal(err)
			}
			const n = 2100
			fillTokens(t, st.store, first.ID, n, 16)
			walk := func() (map[string]capability.Info, int64) {
				t.Helper()
				st.n.Store(0)
				got := map[string]capability.Info{}
				if err := reaper.Walk(ctx, func(page []capability.Info) error {
					for _, i := range page {
						got[i.ID] = i
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return got, st.n.Load()
			}
			if got, reads := walk(); len(got) != n || reads != n {
				t.Fatalf("first walk: %d tokens, %d read; want %d, %d", len(got), reads, n, n)
			}
			created, err := other.Create(ctx, api.CreateTokenRequest{Name: "new", Policy: launchPolicy(),
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
			if err != nil {
				t.Fatal(err)
			}
			const otherKeys = "AKIAI44QH8DHBEXAMPLE"
			if _, err := other.Rotate(ctx, first.ID, api.RotateTokenRequest{
				Credentials: &api.CredentialsInput{AccessKeyID: otherKeys, SecretAccessKey: testSecret}}); err != nil {
				t.Fatal(err)
			}
			got, reads := walk()
			key, _ := reaper.Account(got[first.ID])
			if got[created.ID].ID == "" || key != capability.AccountKey(capability.Credentials{AccessKeyID: otherKeys}) {
				t.Fatalf("walk after a create and a rotation elsewhere: created walked %t, rotated account %q", got[created.ID].ID != "", key)
			}
			// Two moved shards (~2 records each here) and 1/RefreshPasses of the rest.
			if limit := int64(n/capability.RefreshPasses + 40); reads > limit {
				t.Fatalf("walk after two changes read %d records; want at most %d", reads, limit)
			}
		})
	}
}
