package capability

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"sync"

	"github.com/spotter-dev/spotter/apperr"
)

// The reaper walks every token each pass. At 100,000 tokens reading every
// record each time was ~100,000 KV reads and as many Transit decrypts a
// pass (52 s against a 1 min interval), so Walk keeps the records it read
// (tokenIndex) and each pass reads only:
//
//   - the shard LISTs (1,024 at most), so a token created since the last
//     pass is read and walked at once, and a deleted one is dropped;
//   - a rolling 1/RefreshPasses of the known records, so each record is
//     read again at least every RefreshPasses passes, which is how long
//     a rotation of its credentials can go unseen by the reaper.
//
// A revocation needs no fresh read here: the reaper asks Revoked (a read
// at most CacheTTL old) for every token that owns an instance and was not
// walked as revoked, and a revoked token never comes back. Expiry is in
// each instance's own tag. And the pass opens credentials only for the
// accounts it has yet to reap: each record names its account (Account).

// RefreshPasses is how many walks a kept record may serve before it is
// read again.
const RefreshPasses = 16

// tokenIndex is every token's record as last read, by id.
type tokenIndex struct {
	walk sync.Mutex // one refresh at a time
	// mu guards walks, records and each entry's account.
	mu      sync.Mutex
	walks   int
	records map[string]*indexed
}

type indexed struct {
	rec record
	// account is what AccountOf found when the credentials of this
	// version were opened, for records that do not name it.
	account string
}

// AccountKey names the AWS account a token's credentials reach, for the
// reaper, which reaps each account and region once a pass however many
// tokens share them: "role:<arn>", or "keys:" and a hash of the access key
// id (the record keeps this, not the id).
func AccountKey(c Credentials) string {
	if c.RoleARN != "" {
		return "role:" + c.RoleARN
	}
	sum := sha256.Sum256([]byte("spotter account\x00" + c.AccessKeyID))
	return "keys:" + hex.EncodeToString(sum[:16])
}

// Account returns the account key of info's token as the last walk knew
// it (its record, or the credentials the reaper last opened), without a
// store call; false when it is not known and the credentials must be
// opened to find it.
func (r *Registry) Account(info Info) (string, bool) {
	if info.Credentials.RoleARN != "" {
		return AccountKey(Credentials{RoleARN: info.Credentials.RoleARN}), true
	}
	x := &r.index
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.records[info.ID]
	switch {
	case e == nil:
		return "", false
	case e.rec.Account != "":
		return e.rec.Account, true
	}
	return e.account, e.account != ""
}

// noteAccount records what account a token's opened credentials reach,
// for a record written before records named it.
func (r *Registry) noteAccount(rec record, c Credentials) {
	x := &r.index
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.records[rec.ID]; e != nil && e.rec.version == rec.version {
		e.account = AccountKey(c)
	}
}

// update keeps rec, just read or written, in place of an older version
// the index holds: a revocation or rotation through this replica shows in
// its next walk at once.
func (x *tokenIndex) update(rec record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.records[rec.ID]; e != nil && e.rec.version < rec.version {
		x.records[rec.ID] = &indexed{rec: rec}
	}
}

// Walk calls fn with each page of up to MaxPageSize tokens, revoked ones
// included, in id order, until the last page or fn's error: every token
// listed now, each record as the index keeps it (see above). Walks run
// one at a time.
func (r *Registry) Walk(ctx context.Context, fn func(page []Info) error) error {
	ids, err := r.idsAfter(ctx, "", math.MaxInt32)
	if err != nil {
		return fmt.Errorf("walk tokens: %w", err)
	}
	infos, err := r.index.refresh(ctx, r, ids)
	if err != nil {
		return err
	}
	for len(infos) > 0 {
		n := min(MaxPageSize, len(infos))
		if err := fn(infos[:n]); err != nil {
			return err
		}
		infos = infos[n:]
	}
	return nil
}

// refresh makes the index hold exactly ids, reading the new ones and those
// due, and returns their infos in the order of ids.
func (x *tokenIndex) refresh(ctx context.Context, r *Registry, ids []string) ([]Info, error) {
	x.walk.Lock()
	defer x.walk.Unlock()
	x.mu.Lock()
	x.walks++
	walk, old := x.walks, x.records
	x.mu.Unlock()
	wanted := func(id string) bool { return old[id] == nil || due(id, walk) }
	var read []string
	for _, id := range ids {
		if wanted(id) {
			read = append(read, id)
		}
	}
	fresh, err := r.fetchAll(ctx, read)
	if err != nil {
		return nil, err
	}
	next := make(map[string]*indexed, len(ids))
	for _, id := range ids {
		e := old[id]
		if rec, ok := fresh[id]; ok {
			if e == nil || e.rec.version != rec.version {
				e = &indexed{rec: rec}
			}
		} else if wanted(id) {
			continue // deleted between the list and the read
		}
		next[id] = e
	}
	x.mu.Lock()
	// Keep what update put in meanwhile (a revocation through this
	// replica) where it is newer than what this walk read.
	for id, e := range x.records {
		if n := next[id]; n != nil && e.rec.version > n.rec.version {
			next[id] = e
		}
	}
	x.records = next
	x.mu.Unlock()
	infos := make([]Info, 0, len(next))
	for _, id := range ids {
		if e := next[id]; e != nil {
			infos = append(infos, e.rec.Info)
		}
	}
	return infos, nil
}

// due reports whether walk number walk reads id's record again: each id
// once every RefreshPasses walks, the ids spread evenly over them.
func due(id string, walk int) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return (int(h.Sum32()%RefreshPasses)+walk)%RefreshPasses == 0
}

// fetchAll reads the records of ids, loadWorkers at a time, leaving out
// any deleted meanwhile. It does not fill the record cache: a walk's
// 100,000 records would sit in it until they aged out.
func (r *Registry) fetchAll(ctx context.Context, ids []string) (map[string]record, error) {
	out := make(map[string]record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan string)
	)
	for range min(loadWorkers, len(ids)) {
		wg.Go(func() {
			for id := range next {
				rec, err := r.fetch(ctx, id)
				mu.Lock()
				switch {
				case err == nil:
					out[id] = rec
				case apperr.Code(err) != apperr.NotFound && first == nil:
					first = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, id := range ids {
		select {
		case next <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "walk tokens: %v", err)
	}
	return out, nil
}
