package pages

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// Capability serves the page behind one capability URL. Every read and
// every form is a task run by Tasks.PageTask, so the page can do exactly
// what a POST of the same task could, and nothing more.
type Capability struct {
	*Pages
	Tasks handlers.TaskDeps
	// Activity, if set, gives the token's estimated spend today and this
	// month (sampled by the reaper), shown against its hourly cap.
	Activity *activity.Activity
}

// pagePath is the capability URL's path.
func pagePath(raw string) string { return "/hooks/" + url.PathEscape(raw) }

// View serves GET /hooks/:token to a browser. Anything else asking GET is
// told to POST a task, as before the page existed.
func (p Capability) View(c echo.Context) error {
	if !WantsHTML(c.Request()) {
		c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
		return echo.ErrMethodNotAllowed
	}
	raw := c.Param("token")
	tok, err := p.Tasks.Tokens.Authenticate(c.Request().Context(), raw)
	if err != nil {
		return err
	}
	v := p.newView(c, raw, tok.Info)
	v.Notice = notice(c.QueryParams())
	p.load(c, raw, &v, true)
	p.spend(c, tok.Info.ID, &v)
	return p.render(c, http.StatusOK, "capability.html", v)
}

// Poll serves GET /hooks/:token/page: the instances section, rendered by
// the same template as the page, for the script to swap in while
// instances boot.
func (p Capability) Poll(c echo.Context) error {
	raw := c.Param("token")
	tok, err := p.Tasks.Tokens.Authenticate(c.Request().Context(), raw)
	if err != nil {
		return err
	}
	v := p.newView(c, raw, tok.Info)
	p.load(c, raw, &v, false)
	var b strings.Builder
	if err := p.tmpl.ExecuteTemplate(&b, "instances", v); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"html": b.String(), "busy": v.Busy})
}

// load fills the instances (and, on the full page, the prices) by running
// status and price as tasks, unless the token needs what a page view
// cannot give: a one-time code (MFA) or a body signature.
func (p Capability) load(c echo.Context, raw string, v *view, prices bool) {
	if v.ReadOnly || v.MFA {
		return
	}
	if v.Can.Status {
		// The page shows a token's whole world, so it asks for EC2's largest
		// page rather than status's default of 100; a token past 1,000 live
		// instances is the CLI's (--cursor), not a phone's.
		limit := spot.StatusMaxPage
		res, err := p.Tasks.PageTask(c, raw, task.Task{TaskRequest: api.TaskRequest{Task: api.TaskStatus, Limit: &limit}})
		v.setStatus(res, err, p.now())
	}
	if prices && v.Can.Price {
		res, err := p.Tasks.PageTask(c, raw, task.Task{TaskRequest: api.TaskRequest{Task: api.TaskPrice}})
		v.setPrices(res, err)
	}
}

// spend adds the token's spend, where the page shows what it runs: a
// token with MFA shows it, as its instances, only behind a code.
func (p Capability) spend(c echo.Context, tokenID string, v *view) {
	if p.Activity == nil || (v.MFA && !v.Shown) {
		return
	}
	now := p.now()
	s, err := p.Activity.SpendOf(c.Request().Context(), tokenID, now)
	if err != nil {
		return // a glance, not the page's purpose: leave it out
	}
	v.Spend = &s
	if hc := v.MaxHourlySpend; hc > 0 {
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		v.DayCap, v.MonthCap = hc*24, hc*first.AddDate(0, 1, 0).Sub(first).Hours()
	}
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// Act serves POST /hooks/:token/page, the page's forms: launch,
// terminate, extend, and status (a view that needs an MFA code). A state change
// answers with a redirect to the page (POST/redirect/GET), so reloading
// never repeats it.
func (p Capability) Act(c echo.Context) error {
	raw := c.Param("token")
	if err := checkCSRF(c); err != nil {
		return err
	}
	t, err := formTask(c)
	if err != nil {
		return err
	}
	res, err := p.Tasks.PageTask(c, raw, t)
	if err != nil {
		return err
	}
	back := pagePath(raw)
	switch {
	case res.Launch != nil && res.Launch.DryRun:
		return c.Redirect(http.StatusSeeOther, back+"?did=dryrun&n="+strconv.Itoa(*t.Count)+"&cost="+strconv.FormatFloat(res.Launch.HourlyCost.Dollars(), 'f', 4, 64))
	case res.Launch != nil:
		return c.Redirect(http.StatusSeeOther, back+"?did=launched&n="+strconv.Itoa(len(res.Launch.Instances)))
	case res.Extend != nil:
		if len(res.Extend.Refused) > 0 {
			r := res.Extend.Refused[0]
			return apperr.New(apperr.Forbidden, "%s was not extended: %s", r.ID, r.Reason)
		}
		return c.Redirect(http.StatusSeeOther, back+"?did=extended&n="+strconv.Itoa(len(res.Extend.Extended)))
	case res.Terminate != nil:
		if len(res.Terminate.Refused) > 0 {
			r := res.Terminate.Refused[0]
			return apperr.New(apperr.Forbidden, "%s was not terminated (%s): a capability page reaches only its own token's instances", r.ID, r.Reason)
		}
		return c.Redirect(http.StatusSeeOther, back+"?did=terminated&n="+strconv.Itoa(len(res.Terminate.Terminated)))
	case res.Status != nil:
		// A read that spent a one-time code: shown here, not redirected.
		tok, err := p.Tasks.Tokens.Authenticate(c.Request().Context(), raw)
		if err != nil {
			return err
		}
		v := p.newView(c, raw, tok.Info)
		v.setStatus(res, nil, p.now())
		v.Shown = true
		p.spend(c, tok.Info.ID, &v)
		return p.render(c, http.StatusOK, "capability.html", v)
	}
	return apperr.New(apperr.Invalid, "task: the page's forms launch, terminate, extend or show status")
}

// formTask reads a page form into a task. Only what the form offers is
// read; the guard checks every value against the policy.
func formTask(c echo.Context) (task.Task, error) {
	t := task.Task{TaskRequest: api.TaskRequest{Task: c.FormValue("task"), MFACode: strings.TrimSpace(c.FormValue("mfa"))}}
	switch t.Task {
	case api.TaskLaunch:
		key := c.FormValue("key")
		if !keyRE.MatchString(key) {
			return t, apperr.New(apperr.Invalid, "key: the launch form's one-time key is missing; reload the page and launch again")
		}
		// One key per rendered form: a double-click or a resubmitted form is the same launch.
		t.IdempotencyKey = "page:" + key
		if typ := c.FormValue("type"); typ != "" {
			t.InstanceTypes = []string{typ}
		}
		n := 1
		t.Count = &n
		if s := c.FormValue("count"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return t, apperr.New(apperr.Invalid, "count: %q is not a whole number of instances", s)
			}
			t.Count = &n
		}
		t.TTL = c.FormValue("ttl")
		if c.FormValue("dryrun") != "" {
			t.DryRun = true
		}
	case api.TaskTerminate:
		if c.FormValue("all") != "" {
			t.All = true
		} else if id := c.FormValue("id"); id != "" {
			t.InstanceIDs = []string{id}
		}
	case api.TaskExtend:
		t.TTL = c.FormValue("ttl")
		if id := c.FormValue("id"); id != "" {
			t.InstanceIDs = []string{id}
		}
	case api.TaskStatus:
	default:
		return t, apperr.New(apperr.Invalid, "task: the page's forms launch, terminate, extend or show status, not %q", t.Task)
	}
	return t, nil
}

// notice is the line the page shows after a form's redirect. Only numbers
// are read from the query: no text from a URL reaches the page.
func notice(q url.Values) string {
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		n = 0
	}
	switch q.Get("did") {
	case "launched":
		return fmt.Sprintf("Launched %d instance(s). They appear below as they boot.", n)
	case "dryrun":
		cost, err := strconv.ParseFloat(q.Get("cost"), 64)
		if err != nil || cost < 0 {
			return fmt.Sprintf("Dry run passed: %d instance(s) would launch. Nothing was started.", n)
		}
		return fmt.Sprintf("Dry run passed: %d instance(s) would launch at about $%.4f/h. Nothing was started.", n, cost)
	case "terminated":
		return fmt.Sprintf("Terminating %d instance(s).", n)
	case "extended":
		return fmt.Sprintf("Extended %d instance(s); the new stop time shows below.", n)
	}
	return ""
}

// errText is what the page shows of a failed read: the code and the
// details a person can act on (never an internal error's text).
func errText(err error) string {
	if err == nil {
		return ""
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return http.StatusText(he.Code)
	}
	if d := apperr.Details(err); d != "" {
		return apperr.Code(err) + ": " + d
	}
	return apperr.Code(err)
}
