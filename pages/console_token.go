package pages

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// tokenPage is GET /ui/tokens/:id.
type tokenPage struct {
	consolePage
	Info        capability.Info
	Status      string
	Policy      string
	Credentials string
	Created     string
	Expires     string
	Revoked     string
	Rotated     string
	Active      bool
	Tags        []string

	Instances  []instanceView
	Live       int
	HourlyCost float64
	StatusErr  string
	Warnings   []string
	Listed     bool

	Spend    *activity.Spend
	DayCap   float64 // maxHourlySpend × 24: the most a day can cost
	MonthCap float64 // × the month's days
	Events   []eventView
	Activity bool
	EventErr string
}

type eventView struct {
	When, Event, Task, Outcome, Source, Region, Error, Detail, RequestID string
	Instances                                                            string
	Bad                                                                  bool
}

// tokenID reads and checks the :id parameter.
func tokenID(c echo.Context) (string, error) {
	id := c.Param("id")
	if !capability.ValidID(id) {
		return "", apperr.New(apperr.NotFound, "no token has the id %q; the console's token list links to each one", truncateText(id, 40))
	}
	return id, nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Token serves GET /ui/tokens/:id: one token, its instances and its
// recent events.
func (p *Console) Token(c echo.Context) error {
	id, err := tokenID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	info, err := p.Tokens.Get(ctx, id)
	if err != nil {
		return err
	}
	now := p.now()
	v := tokenPage{consolePage: p.page(c, info.Name, "tokens"), Info: info, Status: info.Status(now),
		Policy: policySummary(info), Credentials: credentialText(info.Credentials), Activity: p.Activity != nil}
	v.Active = v.Status == "active"
	v.Created = info.CreatedAt.UTC().Format("2006-01-02 15:04 MST")
	for _, f := range []struct {
		t   *time.Time
		out *string
	}{{info.ExpiresAt, &v.Expires}, {info.RevokedAt, &v.Revoked}, {info.RotatedAt, &v.Rotated}} {
		if f.t != nil {
			*f.out = f.t.UTC().Format("2006-01-02 15:04 MST")
		}
	}
	for k, val := range info.Policy.Tags {
		v.Tags = append(v.Tags, k+"="+val)
	}
	slices.Sort(v.Tags)
	if p.Instances != nil && v.Active {
		res, err := p.Instances(ctx, info)
		var iv view
		iv.setStatus(handlersResult(res), err, now)
		v.Instances, v.Live, v.HourlyCost, v.StatusErr, v.Listed = iv.Instances, iv.Live, iv.HourlyCost, iv.StatusErr, iv.Loaded
		v.Warnings = res.Warnings
	}
	if p.Activity != nil {
		if s, err := p.Activity.SpendOf(ctx, id, now); err == nil {
			v.Spend = &s
		}
		if hc := info.Policy.MaxHourlySpend; hc > 0 {
			v.DayCap = hc * 24
			first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
			v.MonthCap = hc * first.AddDate(0, 1, 0).Sub(first).Hours()
		}
		evs, err := p.Activity.History(ctx, id)
		if err != nil {
			v.EventErr = errText(err)
		}
		for _, e := range evs {
			v.Events = append(v.Events, eventView{When: when(e.At, now), Event: e.Event, Task: e.Task, Outcome: e.Outcome,
				Source: e.Source, Region: e.Region, Error: e.Error, Detail: e.Detail, RequestID: e.RequestID,
				Instances: strings.Join(e.Instances, ", "), Bad: e.Error != "" || e.Outcome == "failed" || e.Outcome == "refused"})
		}
	}
	return p.render(c, http.StatusOK, "console_token.html", v)
}

func tokenURL(id string) string { return consolePath + "/tokens/" + url.PathEscape(id) }

// Revoke serves POST /ui/tokens/:id/revoke.
func (p *Console) Revoke(c echo.Context) error {
	if err := checkSessionCSRF(c); err != nil {
		return err
	}
	id, err := tokenID(c)
	if err != nil {
		return err
	}
	if _, err := p.Tokens.Revoke(c.Request().Context(), id); err != nil {
		return err
	}
	p.audit(c, "revoke", id)
	return c.Redirect(http.StatusSeeOther, tokenURL(id)+"?did=revoked")
}

// Rotate serves POST /ui/tokens/:id/rotate: new AWS credentials for the
// token, typed into the form and sealed at once. Secrets that spotter
// makes (a signing or TOTP secret) are shown once on creation, so their
// rotation stays with the CLI, which can show them: no page renders one.
func (p *Console) Rotate(c echo.Context) error {
	if err := checkSessionCSRF(c); err != nil {
		return err
	}
	id, err := tokenID(c)
	if err != nil {
		return err
	}
	in := api.CredentialsInput{
		AccessKeyID:     strings.TrimSpace(c.FormValue("accessKeyId")),
		SecretAccessKey: strings.TrimSpace(c.FormValue("secretAccessKey")),
		RoleARN:         strings.TrimSpace(c.FormValue("roleArn")),
		ExternalID:      strings.TrimSpace(c.FormValue("externalId")),
	}
	if _, err := p.Tokens.Rotate(c.Request().Context(), id, api.RotateTokenRequest{Credentials: &in}); err != nil {
		return err
	}
	p.audit(c, "rotate", id)
	return c.Redirect(http.StatusSeeOther, tokenURL(id)+"?did=rotated")
}

// audit writes a console action as an audit event: the token's history
// shows it beside its tasks.
func (p *Console) audit(c echo.Context, action, id string) {
	p.Audit.LogAttrs(c.Request().Context(), slog.LevelInfo, "audit", slog.String("event", "console"),
		slog.String("task", action), slog.String("outcome", "ok"), slog.String("token_id", id),
		slog.String("source", "console"), slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
}

func handlersResult(res spot.StatusResult) task.Result { return task.Result{Status: &res} }
