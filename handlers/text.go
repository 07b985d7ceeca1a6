package handlers

import (
	"fmt"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// Replies for people (chat, SMS, e-mail): short lines, most important
// first, no secret, no code. The JSON reply stays the full record.

const maxListed = 10 // instances or prices named in one text reply

// summarize says what a task did in a few lines.
func summarize(g task.Guarded, res task.Result) string {
	var lines []string
	switch {
	case res.Launch != nil:
		lines = launchText(g, res.Launch)
	case res.Terminate != nil:
		lines = terminateText(res.Terminate)
	case res.Status != nil:
		lines = statusText(g, res.Status)
	case res.Price != nil:
		lines = priceText(g, res.Price)
	case res.Cancel != nil:
		lines = []string{fmt.Sprintf("Cancelled %d open spot request(s).", len(res.Cancel.Cancelled))}
	case res.Extend != nil:
		lines = []string{fmt.Sprintf("Extended %d instance(s) to a TTL of %s.", len(res.Extend.Extended), g.Req.TTL)}
		for _, r := range res.Extend.Refused {
			lines = append(lines, fmt.Sprintf("Not %s: %s.", r.ID, r.Reason))
		}
	}
	for _, w := range append(append([]string{}, g.Task.Warnings...), warningsOf(res)...) {
		lines = append(lines, "Note: "+w)
	}
	return strings.Join(lines, "\n")
}

func warningsOf(res task.Result) []string {
	switch {
	case res.Launch != nil:
		return res.Launch.Warnings
	case res.Status != nil:
		return res.Status.Warnings
	case res.Price != nil:
		return res.Price.Warnings
	}
	return nil
}

func launchText(g task.Guarded, r *spot.LaunchResult) []string {
	if r.DryRun {
		n := g.Req.Count
		if n == 0 {
			n = 1
		}
		return []string{fmt.Sprintf("Dry run in %s: %d instance(s) would launch, about $%s/h. Nothing was started.", g.Region, n, r.HourlyCost)}
	}
	head := "Launched"
	if r.Replayed {
		head = "Already launched by this same request"
	}
	lines := []string{fmt.Sprintf("%s %d instance(s) in %s, $%s/h:", head, len(r.Instances), g.Region, r.HourlyCost)}
	return append(lines, instanceLines(r.Instances)...)
}

func instanceLines(ins []spot.Instance) []string {
	var lines []string
	for i, in := range ins {
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("…and %d more", len(ins)-maxListed))
			break
		}
		l := in.ID + " " + in.Type
		if in.State != "" {
			l += " " + in.State
		}
		if in.Lifecycle == "on-demand" {
			l += " (on-demand)"
		}
		if !in.ExpiresAt.IsZero() {
			l += " until " + in.ExpiresAt.UTC().Format("Jan 2 15:04 UTC")
		}
		lines = append(lines, l)
	}
	return lines
}

func terminateText(r *spot.TerminateResult) []string {
	var lines []string
	if len(r.Terminated) == 0 {
		lines = append(lines, "Nothing to terminate.")
	} else {
		lines = append(lines, "Terminated "+strings.Join(r.Terminated, ", ")+".")
	}
	for _, ref := range r.Refused {
		lines = append(lines, "Refused "+ref.ID+": "+ref.Reason+".")
	}
	return lines
}

func statusText(g task.Guarded, r *spot.StatusResult) []string {
	live := make([]spot.Instance, 0, len(r.Instances))
	for _, in := range r.Instances {
		if in.State == "pending" || in.State == "running" {
			live = append(live, in)
		}
	}
	if len(live) == 0 {
		return []string{"No instances running in " + g.Region + "."}
	}
	lines := []string{fmt.Sprintf("%d instance(s) in %s, $%s/h:", len(live), g.Region, r.HourlyCost)}
	for i, in := range live {
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("…and %d more", len(live)-maxListed))
			break
		}
		l := in.ID + " " + in.Type + " " + in.State
		if in.TTLLeftSeconds > 0 {
			l += ", " + (time.Duration(in.TTLLeftSeconds) * time.Second).Round(time.Minute).String() + " left"
		}
		lines = append(lines, l)
	}
	return lines
}

func priceText(g task.Guarded, r *spot.PriceResult) []string {
	if len(r.Quotes) == 0 {
		return []string{"No spot prices for those types in " + g.Region + "."}
	}
	lines := []string{"Spot prices in " + g.Region + ", cheapest first:"}
	for i, q := range r.Quotes {
		if i == 5 {
			break
		}
		l := fmt.Sprintf("%s %s $%s/h", q.Type, q.AZ, q.Spot)
		if q.SavingPct > 0 {
			l += fmt.Sprintf(" (-%.0f%%)", q.SavingPct)
		}
		lines = append(lines, l)
	}
	return lines
}

// humanError says why a task did not run, for a person. Internal faults
// name only the request id: their cause is in the log.
func humanError(err error, requestID string) string {
	if n, ok := task.AsNotice(err); ok {
		return n.Text
	}
	code, details := apperr.Code(err), apperr.Details(err)
	switch {
	case code == apperr.Internal || details == "":
		return "Something went wrong on spotter's side (request " + requestID + ")."
	case code == apperr.PolicyDenied:
		return "Not allowed: " + details
	case code == apperr.MFARequired:
		return "This token needs an MFA code: add \"code\" and the six digits to the command."
	case strings.HasPrefix(code, "mfa_"):
		return "MFA: " + details
	case code == apperr.Invalid:
		return details
	}
	return "Failed (" + code + "): " + details
}
