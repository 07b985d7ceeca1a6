package token

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	a := MustAuthority(b, MustLocalKeys(b), time.Now)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := a.Issue(ctx, Capability, "tok-1", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the hot path: keys cached, the token verified before.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	a := MustAuthority(b, MustLocalKeys(b), time.Now)
	tok, _, err := a.Issue(ctx, Capability, "tok-1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Verify(ctx, Capability, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyUncached is a token's first call on a replica: the full
// Ed25519 and claims check that the verified cache spares later calls.
func BenchmarkVerifyUncached(b *testing.B) {
	ctx := context.Background()
	a := MustAuthority(b, MustLocalKeys(b), time.Now)
	tok, _, err := a.Issue(ctx, Capability, "tok-1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.verified = verifiedCache{}
		if _, err := a.Verify(ctx, Capability, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBody(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	body := []byte(`{"task":"launch","region":"us-east-1","instanceTypes":["m5.large"],"count":1}`)
	now := time.Now()
	h := Sign(secret, now, body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyBody(h, body, [][]byte{secret}, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTOTPCheck measures a successful check (three code generations and
// one in-memory check-and-set); each iteration uses a fresh token id so no
// code counts as replayed.
func BenchmarkTOTPCheck(b *testing.B) {
	ctx := context.Background()
	at := time.Unix(1111111111, 0)
	c := NewTOTPChecker(&memSteps{}, func() time.Time { return at })
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := c.Check(ctx, "tok-"+strconv.Itoa(i), rfcSecret, "050471"); err != nil {
			b.Fatal(err)
		}
	}
}
