package inflight

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/secrets"
)

// Group commit. A replica's changes to one token's usage record (admits,
// settles, ends) queue; one goroutine at a time, the leader, takes every
// change queued and folds them into one check-and-set write, applying them
// in queue order to the record it read, so each admission is checked
// against the claims admitted before it in the batch and in the store. A
// conflict (another replica wrote) reads the record again and applies the
// whole batch again; no change is answered before its batch's write has
// landed. While a leader writes, the next changes queue behind it, and the
// first of them leads the next batch: eight launches of one token at once
// cost about two writes between them, not eight in a row.
//
// The record this replica last wrote (or read) is kept with its version,
// and the next batch writes on it without reading: check-and-set refuses
// the write if any other replica wrote since, and only then is the record
// read again. A replica alone on its store (one replica, or the only one
// launching this token) so pays one write per batch and no read. Only a
// batch that would write nothing (a refusal, a dry run) cannot let the
// store vouch for the record it checked: it reads the record afresh first,
// so a refusal is never made on what another replica has since freed.

// maxQueues is how many tokens' queues (and remembered records) a replica
// keeps; past it, those of idle tokens are forgotten (their next batch
// reads the record again).
const maxQueues = 4096

// queue is one token's changes waiting for its record, and the record as
// this replica last saw it. Only the leader touches rec, ver and have.
type queue struct {
	pending []*op
	busy    bool // a leader is committing

	rec  usage
	ver  int
	have bool

	// listing is this replica's listing of the token's instances under
	// way: launches that need one at the same time share it. s.mu guards.
	listing *listing
}

// listing is one call of a Lister that several launches wait for.
type listing struct {
	done chan struct{}
	at   time.Time // taken no earlier than this
	end  time.Time // and no later than this
	ins  []api.Instance
	err  error
	// waiters is how many launches share it (s.mu guards).
	waiters int
}

// op is one change to a token's record.
type op struct {
	// apply changes u (pruned at now) and reports whether it changed it,
	// and whether it judged u (an admission's check) and so needs u to be
	// the current record if the batch writes nothing.
	apply func(u *usage, now time.Time) (changed, judged bool)
	// fail is told why the batch did not land.
	fail func(err error)
	// wake receives true when the op's batch is done, false when this op
	// leads the next batch.
	wake chan bool
}

// do queues o on the token's record and returns when a batch holding it
// has been committed (or failed).
func (s *shared) do(tokenID string, now func() time.Time, o *op) {
	o.wake = make(chan bool, 1)
	s.mu.Lock()
	q := s.queue(tokenID)
	q.pending = append(q.pending, o)
	lead := !q.busy
	q.busy = true
	s.mu.Unlock()
	if !lead && <-o.wake {
		return
	}
	s.mu.Lock()
	batch := q.pending
	q.pending = nil
	s.mu.Unlock()
	s.commit(tokenID, q, now, batch)
	for _, b := range batch {
		if b != o {
			b.wake <- true
		}
	}
	s.mu.Lock()
	if len(q.pending) > 0 {
		q.pending[0].wake <- false
	} else {
		q.busy = false
	}
	if s.st == nil {
		if !q.busy && q.listing == nil && q.rec.idle() {
			delete(s.queues, tokenID)
		}
		s.sweep(now())
	}
	s.mu.Unlock()
}

// sweep forgets, at most once per recent period, the idle tokens of a
// memory ledger with nothing in flight or recent (their count is listed
// again on their next launch), so tokens that launch no more do not stay.
// s.mu held.
func (s *shared) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < s.recent {
		return
	}
	s.lastSweep = now
	for id, q := range s.queues {
		if q.busy || len(q.pending) > 0 || q.listing != nil {
			continue
		}
		q.rec.prune(now)
		if q.rec.idle() {
			delete(s.queues, id)
		}
	}
}

// queue returns the token's queue; s.mu held.
func (s *shared) queue(tokenID string) *queue {
	q, ok := s.queues[tokenID]
	if ok {
		return q
	}
	if len(s.queues) >= maxQueues {
		for id, q := range s.queues {
			if !q.busy && len(q.pending) == 0 && q.listing == nil {
				delete(s.queues, id)
			}
		}
	}
	q = &queue{}
	s.queues[tokenID] = q
	return q
}

// commit applies batch to the token's record and writes it with
// check-and-set, again from a fresh read after each conflict, up to
// s.tries conflicts. Each op's fail hears why when it does not land.
func (s *shared) commit(tokenID string, q *queue, now func() time.Time, batch []*op) {
	if s.st == nil {
		// One replica alone (New): the record in memory is the only one.
		t := now()
		q.rec.prune(t)
		for _, o := range batch {
			o.apply(&q.rec, t)
		}
		return
	}
	ctx := context.Background() // the store bounds each call (secrets.DefaultTimeout)
	var fail error
	for lost := 0; ; {
		if lost == s.tries {
			fail = busy(tokenID, s.tries)
			break
		}
		fresh := !q.have
		if fresh {
			u, ver, err := s.load(ctx, tokenID)
			if err != nil {
				fail = storeDown(err)
				break
			}
			q.rec, q.ver, q.have = u, ver, true
		}
		t := now()
		q.rec.prune(t)
		changed, judged := false, false
		for _, o := range batch {
			c, j := o.apply(&q.rec, t)
			changed, judged = changed || c, judged || j
		}
		if !changed {
			if judged && !fresh {
				// Nothing to write, so check-and-set cannot vouch for
				// the remembered record: judge again on the store's.
				q.have = false
				continue
			}
			return
		}
		v, err := s.save(ctx, tokenID, q.rec, q.ver)
		if err == nil {
			q.ver = v
			return
		}
		q.have = false
		if !errors.Is(err, secrets.ErrConflict) {
			fail = storeDown(err)
			break
		}
		_ = backoff(ctx, lost)
		lost++
	}
	q.have = false
	for _, o := range batch {
		o.fail(fail)
	}
}

func (l *Ledger) admitShared(ctx context.Context, tokenID, key, scope string, listed []api.Instance, began time.Time, list Lister, check func(Counted) (Claim, error)) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, storeDown(err)
	}
	s := l.shared
	var (
		tk       *Ticket
		res      error
		needList bool
		needAt   time.Time
		at       = l.now()
		// listedBy is when listed was taken by at the latest; known says
		// at is when it began at the earliest (a listing of the ledger's
		// own, or AdmitListed's), not only when it was handed to Admit.
		listedBy = at
		known    = !began.IsZero()
	)
	if known {
		at = began
	}
	a := &op{
		apply: func(u *usage, now time.Time) (bool, bool) {
			tk, res, needList = nil, nil, false
			if err := ctx.Err(); err != nil {
				res = storeDown(err) // the caller has gone: hold nothing for it
				return false, false
			}
			if err := u.failure(key); err != nil {
				// This identity's launch failed and spent its ClientToken:
				// the same answer again (judged, so on the store's record).
				res = err
				return false, true
			}
			changed, taken, mine := false, false, Claim{}
			switch {
			case listed != nil:
				if changed, taken = u.reconcile(listed, listing{at: at, end: listedBy}, scope, known); taken {
					mine = u.own(listed, key)
				}
			case u.needsListing(now, l.maxAge, scope, s.unseen()):
				// judged: a remembered record is read afresh first,
				// since another replica may have listed since.
				needList, needAt = true, now
				return false, true
			}
			counted, settled := u.count(key, mine)
			c, err := check(counted)
			if err != nil && listed == nil {
				// Refused on the kept count, which errs upwards: list
				// first, so a refusal rests on what EC2 shows.
				needList, needAt = true, now
				return false, true
			}
			if err != nil {
				res = err
				return changed, true
			}
			tk = &Ticket{l: l, token: tokenID, key: key}
			cr, live := u.Claims[key]
			if c == (Claim{}) || (settled && !live) {
				// Holds nothing (a dry run), or EC2 already answered this
				// identity: nothing to write.
				return changed, true
			}
			tk.claim = newClaimID()
			if u.Claims == nil {
				u.Claims = map[string]claimRec{}
			}
			if cr.Holders == nil {
				cr.Holders = map[string]int64{}
			}
			tk.until = math.MaxInt64 // in memory, a claim holds until Done
			if s.st != nil {
				tk.until = now.Add(s.lease).UnixNano()
			}
			m := maxClaim(Claim{Count: cr.Count, Spend: cr.Spend}, c)
			cr.Count, cr.Spend, cr.Until = m.Count, m.Spend, max(cr.Until, tk.until)
			cr.Holders[tk.claim] = tk.until
			u.Claims[key] = cr
			return true, true
		},
		fail: func(err error) { tk, res, needList = nil, err, false },
	}
	s.do(tokenID, l.now, a)
	if needList {
		// Listed outside the batch, so others' changes need not wait for
		// EC2; and once for the launches that need it at the same time.
		var err error
		var lc *listing
		if lc, err = s.list(ctx, tokenID, l.now, needAt, list); err != nil {
			return nil, err
		}
		at, listedBy, listed, known = lc.at, lc.end, lc.ins, true
		s.do(tokenID, l.now, a)
	}
	return tk, res
}

// list calls list for a launch that found at needAt that it needs a
// listing, or shares the call another launch of the token started since
// then; it returns the listing: when it started and ended, and what it
// found (never nil).
func (s *shared) list(ctx context.Context, tokenID string, now func() time.Time, needAt time.Time, list Lister) (*listing, error) {
	s.mu.Lock()
	q := s.queue(tokenID)
	lc := q.listing
	lead := lc == nil || lc.at.Before(needAt)
	if lead {
		lc = &listing{done: make(chan struct{}), at: now()}
		q.listing = lc
	} else {
		lc.waiters++
	}
	s.mu.Unlock()
	if !lead {
		select {
		case <-lc.done:
			if lc.err == nil {
				return lc, nil
			}
			// The launch that listed failed (it may have gone): list.
			return s.list(ctx, tokenID, now, now(), list)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	lc.ins, lc.err = list(ctx)
	lc.end = now()
	if lc.ins == nil {
		lc.ins = []api.Instance{}
	}
	s.mu.Lock()
	if q.listing == lc {
		q.listing = nil
	}
	s.mu.Unlock()
	close(lc.done)
	return lc, lc.err
}

// settle turns the ticket's claim into the instances it started, as Done
// says: started instances end the identity's claim, none end only this
// holder's part of it. If the store does not take it, the claim stays
// until its lease ends: it errs on the side of the limits.
func (tk *Ticket) settle(startedInstances []api.Instance) {
	if tk.claim == "" && len(startedInstances) == 0 {
		return
	}
	l := tk.l
	l.shared.do(tk.token, l.now, &op{
		apply: func(u *usage, now time.Time) (bool, bool) {
			return u.settle(tk.key, tk.claim, startedInstances, now.Add(l.recent).UnixNano()), false
		},
		fail: func(err error) {
			l.shared.log.Warn("settling a launch's reservation failed; it holds until its lease ends",
				"token", tk.token, "error", err)
		},
	})
}

// endedShared forgets terminated instances in the token's record.
func (l *Ledger) endedShared(_ context.Context, tokenID string, ids []string) {
	l.shared.do(tokenID, l.now, &op{
		apply: func(u *usage, _ time.Time) (bool, bool) {
			n := len(u.Started)
			for _, id := range ids {
				delete(u.Started, id)
			}
			// The count holds them and cannot tell at what price:
			// the next launch lists.
			if u.Base != nil && !u.Base.Stale {
				u.Base.Stale = true
				return true, false
			}
			return len(u.Started) != n, false
		},
		fail: func(error) {},
	})
}
