package capability

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/testclock"
)

// TestCachePurge: the record cache drops what no read would use (entries
// CacheTTL old or older) once it holds cachePurgeAt, at most once per
// CacheTTL; below that size, or younger, entries stay.
func TestCachePurge(t *testing.T) {
	clk := testclock.New(time.Now())
	r := &Registry{cfg: Config{CacheTTL: time.Second}, now: clk.Now, cache: map[string]cached{}}
	for i := range cachePurgeAt - 1 {
		r.remember(record{Info: Info{ID: "old" + string(rune(i))}})
	}
	clk.Add(time.Second)
	r.remember(record{Info: Info{ID: "at-ttl"}}) // the cache reaches cachePurgeAt: no purge before this insert
	if len(r.cache) != cachePurgeAt {
		t.Fatalf("cache = %d entries; want %d (no purge below the size)", len(r.cache), cachePurgeAt)
	}
	clk.Add(time.Second - time.Nanosecond)
	r.remember(record{Info: Info{ID: "young"}})
	// Purged: the old ones are 2 s - 1 ns old; "at-ttl" is 1 ns under the TTL and stays.
	if len(r.cache) != 2 {
		t.Fatalf("after a purge the cache holds %d entries; want 2 (at-ttl, young)", len(r.cache))
	}
	if _, ok := r.cache["at-ttl"]; !ok {
		t.Fatal("an entry younger than CacheTTL was purged")
	}
}
