package pages

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/secrets"
)

// TestCapabilitySpend: the page shows the token's spend against what its
// hourly cap allows in a day and in this month, and an MFA token shows it
// only behind a code, as its instances.
func TestCapabilitySpend(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) // November: 30 days
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	act := activity.New(st, slog.New(slog.DiscardHandler), func() time.Time { return now })
	defer act.Close()
	ctx := context.Background()
	// $2/h for the last hour, in six samples.
	for i := 6; i >= 0; i-- {
		if err := act.Charge(ctx, "tok_a", 2, now.Add(-time.Duration(i)*10*time.Minute), 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	p := Capability{Pages: Must(New(func() time.Time { return now })), Activity: act}
	tests := []struct {
		name       string
		v          view
		wantShown  bool
		wantInPage []string
		notInPage  []string
	}{
		{name: "with a cap", v: view{MaxHourlySpend: 0.5}, wantShown: true,
			wantInPage: []string{"Today (UTC)</dt><dd>$2.0000", "of at most $12.0000 at the $0.5000/h cap", "This month</dt><dd>$2.0000", "of at most $360.0000"}},
		{name: "without a cap", v: view{}, wantShown: true,
			wantInPage: []string{"Today (UTC)</dt><dd>$2.0000"}, notInPage: []string{"of at most"}},
		{name: "MFA, no code yet", v: view{MFA: true}, notInPage: []string{"h-spend"}},
		{name: "MFA, shown behind a code", v: view{MFA: true, Shown: true}, wantShown: true, wantInPage: []string{"h-spend"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := echo.New().NewContext(httptest.NewRequest("GET", "/hooks/x", nil), httptest.NewRecorder())
			v := tt.v
			p.spend(c, "tok_a", &v)
			if (v.Spend != nil) != tt.wantShown {
				t.Fatalf("spend shown = %v; want %v", v.Spend != nil, tt.wantShown)
			}
			var b strings.Builder
			if err := p.tmpl.ExecuteTemplate(&b, "capability.html", v); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			for _, s := range tt.wantInPage {
				if !strings.Contains(page, s) {
					t.Errorf("no %q in the page", s)
				}
			}
			for _, s := range tt.notInPage {
				if strings.Contains(page, s) {
					t.Errorf("%q in the page", s)
				}
			}
		})
	}
}
