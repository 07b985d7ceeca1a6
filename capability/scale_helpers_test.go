package capability_test

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/secrets"
)

// scaleID is the i-th made-up token id: valid (tok_ and 20 base32
// characters), unique (i is in it), and spread over the shards as random
// ids are (its first bytes are a hash of i).
func scaleID(i int) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[4:], uint64(i))
	h := sha256.Sum256(b[4:])
	copy(b[:4], h[:4])
	return "tok_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:20]
}

// fillTokens stores n-1 copies of token id's record under made-up ids, with
// workers writers at once, so the store holds n tokens. A copy is the bytes
// a Create writes, its secrets sealed again under its own id, so each
// opens (to the same credentials, one account). It returns how long the
// writes took.
func fillTokens(tb testing.TB, st secrets.Store, id string, n, workers int) time.Duration {
	tb.Helper()
	ctx := context.Background()
	rec, err := st.Get(ctx, capability.StoreKey(id))
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := st.Open(ctx, id, rec.Sealed)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Go(func() {
			for i := range next {
				cp := rec
				cp.Public = []byte(strings.Replace(string(rec.Public), id, scaleID(i), 1))
				sealed, err := st.Seal(ctx, scaleID(i), plain)
				if err == nil {
					cp.Sealed = sealed
					_, err = st.Put(ctx, capability.StoreKey(scaleID(i)), cp, secrets.CreateOnly)
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		})
	}
	for i := 1; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		tb.Fatalf("fill %d tokens: %v", n, first)
	}
	return time.Since(start)
}

// walkPages lists every token page by page and returns their ids in order.
func walkPages(tb testing.TB, reg *capability.Registry, limit int) (ids []string, pages int) {
	tb.Helper()
	cursor := ""
	for {
		p, err := reg.ListPage(context.Background(), cursor, limit)
		if err != nil {
			tb.Fatalf("ListPage after %d pages: %v", pages, err)
		}
		pages++
		if len(p.Tokens) > limit {
			tb.Fatalf("page of %d tokens; limit %d", len(p.Tokens), limit)
		}
		for _, t := range p.Tokens {
			ids = append(ids, t.ID)
		}
		if p.Next == "" {
			return ids, pages
		}
		cursor = p.Next
	}
}
