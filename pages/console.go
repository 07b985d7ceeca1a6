package pages

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

// AdminAuth checks the operator's admin token and names it without
// revealing it (capability.Admin).
type AdminAuth interface {
	Check(authorization string) error
	Fingerprint() string
}

// ConsoleDeps are what the operator console reads and changes.
type ConsoleDeps struct {
	// Store keeps sessions and sign-in tries (shared by replicas).
	Store secrets.Store
	Admin AdminAuth
	// Tokens lists, revokes and rotates capability tokens.
	Tokens *capability.Registry
	// Activity holds recent events, the reaper's last pass and spend;
	// nil shows none of them.
	Activity *activity.Activity
	// Instances lists a token's instances; nil leaves them out.
	Instances func(ctx context.Context, info capability.Info) (spot.StatusResult, error)
	// Reaping says whether this server runs the reaper at all.
	Reaping bool
	// Audit receives one event per console action (sign-in, revoke,
	// rotate), as the task pipeline writes its own.
	Audit *slog.Logger
	// SessionTTL is how long a sign-in lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// Pools lists the pools; nil shows none.
	Pools PoolLister
}

// PoolLister lists pool records (pools.Registry).
type PoolLister interface {
	List(ctx context.Context) ([]pools.Record, error)
}

// Console is the operator console under /ui/: tokens, their instances and
// recent events, the reaper's last pass, the health of the store and AWS.
// Every route but sign-in needs a session (RequireSession); every form
// carries the session's anti-forgery value.
type Console struct {
	*Pages
	ConsoleDeps
	throttle *token.Throttle
}

// NewConsole returns the console over d, rendering with p.
func NewConsole(p *Pages, d ConsoleDeps) *Console {
	if d.Audit == nil {
		d.Audit = slog.New(slog.DiscardHandler)
	}
	return &Console{Pages: p, ConsoleDeps: d, throttle: token.NewThrottle(signinStore(d.Store), p.now)}
}

// consolePage is what every console page renders around its own part.
type consolePage struct {
	Title  string
	Nav    string // the current section, for aria-current
	CSRF   string
	Notice string
}

func (p *Console) page(c echo.Context, title, nav string) consolePage {
	return consolePage{Title: title, Nav: nav, CSRF: sessionOf(c).CSRF, Notice: consoleNotice(c.QueryParam("did"))}
}

// consoleNotice is the line after a form's redirect: fixed texts chosen by
// a word, so nothing from the URL reaches the page.
func consoleNotice(did string) string {
	switch did {
	case "revoked":
		return "Token revoked: every replica refuses it within seconds, and the reaper ends its instances."
	case "rotated":
		return "Credentials replaced. The token's URL is unchanged."
	case "signedin":
		return "Signed in."
	}
	return ""
}

// overview is GET /ui/: tokens, the reaper, health, pools.
type overview struct {
	consolePage
	Tokens   []tokenRow
	Next     string // the next page's cursor
	Reaper   reaperView
	Health   []healthRow
	Activity bool
	Pools    []poolRow
	PoolsErr string
}

type poolRow struct {
	Name, Status, TokenID, Demand string
	Min, Max                      int
	Counts                        pools.Counts
	Chart                         template.HTML
}

type tokenRow struct {
	ID, Name, Status, Policy string
	Running                  int
	Hourly                   float64
	Known                    bool // the reaper reported this token
	SpendToday               float64
	LastUse                  string
	Active                   bool
	Credentials              string // masked key id or role ARN
}

// consolePageSize is the tokens one overview lists: each row reads its
// spend and history from the store.
const consolePageSize = 25

// Overview serves GET /ui/.
func (p *Console) Overview(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := p.Tokens.ListPage(ctx, c.QueryParam("cursor"), consolePageSize)
	if err != nil {
		return err
	}
	v := overview{consolePage: p.page(c, "Operator console", "tokens"), Next: page.Next, Activity: p.Activity != nil}
	pass, passed, passErr := p.lastPass(ctx)
	now := p.now()
	v.Tokens = make([]tokenRow, len(page.Tokens))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // a page's store reads, a few at a time
	for i, info := range page.Tokens {
		row := tokenRow{ID: info.ID, Name: info.Name, Status: info.Status(now), Policy: policySummary(info),
			Active: info.Status(now) == "active", Credentials: credentialText(info.Credentials)}
		if r, ok := pass.Tokens[info.ID]; ok {
			row.Running, row.Hourly, row.Known = r.Running, r.HourlyCost, true
		}
		v.Tokens[i] = row
		if p.Activity == nil {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if s, err := p.Activity.SpendOf(ctx, info.ID, now); err == nil {
				v.Tokens[i].SpendToday = s.Today
			}
			h, err := p.Activity.History(ctx, info.ID)
			if err != nil {
				return
			}
			for _, e := range h { // newest first; the console's own and the reaper's acts are no use
				if e.Event == "task" {
					v.Tokens[i].LastUse = when(e.At, now)
					break
				}
			}
		})
	}
	wg.Wait()
	v.Pools, v.PoolsErr = p.poolRows(ctx, now)
	v.Reaper = p.reaperView(pass, passed, passErr, now)
	v.Health = p.health(ctx, v.Reaper)
	return p.render(c, http.StatusOK, "console.html", v)
}

func (p *Console) lastPass(ctx context.Context) (activity.Pass, bool, error) {
	if p.Activity == nil {
		return activity.Pass{}, false, nil
	}
	return p.Activity.LastPass(ctx)
}

// policySummary is one line: where, what, how many, at what cost.
func policySummary(i capability.Info) string {
	pol := i.Policy
	var b strings.Builder
	b.WriteString(strings.Join(pol.Regions, ", "))
	b.WriteString("; ")
	b.WriteString(strings.Join(pol.InstanceTypes, ", "))
	b.WriteString("; ≤")
	b.WriteString(strconv.Itoa(pol.MaxRunning))
	b.WriteString(" running")
	if pol.MaxHourlySpend > 0 {
		b.WriteString(", ≤" + dollars(pol.MaxHourlySpend) + "/h")
	}
	b.WriteString("; TTL ≤" + short(time.Duration(pol.MaxTTL)))
	if i.MFA.Type != api.MFANone && i.MFA.Type != "" {
		b.WriteString("; MFA")
	}
	if pol.DryRunOnly {
		b.WriteString("; dry run only")
	}
	return b.String()
}

func credentialText(c api.CredentialRef) string {
	if c.RoleARN != "" {
		return "role " + c.RoleARN
	}
	if c.AccessKeyID != "" {
		return "keys " + c.AccessKeyID // already masked: AKIA…WXYZ
	}
	return c.Type
}

// when writes a past moment as "5m ago (23:40 UTC)".
func when(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	ago := ""
	switch {
	case d < time.Minute:
		ago = "just now"
	case d < time.Hour:
		ago = strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 48*time.Hour:
		ago = strconv.Itoa(int(d/time.Hour)) + "h ago"
	default:
		ago = strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
	}
	return ago + " (" + t.UTC().Format("Jan 2 15:04 MST") + ")"
}

type reaperView struct {
	Off, Never bool
	Err        string
	When       string
	Took       string
	Replica    string
	Accounts   int
	Failed     int
	Counts     []string
	Actions    []spot.ReapAction
	Stale      bool // older than expected: the reaper may be down
}

func (p *Console) reaperView(pass activity.Pass, passed bool, err error, now time.Time) reaperView {
	v := reaperView{Off: !p.Reaping && !passed, Never: !passed}
	if err != nil {
		v.Err = errText(err)
		return v
	}
	if !passed {
		return v
	}
	v.When, v.Took, v.Replica = when(pass.End, now), took(pass.End.Sub(pass.Start)), pass.Replica
	v.Accounts, v.Failed, v.Err, v.Actions = pass.Accounts, pass.Failed, pass.Error, pass.Actions
	for k, n := range pass.Counts {
		v.Counts = append(v.Counts, strconv.Itoa(n)+" × "+k)
	}
	slices.Sort(v.Counts)
	v.Stale = now.Sub(pass.End) > 15*time.Minute
	return v
}

type healthRow struct {
	Name, State, Detail string
	OK                  bool
}

// health asks the store now, and reads AWS's health from the reaper's
// last pass: asking AWS on every page view would cost calls in every
// account, and the reaper already made them.
func (p *Console) health(ctx context.Context, r reaperView) []healthRow {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	store := healthRow{Name: "Store", OK: true, State: "answers"}
	if err := p.Store.Ping(pctx); err != nil {
		store.OK, store.State, store.Detail = false, "does not answer", errText(apperr.Wrap(err, apperr.Unavailable, "the secrets store does not answer"))
	} else {
		store.Detail = "ping took " + took(time.Since(start))
	}
	aws := healthRow{Name: "AWS", OK: true}
	switch {
	case r.Off:
		aws.OK, aws.State, aws.Detail = false, "unknown", "this server runs no reaper (--reaper-interval 0), which is what checks AWS"
	case r.Err != "":
		aws.OK, aws.State, aws.Detail = false, "failing", r.Err
	case r.Never:
		aws.State, aws.Detail = "not checked yet", "the reaper's first pass has not ended"
	case r.Failed > 0:
		aws.OK, aws.State = false, "partly failing"
		aws.Detail = strconv.Itoa(r.Failed) + " of " + strconv.Itoa(r.Accounts) + " account × region pairs failed in the reaper's last pass, " + r.When
	default:
		aws.State = "answers"
		aws.Detail = strconv.Itoa(r.Accounts) + " account × region pairs reaped, " + r.When
	}
	if r.Stale && !r.Off {
		aws.OK, aws.Detail = false, aws.Detail+"; no pass since: is the reaper running?"
	}
	return []healthRow{store, aws}
}

// took writes a duration to the millisecond, or "under 1ms".
func took(d time.Duration) string {
	if d < time.Millisecond {
		return "under 1ms"
	}
	return d.Round(time.Millisecond).String()
}

// poolRows are the pools with their capacity now and, where samples are
// kept, the last 24 hours as a chart.
func (p *Console) poolRows(ctx context.Context, now time.Time) ([]poolRow, string) {
	if p.Pools == nil {
		return nil, ""
	}
	recs, err := p.Pools.List(ctx)
	if err != nil {
		return nil, errText(err)
	}
	rows := make([]poolRow, 0, len(recs))
	for _, rec := range recs {
		r := poolRow{Name: rec.Pool.Name, Status: rec.Status(), TokenID: rec.Pool.TokenID, Min: rec.Pool.MinCapacity, Max: rec.Pool.MaxCapacity,
			Counts: rec.Counts(now)}
		if rec.Demand != nil {
			r.Demand = when(rec.Demand.At, now)
		}
		if p.Activity != nil {
			series := PoolSeries{Pool: rec.Pool.Name}
			if samples, err := p.Activity.PoolSeries(ctx, rec.Pool.Name); err == nil {
				for _, s := range samples {
					series.Samples = append(series.Samples, PoolSample{At: s.At, Desired: s.Desired, Running: s.Running, Pending: s.Pending})
				}
			}
			r.Chart = PoolChart(series, now)
		}
		rows = append(rows, r)
	}
	return rows, ""
}
