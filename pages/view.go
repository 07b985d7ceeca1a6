package pages

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// view is what capability.html renders. Everything in it is public
// information about the token (no key, no secret) or what its own tasks
// returned; html/template escapes all of it (names and tags are user input).
type view struct {
	Name    string
	Path    string // the capability URL's path: form actions, links
	CSRF    string
	Key     string // the launch form's idempotency key
	Notice  string
	Expires string

	MFA      bool
	MFADesc  string
	ReadOnly bool // the token requires signed bodies: a browser cannot send them
	Shown    bool // instances were shown by a status form (MFA)

	Can struct{ Launch, Terminate, Status, Price, Extend bool }

	Regions, Types               []string
	MaxCount, MaxRunning         int
	MaxPrice, MaxHourlySpend     float64
	DefaultTTL, MaxTTL           string
	DryRunOnly, OnDemandFallback bool
	Tags                         []string

	Choices struct {
		Types  []string
		Counts []int
		TTLs   []ttlChoice
	}

	Loaded     bool // status ran
	Instances  []instanceView
	Live       int
	HourlyCost float64
	StatusErr  string
	Busy       bool // something is booting or stopping: poll sooner
	// Sig names each instance and its state: the script swaps the section
	// in only when it changed, so a focused button is not pulled away.
	Sig string

	Prices   []spot.PriceQuote
	PriceErr string

	maxTTL time.Duration // the policy's, for the extend choices

	// Spend is the token's estimated spend (nil: not shown); DayCap and
	// MonthCap are what maxHourlySpend allows in a day and this month.
	Spend            *activity.Spend
	DayCap, MonthCap float64
}

type ttlChoice struct {
	Value, Label string
	Selected     bool
}

type instanceView struct {
	ID, Type, AZ, State, Lifecycle, IP string
	Expires                            string // RFC 3339, for the script's countdown
	TTLLeft                            string
	Cost                               float64
	Price                              float64
	Live                               bool
	Reason                             string
	// ExtendTo are the TTLs (from launch) an extend may set: longer than
	// the instance's now, up to maxTTL.
	ExtendTo []string
}

func (p Capability) newView(c echo.Context, raw string, info capability.Info) view {
	pol := policy.Policy(info.Policy) // with its rules (Allows)
	v := view{
		Name: info.Name, Path: pagePath(raw),
		Regions: pol.Regions, Types: pol.InstanceTypes,
		MaxCount: pol.MaxCount, MaxRunning: pol.MaxRunning, MaxPrice: pol.MaxPrice, MaxHourlySpend: pol.MaxHourlySpend,
		DefaultTTL: short(time.Duration(pol.DefaultTTL)), MaxTTL: short(time.Duration(pol.MaxTTL)),
		DryRunOnly: pol.DryRunOnly, OnDemandFallback: pol.OnDemandFallback,
		ReadOnly: info.RequireSignature, Key: newRandom(),
	}
	v.CSRF = ensureCSRF(c, v.Path)
	if info.ExpiresAt != nil {
		v.Expires = info.ExpiresAt.UTC().Format("2006-01-02 15:04 MST")
	}
	switch info.MFA.Type {
	case api.MFATOTP:
		v.MFA, v.MFADesc = true, "the 6-digit code from your authenticator app"
	case api.MFAAWS:
		v.MFA, v.MFADesc = true, "the 6-digit code of MFA device "+info.MFA.SerialNumber
	}
	v.Can.Launch, v.Can.Terminate = pol.Allows(api.TaskLaunch), pol.Allows(api.TaskTerminate)
	v.Can.Status, v.Can.Price = pol.Allows(api.TaskStatus), pol.Allows(api.TaskPrice)
	v.Can.Extend = pol.Allows(api.TaskExtend)
	v.maxTTL = time.Duration(pol.MaxTTL)
	for k, val := range pol.Tags {
		v.Tags = append(v.Tags, k+"="+val)
	}
	slices.Sort(v.Tags)
	for _, t := range pol.InstanceTypes {
		if !strings.ContainsAny(t, "*?[") {
			v.Choices.Types = append(v.Choices.Types, t)
		}
	}
	for n := 1; n <= min(pol.MaxCount, 20); n++ {
		v.Choices.Counts = append(v.Choices.Counts, n)
	}
	v.Choices.TTLs = ttlChoices(time.Duration(pol.DefaultTTL), time.Duration(pol.MaxTTL))
	return v
}

// ttlChoices are round TTLs up to the policy's maximum, with its default
// (preselected) among them.
func ttlChoices(def, max time.Duration) []ttlChoice {
	set := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	if def > 0 && !slices.Contains(set, def) {
		set = append(set, def)
		slices.Sort(set)
	}
	var out []ttlChoice
	for _, d := range set {
		if max > 0 && d > max {
			continue
		}
		out = append(out, ttlChoice{Value: short(d), Label: short(d), Selected: d == def})
	}
	return out
}

func (v *view) setStatus(res task.Result, err error, now time.Time) {
	if err != nil || res.Status == nil {
		v.StatusErr = errText(err)
		return
	}
	v.Loaded = true
	v.HourlyCost = res.Status.HourlyCost.Dollars()
	for _, in := range res.Status.Instances {
		iv := instanceView{ID: in.ID, Type: in.Type, AZ: in.AZ, State: in.State, Lifecycle: in.Lifecycle,
			Cost: in.CostSoFar.Dollars(), Price: in.Price.Dollars(), Reason: in.StateReason}
		iv.Live = in.State == "pending" || in.State == "running"
		if in.State == "running" {
			iv.IP = in.PublicIP
			if iv.IP == "" {
				iv.IP = in.PrivateIP
			}
		}
		if iv.Live && !in.ExpiresAt.IsZero() {
			iv.Expires = in.ExpiresAt.UTC().Format(time.RFC3339)
			iv.TTLLeft = countdown(in.ExpiresAt.Sub(now))
			if v.Can.Extend && !in.LaunchTime.IsZero() {
				// To the minute: the expiry tag and EC2's launch time come
				// from two clocks, a second or so apart.
				iv.ExtendTo = extendChoices(in.ExpiresAt.Sub(in.LaunchTime).Round(time.Minute), in.ExpiresAt.Sub(now), v.maxTTL)
			}
		}
		if iv.Live {
			v.Live++
		}
		if in.State == "pending" || in.State == "shutting-down" || in.State == "stopping" {
			v.Busy = true
		}
		v.Instances = append(v.Instances, iv)
		v.Sig += in.ID + ":" + in.State + ";"
	}
}

func (v *view) setPrices(res task.Result, err error) {
	if err != nil || res.Price == nil {
		v.PriceErr = errText(err)
		return
	}
	for i, q := range res.Price.Quotes {
		if i == 5 {
			break
		}
		v.Prices = append(v.Prices, q)
	}
}

// extendChoices are round TTLs longer than the instance's TTL now (cur),
// up to and with max, that leave it alive (each adds to left).
func extendChoices(cur, left, max time.Duration) []string {
	var out []string
	for _, c := range ttlChoices(0, max) {
		if d, err := time.ParseDuration(c.Value); err == nil && d > cur && d-cur+left > 0 {
			out = append(out, c.Value)
		}
	}
	if max > cur && (len(out) == 0 || out[len(out)-1] != short(max)) {
		out = append(out, short(max))
	}
	return out
}

// countdown writes a TTL left as "1h 04m" or "3m 09s".
func countdown(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%dh %02dm", h, m)
	}
	return fmt.Sprintf("%dm %02ds", m, s)
}

// short writes 1h rather than time.Duration's 1h0m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var funcs = template.FuncMap{
	"dollars": dollars,
	"pct":     func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
}

// dollars writes a price or cost to the hundredth of a cent.
func dollars(v any) string {
	switch v := v.(type) {
	case money.USD:
		return fmt.Sprintf("$%.4f", v.Dollars())
	case float64:
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprint(v)
}
