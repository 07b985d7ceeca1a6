package pools_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
)

func wantErr(t *testing.T, err error, code, details string) {
	t.Helper()
	var ae *apperr.Error
	if code == "" {
		if err != nil {
			t.Fatalf("err = %v; want none", err)
		}
		return
	}
	if !errors.As(err, &ae) || ae.Code != code || !strings.Contains(ae.Details, details) {
		t.Fatalf("err = %v; want %s with %q", err, code, details)
	}
}

func TestCreate(t *testing.T) {
	for backend, open := range backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, open)
			tests := []struct {
				name    string
				tok     string // a fixture token kind, or a literal id
				edit    func(p *pool.Pool)
				advance time.Duration
				code    string
				details string
			}{
				{name: "the issue's pool", tok: "plain"},
				{name: "same name again", tok: "plain", code: apperr.Conflict, details: `a pool named "linux-ci" exists`},
				{name: "unknown token", tok: "tok_aaaaaaaaaaaaaaaaaaaa", code: apperr.Invalid, details: "tokenId: no token tok_aaaaaaaaaaaaaaaaaaaa"},
				{name: "not a token id", tok: "nope", code: apperr.Invalid, details: "tokenId:"},
				{name: "revoked token", tok: "revoked", code: apperr.Invalid, details: "is revoked"},
				{name: "AWS MFA token", tok: "awsmfa", code: apperr.Invalid, details: "needs a per-request MFA code (mfa aws)"},
				{name: "TOTP token", tok: "totp", code: apperr.Invalid, details: "needs a per-request MFA code (mfa totp)"},
				{name: "type beyond the policy", tok: "narrow", code: apperr.Invalid, details: "launchConfigs[1].instanceType"},
				{name: "maxCapacity at the token's maxRunning", tok: "narrow", edit: func(p *pool.Pool) {
					p.LaunchConfigs, p.MaxCapacity = p.LaunchConfigs[:1], 5
				}},
				{name: "maxCapacity past the token's maxRunning", tok: "narrow", edit: func(p *pool.Pool) {
					p.LaunchConfigs, p.MaxCapacity = p.LaunchConfigs[:1], 6
				}, code: apperr.Invalid, details: "maxCapacity: 6 capacity units"},
				{name: "maxPrice over the policy's", tok: "plain", edit: func(p *pool.Pool) { p.MaxPrice = 0.51 }, code: apperr.Invalid, details: "maxPrice"},
				{name: "field error", tok: "plain", edit: func(p *pool.Pool) { p.MaxCapacity = 0 }, code: apperr.Invalid, details: "maxCapacity: must be"},
				{name: "expired token", tok: "expires", advance: time.Hour, code: apperr.Invalid, details: "is expired"},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					f.clk.Add(tt.advance)
					id := tt.tok
					if f.toks[id] != "" {
						id = f.toks[id]
					}
					p := linuxCI(id)
					if i > 1 {
						p.Name = "pool-" + string(rune('a'+i))
					}
					if tt.edit != nil {
						tt.edit(&p)
					}
					out, err := f.reg.Create(bg, p)
					wantErr(t, err, tt.code, tt.details)
					if err != nil {
						if _, gerr := f.reg.Get(bg, p.Name); apperr.Code(gerr) != apperr.NotFound && tt.code != apperr.Conflict {
							t.Errorf("a refused create stored the pool: %v", gerr)
						}
						return
					}
					if !strings.HasPrefix(out.URL, "https://spotter.test/hooks/ey") || !strings.HasSuffix(out.URL, out.Token) {
						t.Errorf("URL = %q; want https://spotter.test/hooks/<token>", out.URL)
					}
					got, err := f.reg.Authenticate(bg, out.Token)
					if err != nil || got.Pool.Name != p.Name || got.Incarnation != out.Incarnation || got.Epoch != 0 {
						t.Fatalf("Authenticate = %+v, %v", got, err)
					}
					if got.Pool.MaxPrice != p.MaxPrice {
						t.Errorf("stored maxPrice %g; want it as written (%g), the token's read at use", got.Pool.MaxPrice, p.MaxPrice)
					}
					if time.Duration(got.Pool.StaleDemandAfter) != pool.DefaultStaleDemandAfter {
						t.Errorf("stored staleDemandAfter %v; want the default filled", got.Pool.StaleDemandAfter)
					}
				})
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	for backend, open := range backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, open)
			first, err := f.reg.Create(bg, linuxCI(f.toks["plain"]))
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name    string
				do      func() error
				code    string
				details string
			}{
				{name: "demand by the capability", do: func() error {
					rec, err := f.reg.Authenticate(bg, first.Token)
					if err != nil {
						return err
					}
					_, err = f.reg.ReportDemand(bg, rec.Pool.Name, pool.Demand{Pending: 3})
					return err
				}},
				{name: "rotate", do: func() error {
					next, err := f.reg.RotateCapability(bg, "linux-ci")
					if err != nil {
						return err
					}
					if _, err := f.reg.Authenticate(bg, next.Token); err != nil {
						t.Errorf("the new capability: %v", err)
					}
					first.Token, next.Token = next.Token, first.Token
					_, err = f.reg.Authenticate(bg, next.Token) // the old one
					return err
				}, code: apperr.TokenRevoked, details: "was replaced"},
				{name: "revoke", do: func() error {
					if _, err := f.reg.RevokeCapability(bg, "linux-ci"); err != nil {
						return err
					}
					_, err := f.reg.Authenticate(bg, first.Token)
					return err
				}, code: apperr.TokenRevoked, details: "was revoked"},
				{name: "drain twice", do: func() error {
					for range 2 {
						rec, err := f.reg.Drain(bg, "linux-ci")
						if err != nil || !rec.Pool.Draining || rec.Status() != "draining" {
							t.Errorf("Drain = %v %s, %v", rec.Pool.Draining, rec.Status(), err)
						}
					}
					return nil
				}},
				{name: "delete", do: func() error {
					rec, err := f.reg.Delete(bg, "linux-ci")
					if err == nil && (rec.Status() != "deleting" || rec.DeletedAt == nil || !rec.Pool.Draining) {
						t.Errorf("after delete: %s %v", rec.Status(), rec.DeletedAt)
					}
					return err
				}},
				{name: "demand to a deleting pool", do: func() error {
					_, err := f.reg.ReportDemand(bg, "linux-ci", pool.Demand{Pending: 1})
					return err
				}, code: apperr.Conflict, details: "being deleted"},
				{name: "redefine a deleting pool", do: func() error {
					_, err := f.reg.Redefine(bg, "linux-ci", func(p pool.Pool) (pool.Pool, error) { return p, nil })
					return err
				}, code: apperr.Conflict, details: "being deleted"},
				{name: "create over a deleting pool", do: func() error {
					_, err := f.reg.Create(bg, linuxCI(f.toks["plain"]))
					return err
				}, code: apperr.Conflict, details: "exists"},
				{name: "remove with an instance left", do: func() error {
					if _, err := f.reg.Update(bg, "linux-ci", func(r *pools.Record) error {
						r.Instances = []pool.Instance{{ID: "i-0a", State: pool.Idle, Capacity: 1}}
						return nil
					}); err != nil {
						return err
					}
					return f.reg.Remove(bg, "linux-ci")
				}, code: apperr.Conflict, details: "still has 1 instances"},
				{name: "remove", do: func() error {
					if _, err := f.reg.Update(bg, "linux-ci", func(r *pools.Record) error { r.Instances = nil; return nil }); err != nil {
						return err
					}
					return f.reg.Remove(bg, "linux-ci")
				}},
				{name: "re-created: a new incarnation, the old capability refused", do: func() error {
					again, err := f.reg.Create(bg, linuxCI(f.toks["plain"]))
					if err != nil {
						return err
					}
					if again.Incarnation == first.Incarnation || again.Epoch != 0 || again.Demand != nil {
						t.Errorf("re-created pool: incarnation %s (was %s), epoch %d, demand %v", again.Incarnation, first.Incarnation, again.Epoch, again.Demand)
					}
					_, err = f.reg.Authenticate(bg, first.Token)
					return err
				}, code: apperr.TokenRevoked, details: "was replaced"},
				{name: "remove a live pool", do: func() error { return f.reg.Remove(bg, "linux-ci") }, code: apperr.Conflict, details: "not deleted"},
				{name: "a bad name is not found", do: func() error {
					_, err := f.reg.Get(bg, "../tokens/x")
					return err
				}, code: apperr.NotFound, details: "no pool"},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) { wantErr(t, s.do(), s.code, s.details) })
			}
		})
	}
}

func TestDemand(t *testing.T) {
	f := newFixture(t, backends()["embedded"])
	if _, err := f.reg.Create(bg, linuxCI(f.toks["plain"])); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		d       pool.Demand
		code    string
		details string
	}{
		"zero":                       {d: pool.Demand{}},
		"at the limit":               {d: pool.Demand{Pending: pool.MaxDemand, Running: pool.MaxDemand, Idle: pool.MaxDemand}},
		"pending past the limit":     {d: pool.Demand{Pending: pool.MaxDemand + 1}, code: apperr.Invalid, details: "pending:"},
		"negative running":           {d: pool.Demand{Running: -1}, code: apperr.Invalid, details: "running:"},
		"negative idle":              {d: pool.Demand{Idle: -1}, code: apperr.Invalid, details: "idle:"},
		"a sender's time is ignored": {d: pool.Demand{Pending: 2, At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f.clk.Add(time.Minute)
			before, _ := f.reg.Get(bg, "linux-ci")
			rec, err := f.reg.ReportDemand(bg, "linux-ci", tt.d)
			wantErr(t, err, tt.code, tt.details)
			stored, _ := f.reg.Get(bg, "linux-ci")
			if err != nil {
				if (stored.Demand == nil) != (before.Demand == nil) || (stored.Demand != nil && *stored.Demand != *before.Demand) {
					t.Errorf("a refused demand changed the stored one: %v → %v", before.Demand, stored.Demand)
				}
				return
			}
			want := tt.d
			want.At = f.clk.Now().UTC()
			if *rec.Demand != want || *stored.Demand != want {
				t.Errorf("demand = %+v, stored %+v; want %+v", *rec.Demand, *stored.Demand, want)
			}
			if stored.UpdatedAt != before.UpdatedAt {
				t.Errorf("a demand report moved updatedAt %v → %v; it is the operator's last change", before.UpdatedAt, stored.UpdatedAt)
			}
		})
	}
}

// TestUpdateLosesNothing: writers racing on one pool each either land or
// are told to retry; none is silently overwritten (check-and-set).
func TestUpdateLosesNothing(t *testing.T) {
	for backend, open := range backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, open)
			if _, err := f.reg.Create(bg, linuxCI(f.toks["plain"])); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			landed := 0
			for range 4 {
				wg.Go(func() {
					for range 5 {
						_, err := f.reg.Update(bg, "linux-ci", func(r *pools.Record) error { r.Epoch++; return nil })
						if err != nil && apperr.Code(err) != apperr.Conflict {
							t.Error(err)
						}
						if err == nil {
							mu.Lock()
							landed++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			rec, err := f.reg.Get(bg, "linux-ci")
			if err != nil || rec.Epoch != uint64(landed) || landed == 0 {
				t.Fatalf("epoch %d after %d landed updates (%v)", rec.Epoch, landed, err)
			}
		})
	}
}

func TestRedefine(t *testing.T) {
	f := newFixture(t, backends()["embedded"])
	if _, err := f.reg.Create(bg, linuxCI(f.toks["plain"])); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		change  func(p *pool.Pool)
		code    string
		details string
		check   func(t *testing.T, p pool.Pool)
	}{
		{name: "bounds", change: func(p *pool.Pool) { p.MinCapacity, p.MaxCapacity = 2, 20 },
			check: func(t *testing.T, p pool.Pool) {
				if p.MinCapacity != 2 || p.MaxCapacity != 20 {
					t.Errorf("stored %d-%d", p.MinCapacity, p.MaxCapacity)
				}
			}},
		{name: "rename", change: func(p *pool.Pool) { p.Name = "other" }, code: apperr.Invalid, details: "name: a pool cannot be renamed"},
		{name: "onto an MFA token", change: func(p *pool.Pool) { p.TokenID = f.toks["totp"] }, code: apperr.Invalid, details: "per-request MFA"},
		{name: "past its policy", change: func(p *pool.Pool) { p.Region = "eu-west-1" }, code: apperr.Invalid, details: "region:"},
		{name: "invalid", change: func(p *pool.Pool) { p.ScalingRatio = 1.5 }, code: apperr.Invalid, details: "scalingRatio:"},
		{name: "onto another token", change: func(p *pool.Pool) {
			p.TokenID = f.toks["narrow"]
			p.LaunchConfigs = p.LaunchConfigs[:1]
			p.MaxCapacity = 5
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clk.Add(time.Minute)
			before, _ := f.reg.Get(bg, "linux-ci")
			rec, err := f.reg.Redefine(bg, "linux-ci", func(p pool.Pool) (pool.Pool, error) { tt.change(&p); return p, nil })
			wantErr(t, err, tt.code, tt.details)
			after, _ := f.reg.Get(bg, "linux-ci")
			if err != nil {
				if after.UpdatedAt != before.UpdatedAt || after.Pool.MaxCapacity != before.Pool.MaxCapacity || after.Pool.TokenID != before.Pool.TokenID {
					t.Errorf("a refused change was stored")
				}
				return
			}
			if !after.UpdatedAt.Equal(f.clk.Now().UTC().Truncate(time.Second)) {
				t.Errorf("updatedAt %v; want now", after.UpdatedAt)
			}
			if after.Incarnation != before.Incarnation || rec.Incarnation != before.Incarnation {
				t.Errorf("a change made a new incarnation")
			}
			if tt.check != nil {
				tt.check(t, after.Pool)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	p := linuxCI("tok_aaaaaaaaaaaaaaaaaaaa")
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	fleet := []pool.Instance{
		{ID: "i-1", State: pool.Busy, Capacity: 4, Launched: now.Add(-time.Hour)},
		{ID: "i-2", State: pool.Idle, Capacity: 1, Launched: now.Add(-time.Hour)},
		{ID: "i-3", State: pool.Booting, Capacity: 1, Launched: now.Add(-time.Minute)},
	}
	tests := map[string]struct {
		rec  pools.Record
		want pools.Counts
	}{
		"no demand yet": {rec: pools.Record{Pool: p, Instances: fleet},
			want: pools.Counts{Desired: 6, Hold: pool.HoldStale, Running: 4, Idle: 1, Booting: 1}},
		"fresh demand": {rec: pools.Record{Pool: p, Instances: fleet, Demand: &pool.Demand{Pending: 7, Running: 4, At: now.Add(-time.Minute)}},
			want: pools.Counts{Desired: 11, Running: 4, Idle: 1, Booting: 1, Pending: 7}},
		"stale demand holds": {rec: pools.Record{Pool: p, Instances: fleet, Demand: &pool.Demand{Pending: 7, At: now.Add(-3 * time.Minute)}},
			want: pools.Counts{Desired: 6, Hold: pool.HoldStale, Running: 4, Idle: 1, Booting: 1, Pending: 7}},
		"demand past maxCapacity": {rec: pools.Record{Pool: p, Demand: &pool.Demand{Pending: 500, At: now}},
			want: pools.Counts{Desired: 50, Pending: 500}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.rec.Counts(now); got != tt.want {
				t.Errorf("Counts = %+v; want %+v", got, tt.want)
			}
		})
	}
}
