package token

import (
	"bytes"
	"context"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/apperr"
)

// memSteps is a StepStore with version check-and-set, answering a lost race
// as secrets.Store does.
type memSteps struct {
	mu   sync.Mutex
	recs map[string][2]int64 // step, version
	// beforeSave, when set, runs inside SaveStep before the version check:
	// it lets a test slip another replica's write in between.
	beforeSave func()
}

var _ StepStore = (*memSteps)(nil)

func (m *memSteps) LastStep(_ context.Context, id string) (int64, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	return r[0], int(r[1]), nil
}

func (m *memSteps) SaveStep(_ context.Context, id string, step int64, version int) error {
	if f := m.beforeSave; f != nil {
		m.beforeSave = nil
		f()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string][2]int64{}
	}
	if int(m.recs[id][1]) != version {
		return apperr.New(apperr.Conflict, "version moved")
	}
	m.recs[id] = [2]int64{step, int64(version) + 1}
	return nil
}

const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // ASCII "12345678901234567890"

func TestRFC6238Vectors(t *testing.T) {
	// RFC 6238 Appendix B, SHA1 rows; the six-digit code is the last six.
	tests := []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	}
	for _, tt := range tests {
		at := time.Unix(tt.unix, 0)
		got, err := totp.GenerateCodeCustom(rfcSecret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
		if err != nil || got != tt.want {
			t.Errorf("GenerateCodeCustom(T=%d) = %q, %v; want %q", tt.unix, got, err, tt.want)
		}
		step, err := matchStep(rfcSecret, tt.want[2:], at)
		if err != nil || step != tt.unix/30 {
			t.Errorf("matchStep(T=%d) = %d, %v; want step %d", tt.unix, step, err, tt.unix/30)
		}
		c := NewTOTPChecker(&memSteps{}, func() time.Time { return at })
		if err := c.Check(context.Background(), "tok", rfcSecret, tt.want[2:]); err != nil {
			t.Errorf("Check(T=%d) = %v", tt.unix, err)
		}
	}
}

func TestTOTPCheck(t *testing.T) {
	ctx := context.Background()
	at := time.Unix(1111111111, 0) // step 37037037, code 050471
	codeAt := func(d time.Duration) string {
		c, err := totp.GenerateCodeCustom(rfcSecret, at.Add(d), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type attempt struct {
		code string
		want string
	}
	tests := []struct {
		name     string
		attempts []attempt
	}{
		{name: "OK", attempts: []attempt{{"050471", ""}}},
		{name: "spaces tolerated", attempts: []attempt{{" 050 471\n", ""}}},
		{name: "replayed", attempts: []attempt{{"050471", ""}, {"050471", apperr.MFAReplayed}}},
		{name: "replayed with other spacing", attempts: []attempt{{"050471", ""}, {"050 471", apperr.MFAReplayed}}},
		{name: "previous step ok", attempts: []attempt{{codeAt(-30 * time.Second), ""}}},
		{name: "next step ok", attempts: []attempt{{codeAt(30 * time.Second), ""}}},
		{name: "two steps back", attempts: []attempt{{codeAt(-60 * time.Second), apperr.MFAInvalid}}},
		{name: "two steps ahead", attempts: []attempt{{codeAt(60 * time.Second), apperr.MFAInvalid}}},
		{name: "earlier step after a later one", attempts: []attempt{{codeAt(30 * time.Second), ""}, {"050471", apperr.MFAReplayed}}},
		{name: "later step after an earlier one", attempts: []attempt{{codeAt(-30 * time.Second), ""}, {"050471", ""}}},
		{name: "wrong", attempts: []attempt{{"123456", apperr.MFAInvalid}}},
		{name: "missing", attempts: []attempt{{"", apperr.MFARequired}}},
		{name: "blank", attempts: []attempt{{"  ", apperr.MFARequired}}},
		{name: "seven digits", attempts: []attempt{{"0504710", apperr.MFAInvalid}}},
		{name: "five digits", attempts: []attempt{{"50471", apperr.MFAInvalid}}},
		{name: "letters", attempts: []attempt{{"05O471", apperr.MFAInvalid}}},
		{name: "unicode digits", attempts: []attempt{{"٠٥٠٤٧١", apperr.MFAInvalid}}},
		{name: "sign", attempts: []attempt{{"+50471", apperr.MFAInvalid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewTOTPChecker(&memSteps{}, func() time.Time { return at })
			for i, a := range tt.attempts {
				err := c.Check(ctx, "tok-1", rfcSecret, a.code)
				wantCode(t, "Check #"+string(rune('1'+i)), err, a.want)
				noLeak(t, err, rfcSecret, "050471", codeAt(30*time.Second), codeAt(-30*time.Second))
			}
		})
	}
}

func TestTOTPPerToken(t *testing.T) {
	at := time.Unix(1111111111, 0)
	c := NewTOTPChecker(&memSteps{}, func() time.Time { return at })
	for _, id := range []string{"tok-a", "tok-b"} {
		if err := c.Check(context.Background(), id, rfcSecret, "050471"); err != nil {
			t.Fatalf("Check(%s) = %v; a code used on one token must not block another", id, err)
		}
	}
}

func TestTOTPConcurrentReplay(t *testing.T) {
	at := time.Unix(1111111111, 0)
	store := &memSteps{}
	// Many "replicas" (checkers) share one store and race one code.
	var accepted, replayed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewTOTPChecker(store, func() time.Time { return at })
			err := c.Check(context.Background(), "tok-1", rfcSecret, "050471")
			switch {
			case err == nil:
				accepted.Add(1)
			case apperr.Code(err) == apperr.MFAReplayed:
				replayed.Add(1)
			default:
				t.Errorf("Check: %v", err)
			}

		}()
	}
	wg.Wait()
	if accepted.Load() != 1 {
		t.Fatalf("%d of 64 concurrent checks accepted one code; want exactly 1", accepted.Load())
	}
	if replayed.Load() != 63 {
		t.Fatalf("%d checks refused as replayed; want 63", replayed.Load())
	}
}

func TestTOTPConflictRecheck(t *testing.T) {
	// Between our read and our write another replica accepts the same step:
	// the retry must re-read and refuse, not overwrite.
	at := time.Unix(1111111111, 0)
	store := &memSteps{}
	store.beforeSave = func() { _ = store.SaveStep(context.Background(), "tok-1", 37037037, 0) }
	c := NewTOTPChecker(store, func() time.Time { return at })
	err := c.Check(context.Background(), "tok-1", rfcSecret, "050471")
	wantCode(t, "Check after lost race", err, apperr.MFAReplayed)
}

func TestTOTPBadSecret(t *testing.T) {
	c := NewTOTPChecker(&memSteps{}, func() time.Time { return time.Unix(59, 0) })
	err := c.Check(context.Background(), "tok", "not base32 !!", "287082")
	if err == nil || apperr.Code(err) != apperr.Internal {
		t.Fatalf("Check with a corrupt secret = %v; want an internal error", err)
	}
}

func TestEnroll(t *testing.T) {
	secret, u, qr, err := Enroll("spotter", "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 {
		t.Errorf("secret is %d base32 chars; want 32 (160 bits)", len(secret))
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "otpauth" || pu.Host != "totp" {
		t.Fatalf("otpauth URL %q: %v", u, err)
	}
	q := pu.Query()
	if q.Get("secret") != secret || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" || q.Get("issuer") != "spotter" {
		t.Errorf("otpauth URL parameters %v", q)
	}
	img, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatalf("QR is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != qrSize || b.Dy() != qrSize {
		t.Errorf("QR is %dx%d; want %dx%d", b.Dx(), b.Dy(), qrSize, qrSize)
	}
	// The enrolled secret works end to end.
	now := time.Now()
	code, _ := totp.GenerateCodeCustom(secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix})
	if err := NewTOTPChecker(&memSteps{}, func() time.Time { return now }).Check(context.Background(), "tok-1", secret, code); err != nil {
		t.Fatalf("Check with an enrolled secret: %v", err)
	}
	if _, _, _, err := Enroll("", "tok-1"); err == nil {
		t.Error("Enroll without issuer succeeded")
	}
}

// A missing code says where the code goes, for every way a person sends one.
func TestTOTPMissingCodeSaysWhere(t *testing.T) {
	c := NewTOTPChecker(&memSteps{}, time.Now)
	err := c.Check(context.Background(), "tok-1", rfcSecret, "")
	for _, want := range []string{"mfaCode", "--mfa-code", `"code"`} {
		if !strings.Contains(apperr.Details(err), want) {
			t.Errorf("details %q do not name %s", apperr.Details(err), want)
		}
	}
}
