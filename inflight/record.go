package inflight

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// usage is the record at usage/<token id>. Launch keys (ClientTokens, a
// digest that EC2 tags on the instances too), instance ids and prices
// only: nothing secret.
//
// Its size follows the launches of the last few seconds, not of the last
// minute. A launch's claim goes when EC2 answers it: what it started joins
// the count (Base), and is remembered one by one (Started) only until a
// listing begun after one that showed it is reconciled, since EC2 lists a
// new instance some seconds late and a listing taken meanwhile must not
// lose it. A shared ledger lists again once maxUnseen of them wait (no sooner
// than minRelist after the last listing), so the record holds the claims
// of launches under way, at most about maxUnseen instances not listed yet
// beyond those EC2 is still slow to list, and those listed since the
// last listing began.
type usage struct {
	Claims  map[string]claimRec `json:"claims,omitempty"`  // by launch key
	Started map[string]startRec `json:"started,omitempty"` // by instance id: until listings hold them
	// Failed are launches that spent their identity and started nothing
	// (failed.go), by launch key.
	Failed map[string]failRec `json:"failed,omitempty"`
	// Base is the token's live instances as last reconciled: what a
	// listing showed, plus what was started since or not listed yet. A
	// replica of a version without it drops it when it writes, so the
	// next launch lists again.
	Base *baseRec `json:"base,omitempty"`
}

// baseRec counts the token's live instances, every instance in Started
// among them.
type baseRec struct {
	Count int     `json:"n"`
	Spend float64 `json:"spend,omitempty"`
	At    int64   `json:"at"` // unix ns: when the listing was taken
	// Scope is what the listing covered (a launch's region): a launch in
	// another lists again.
	Scope string `json:"scope,omitempty"`
	// Stale: something may have ended that the count cannot take out (a
	// terminate, a claim that lapsed unsettled and may have started
	// instances): list before relying on it.
	Stale bool `json:"stale,omitempty"`
}

// claimRec is one launch identity's claim. Each admitted attempt of it is
// a holder with a lease of its own: a reference count that a crashed
// replica's attempt cannot leak, since its lease lapses. The claim counts
// while any holder's lease runs.
type claimRec struct {
	Count   int              `json:"n"`
	Spend   float64          `json:"spend,omitempty"`
	Until   int64            `json:"until"`             // unix ns: the last holder's lease end
	Holders map[string]int64 `json:"holders,omitempty"` // holder id → lease end, unix ns
	// Listed are its instances the last reconciling listing showed (EC2
	// answered, the claim is not settled yet): Base counts them already.
	Listed      []string `json:"listed,omitempty"`
	ListedSpend float64  `json:"listedSpend,omitempty"`
}

type startRec struct {
	Price float64 `json:"price,omitempty"`
	Until int64   `json:"until"`
	Key   string  `json:"key,omitempty"` // the launch that started it
	// Seen is when the first listing that showed it ended (unix ns); a
	// listing begun after that forgets it (reconcile).
	Seen int64 `json:"seen,omitempty"`
}

func usageKey(tokenID string) string { return "usage/" + tokenID }

// load reads the token's record with its version (CreateOnly when none).
func (s *shared) load(ctx context.Context, tokenID string) (usage, int, error) {
	rec, err := s.st.Get(ctx, usageKey(tokenID))
	if errors.Is(err, secrets.ErrNotFound) {
		return usage{}, secrets.CreateOnly, nil
	}
	if err != nil {
		return usage{}, 0, err
	}
	var u usage
	if err := json.Unmarshal(rec.Public, &u); err != nil {
		return usage{}, 0, apperr.Wrap(err, apperr.Internal, "usage record of token %s is not valid", tokenID)
	}
	return u, rec.Version, nil
}

func (s *shared) save(ctx context.Context, tokenID string, u usage, cas int) (int, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	return s.st.Put(ctx, usageKey(tokenID), secrets.Record{Public: b}, cas)
}

// prune drops the claims, holders, failures and started instances whose
// time is up.
// A claim that lapses was never settled: its launch may have started
// instances the count does not hold, so the count is stale.
func (u *usage) prune(now time.Time) {
	n := now.UnixNano()
	for k, c := range u.Claims {
		for h, until := range c.Holders {
			if n >= until {
				delete(c.Holders, h)
			}
		}
		if n >= c.Until || (c.Holders != nil && len(c.Holders) == 0) {
			delete(u.Claims, k)
			if u.Base != nil {
				u.Base.Stale = true
			}
		}
	}
	for k, f := range u.Failed {
		if n >= f.Until {
			delete(u.Failed, k)
		}
	}
	for id, st := range u.Started {
		if n >= st.Until {
			delete(u.Started, id)
		}
	}
}

// Bounds of Started (usage). maxUnseen instances not listed yet make a
// shared ledger's next launch list, no sooner than minRelist after the
// last listing: a listing cannot show what EC2 does not list yet, and a
// token launching faster than that would list on every launch.
//
// An instance a listing showed is kept (Seen, the listing's end) until a
// listing that began after that is reconciled: however long listings take,
// one that began later cannot have been taken before the instance was
// listed. clockSlack is how far replicas' clocks may disagree on those two
// times (they are kept in sync by NTP, to well under it).
const (
	maxUnseen     = 64
	minRelist     = time.Second
	clockSlack    = 2 * time.Second
	noUnseenBound = 0 // a memory ledger: Started costs no write
)

// needsListing says the count cannot be relied on at now in scope, or
// (unseen > 0) that Started has grown past unseen instances a listing
// would drop.
func (u *usage) needsListing(now time.Time, maxAge time.Duration, scope string, unseen int) bool {
	if u.Base == nil || u.Base.Stale || u.Base.Scope != scope {
		return true
	}
	age := now.UnixNano() - u.Base.At
	if age >= int64(maxAge) {
		return true
	}
	if unseen == noUnseenBound || age < int64(minRelist) {
		return false
	}
	n := 0
	for _, st := range u.Started {
		if st.Seen == 0 {
			n++
		}
	}
	return n >= unseen
}

// reconcile takes a listing taken at at as the token's count: what it
// shows, plus the started instances it does not show yet, and notes for
// each claim what of it the listing shows. The started instances it shows
// are forgotten: the count holds them through the listing, and EC2 keeps
// listing an instance it has listed while it lives. A listing older than
// the count is not taken. It reports whether the record changed.
func (u *usage) reconcile(listed []api.Instance, lc listing, scope string, known bool) (changed, taken bool) {
	at := lc.at
	if u.Base != nil && !u.Base.Stale && u.Base.Scope == scope && at.UnixNano() < u.Base.At {
		return false, false
	}
	b := &baseRec{At: at.UnixNano(), Scope: scope}
	seen := make(map[string]bool, len(listed))
	for _, in := range listed {
		b.Count++
		b.Spend += in.Price.Dollars()
		seen[in.ID] = true
	}
	dropped := u.addUnlisted(b, seen, lc, known)
	changed = dropped || u.Base == nil || u.Base.Count != b.Count || u.Base.Spend != b.Spend || u.Base.Stale || u.Base.Scope != scope
	for k, c := range u.Claims {
		var ids []string
		spend := 0.0
		for _, in := range listed {
			if in.LaunchKey() == k {
				ids = append(ids, in.ID)
				spend += in.Price.Dollars()
			}
		}
		if len(ids) != len(c.Listed) {
			changed = true
		}
		c.Listed, c.ListedSpend = ids, spend
		u.Claims[k] = c
	}
	if !changed {
		b.At = max(b.At, u.Base.At) // newer, but not worth a write alone
	}
	u.Base = b
	return changed, true
}

// addUnlisted counts into b the started instances listing lc did not
// show (seen), marks those it showed with its end, and forgets those a
// listing had shown before lc began (known: lc's start is when it began,
// not only when it was handed to Admit), as lc shows them if they still
// run and the count then holds them through it. It reports whether
// Started changed.
func (u *usage) addUnlisted(b *baseRec, seen map[string]bool, lc listing, known bool) bool {
	changed := false
	for id, st := range u.Started {
		switch {
		case known && st.Seen != 0 && lc.at.UnixNano() >= st.Seen+int64(clockSlack):
			delete(u.Started, id)
			changed = true
		case seen[id]:
			if st.Seen == 0 {
				// Its key is not needed any more: a retry of its launch
				// finds the instance listed (spot answers it from there,
				// and Admit leaves it out as its own).
				st.Seen, st.Key = lc.end.UnixNano(), ""
				u.Started[id] = st
				changed = true
			}
		default:
			b.Count++
			b.Spend += st.Price
		}
	}
	return changed
}

// count is Admit's arithmetic on a reconciled record: the count, less what
// the launch identity key itself started, plus the other identities'
// claims that the count does not hold yet; settled reports that key
// started some. listed is what of key's instances the listing just taken
// shows and Started no longer holds (usage.own): the count holds them.
func (u *usage) count(key string, listed Claim) (r Counted, settled bool) {
	r.Running, r.HourlySpend = u.Base.Count-listed.Count, u.Base.Spend-listed.Spend
	settled = listed.Count > 0
	for _, st := range u.Started {
		if st.Key == key {
			settled = true
			r.Running--
			r.HourlySpend -= st.Price
		}
	}
	for k, c := range u.Claims {
		if k != key {
			c := unlisted(Claim{Count: c.Count, Spend: c.Spend}, Claim{Count: len(c.Listed), Spend: c.ListedSpend})
			r.InFlight.Running += c.Count
			r.InFlight.HourlySpend += c.Spend
		}
	}
	r.Running = max(0, r.Running+r.InFlight.Running)
	r.HourlySpend = max(0, r.HourlySpend+r.InFlight.HourlySpend)
	return r, settled
}

// settle turns what key holds into the instances it started: they join
// the count, except those a listing already put there.
func (u *usage) settle(key, holder string, startedInstances []api.Instance, until int64) bool {
	changed := false
	cr, ok := u.Claims[key]
	if ok && holder != "" {
		if _, held := cr.Holders[holder]; held {
			delete(cr.Holders, holder)
			changed = true
		}
		if len(cr.Holders) == 0 || len(startedInstances) > 0 {
			delete(u.Claims, key)
			changed = true
		}
	}
	if len(startedInstances) > 0 && u.Started == nil {
		u.Started = map[string]startRec{}
	}
	for _, in := range startedInstances {
		if _, dup := u.Started[in.ID]; dup {
			continue
		}
		u.Started[in.ID] = startRec{Price: in.Price.Dollars(), Until: until, Key: key}
		if u.Base != nil && !slices.Contains(cr.Listed, in.ID) {
			u.Base.Count++
			u.Base.Spend += in.Price.Dollars()
		}
		changed = true
	}
	return changed
}

// own is what of the listing belongs to launch identity key, but for
// what Started holds as key's (which count takes out by itself).
func (u *usage) own(listed []api.Instance, key string) Claim {
	var c Claim
	for _, in := range listed {
		if st, ok := u.Started[in.ID]; ok && st.Key == key {
			continue
		}
		if in.LaunchKey() == key {
			c.Count++
			c.Spend += in.Price.Dollars()
		}
	}
	return c
}
