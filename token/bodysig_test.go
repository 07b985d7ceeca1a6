package token

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// memMarkers is a MarkerStore with create-only semantics, answering a lost
// race the way secrets.Store does (an apperr conflict with details).
type memMarkers struct {
	mu   sync.Mutex
	seen map[string]time.Time
	err  error
}

var _ MarkerStore = (*memMarkers)(nil)

func (m *memMarkers) CreateMarker(_ context.Context, key string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if _, ok := m.seen[key]; ok {
		return apperr.New(apperr.Conflict, "key exists")
	}
	m.seen[key] = expires
	return nil
}

func TestSignVector(t *testing.T) {
	// Derived vector: HMAC-SHA256 of "1700000000." + body under the secret,
	// as the README's "Body signatures" openssl example computes it.
	got := Sign([]byte("test-signing-secret"), time.Unix(1700000000, 0), []byte(`{"task":"status"}`))
	want := "t=1700000000,v1=b6c47bd79d8692c11c1648e6515b774868b8954129bdc9c8bcf98a1af95eba99"
	if got != want {
		t.Fatalf("Sign = %q; want %q", got, want)
	}
}

func TestVerifyBody(t *testing.T) {
	secret := []byte("test-signing-secret")
	old := []byte("old-signing-secret")
	body := []byte(`{"task":"status"}`)
	ts := time.Unix(1700000000, 0)
	good := Sign(secret, ts, body)
	goodV1 := good[strings.Index(good, "v1="):]
	oldV1 := Sign(old, ts, body)[len("t=1700000000,"):]
	otherBody := Sign(secret, ts, []byte(`{"task":"launch"}`))[len("t=1700000000,"):]

	tests := []struct {
		name    string
		header  string
		body    []byte
		secrets [][]byte
		now     time.Time
		want    string
	}{
		{name: "OK", header: good, now: ts},
		{name: "OK 299 s late", header: good, now: ts.Add(299 * time.Second)},
		{name: "OK 300 s late", header: good, now: ts.Add(300 * time.Second)},
		{name: "OK 300 s early", header: good, now: ts.Add(-300 * time.Second)},
		{name: "several v1, second matches", header: "t=1700000000," + otherBody + "," + goodV1, now: ts},
		{name: "unknown scheme ignored", header: good + ",v0=abc", now: ts},
		{name: "spaces after commas", header: "t=1700000000, " + goodV1, now: ts},
		{name: "upper-case hex", header: "t=1700000000,v1=" + strings.ToUpper(goodV1[3:]), now: ts},
		{name: "rotation: old secret still listed", header: "t=1700000000," + oldV1, secrets: [][]byte{secret, old}, now: ts},
		{name: "rotation: old secret dropped", header: "t=1700000000," + oldV1, now: ts, want: apperr.SignatureInvalid},
		{name: "stale", header: good, now: ts.Add(301 * time.Second), want: apperr.SignatureExpired},
		{name: "future", header: good, now: ts.Add(-301 * time.Second), want: apperr.SignatureExpired},
		{name: "stale and wrong MAC is invalid, not expired", header: "t=1700000000," + otherBody, now: ts.Add(time.Hour), want: apperr.SignatureInvalid},
		{name: "body changed", header: good, body: []byte(`{"task":"launch"}`), now: ts, want: apperr.SignatureInvalid},
		{name: "timestamp changed", header: "t=1700000001," + goodV1, now: ts, want: apperr.SignatureInvalid},
		{name: "missing", header: "", now: ts, want: apperr.SignatureInvalid},
		{name: "no v1", header: "t=1700000000", now: ts, want: apperr.SignatureInvalid},
		{name: "no t", header: goodV1, now: ts, want: apperr.SignatureInvalid},
		{name: "two t", header: "t=1700000000,t=1700000000," + goodV1, now: ts, want: apperr.SignatureInvalid},
		{name: "negative t", header: "t=-1," + goodV1, now: ts, want: apperr.SignatureInvalid},
		{name: "huge t", header: "t=99999999999999999999," + goodV1, now: ts, want: apperr.SignatureInvalid},
		{name: "short v1", header: "t=1700000000,v1=abcd", now: ts, want: apperr.SignatureInvalid},
		{name: "non-hex v1", header: "t=1700000000,v1=" + strings.Repeat("zz", 32), now: ts, want: apperr.SignatureInvalid},
		{name: "part without =", header: good + ",junk", now: ts, want: apperr.SignatureInvalid},
		{name: "too many parts", header: good + strings.Repeat(",v0=x", 10), now: ts, want: apperr.SignatureInvalid},
		{name: "too long", header: good + ",v0=" + strings.Repeat("x", 2000), now: ts, want: apperr.SignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, secrets := tt.body, tt.secrets
			if b == nil {
				b = body
			}
			if secrets == nil {
				secrets = [][]byte{secret}
			}
			n, err := VerifyBody(tt.header, b, secrets, tt.now, DefaultWindow)
			wantCode(t, "VerifyBody", err, tt.want)
			noLeak(t, err, string(secret), string(old), goodV1[3:], otherBody[3:])
			if err == nil && (len(n.ID) != 64 || !n.Until.Equal(ts.Add(DefaultWindow))) {
				t.Fatalf("nonce = %+v", n)
			}
		})
	}
}

func TestVerifyBodyEmptySecret(t *testing.T) {
	for _, secrets := range [][][]byte{nil, {}, {nil}, {[]byte("x"), {}}} {
		_, err := VerifyBody(Sign(nil, time.Unix(1, 0), nil), nil, secrets, time.Unix(1, 0), 0)
		if err == nil || apperr.Code(err) != apperr.Internal {
			t.Fatalf("VerifyBody(secrets=%q) = %v; want an internal error", secrets, err)
		}
	}
}

func TestNonceStableAcrossEncodings(t *testing.T) {
	secret := []byte("s3cret-s3cret")
	ts := time.Unix(1700000000, 0)
	h := Sign(secret, ts, []byte("b"))
	n1, err := VerifyBody(h, []byte("b"), [][]byte{secret}, ts, 0)
	if err != nil {
		t.Fatal(err)
	}
	v1 := h[strings.Index(h, "v1="):]
	n2, err := VerifyBody("t=1700000000,v1="+strings.Repeat("00", 32)+",v1="+strings.ToUpper(v1[3:]), []byte("b"), [][]byte{secret}, ts, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n1.ID != n2.ID {
		t.Fatalf("the same signature re-encoded gives nonce %s and %s", n1.ID, n2.ID)
	}
}

func TestReplayGuard(t *testing.T) {
	ctx := context.Background()
	secret := []byte("test-signing-secret")
	ts := time.Unix(1700000000, 0)
	n, err := VerifyBody(Sign(secret, ts, []byte("x")), []byte("x"), [][]byte{secret}, ts, 0)
	if err != nil {
		t.Fatal(err)
	}
	store := &memMarkers{}
	g := ReplayGuard{Store: store}
	wantCode(t, "first Check", g.Check(ctx, n), "")
	wantCode(t, "replayed Check", g.Check(ctx, n), apperr.SignatureReplay)

	// Concurrent replicas on one store: exactly one accepts.
	n2, _ := VerifyBody(Sign(secret, ts, []byte("y")), []byte("y"), [][]byte{secret}, ts, 0)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.Check(ctx, n2) == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent checks accepted; want 1", ok.Load())
	}

	// A store fault fails closed and is not mistaken for a replay.
	store.err = apperr.New(apperr.Unavailable, "vault sealed")
	err = g.Check(ctx, Nonce{ID: "fresh", Until: ts})
	wantCode(t, "Check with store down", err, apperr.Unavailable)
	if err := g.Check(ctx, Nonce{}); err == nil {
		t.Fatal("Check(empty nonce) = nil")
	}
	if !errors.Is(apperr.New(apperr.Conflict, "exists"), ErrConflict) {
		t.Fatal("a detailed conflict does not match ErrConflict")
	}
}
