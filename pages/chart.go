package pages

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// PoolSample is a pool's capacity at one moment: what the pool wants, what
// runs, what is still booting.
type PoolSample struct {
	At                        time.Time
	Desired, Running, Pending int
}

// PoolSeries is one pool's samples, oldest first.
type PoolSeries struct {
	Pool    string
	Samples []PoolSample
}

// ChartWindow is how far back a pool chart reaches.
const ChartWindow = 24 * time.Hour

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH         = 600, 220
	plotL, plotR           = 44, 590
	plotTop, plotBottom    = 34, 190
	chartTicks             = 4 // x ticks: every 6 h over 24 h
	chartFont              = 12
	chartLegendY, chartLbl = 16, 206
)

// chartLine is how one quantity is drawn: colour and dashes, so the lines
// differ for a reader who cannot tell the colours apart.
type chartLine struct {
	name, colour, dash string
	value              func(PoolSample) int
}

var chartLines = []chartLine{
	{"desired", "#1f6fd1", "", func(s PoolSample) int { return s.Desired }},
	{"running", "#1e8a3c", "8 4", func(s PoolSample) int { return s.Running }},
	{"pending", "#c2410c", "2 4", func(s PoolSample) int { return s.Pending }},
}

// PoolChart draws the 24 hours of s up to end as an inline SVG: desired,
// running and pending as step lines (capacity changes in steps), with a
// title and a description that say the same in words for a screen
// reader. A sample before the window gives the value at its left edge;
// samples after end are left out. Everything from the series is escaped.
func PoolChart(s PoolSeries, end time.Time) template.HTML {
	start := end.Add(-ChartWindow)
	var in []PoolSample
	var before *PoolSample
	for i, smp := range s.Samples {
		switch {
		case smp.At.After(end):
		case smp.At.Before(start):
			before = &s.Samples[i]
		default:
			in = append(in, smp)
		}
	}
	if before != nil {
		edge := *before
		edge.At = start
		in = append([]PoolSample{edge}, in...)
	}
	peak := 1
	for _, smp := range in {
		peak = max(peak, smp.Desired, smp.Running, smp.Pending)
	}
	x := func(t time.Time) float64 {
		return plotL + (plotR-plotL)*float64(t.Sub(start))/float64(ChartWindow)
	}
	y := func(v int) float64 {
		return plotBottom - (plotBottom-plotTop)*float64(v)/float64(peak)
	}
	sum := sha256.Sum256([]byte(s.Pool))
	id := "chart-" + hex.EncodeToString(sum[:6])
	name := html.EscapeString(s.Pool)

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" font-size="%d" font-family="sans-serif">`,
		chartW, chartH, id, id, chartFont)
	p(`<title id="%s-t">%s: desired, running and pending capacity over the last 24 hours</title>`, id, name)
	p(`<desc id="%s-d">%s</desc>`, id, html.EscapeString(chartSummary(in)))
	// Axes and grid, in the text colour of the page (light or dark).
	p(`<g stroke="currentColor" stroke-opacity="0.35" stroke-width="1">`)
	for i := 0; i <= 2; i++ {
		v := peak * i / 2
		if i == 1 && peak%2 != 0 {
			continue // no half-instance tick
		}
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, plotL, y(v), plotR, y(v))
	}
	p(`</g><g fill="currentColor" text-anchor="end">`)
	for i := 0; i <= 2; i++ {
		v := peak * i / 2
		if i == 1 && peak%2 != 0 {
			continue
		}
		p(`<text x="%d" y="%.1f">%d</text>`, plotL-6, y(v)+4, v)
	}
	p(`</g><g fill="currentColor" text-anchor="middle">`)
	for i := 0; i <= chartTicks; i++ {
		t := start.Add(time.Duration(i) * ChartWindow / chartTicks)
		label := "now"
		if i < chartTicks {
			label = fmt.Sprintf("−%dh", int(end.Sub(t).Hours()))
		}
		p(`<text x="%.1f" y="%d">%s</text>`, x(t), chartLbl, label)
	}
	p(`</g>`)
	// Legend.
	for i, l := range chartLines {
		lx := plotL + i*120
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>`, lx, chartLegendY-4, lx+24, chartLegendY-4, l.colour, dashAttr(l.dash))
		p(`<text x="%d" y="%d" fill="currentColor">%s</text>`, lx+30, chartLegendY, l.name)
	}
	if len(in) == 0 {
		p(`<text x="%d" y="%d" fill="currentColor" text-anchor="middle">no samples in the last 24 hours</text>`, (plotL+plotR)/2, (plotTop+plotBottom)/2)
	}
	for _, l := range chartLines {
		if len(in) == 0 {
			break
		}
		p(`<polyline class="%s" fill="none" stroke="%s" stroke-width="2"%s points="`, l.name, l.colour, dashAttr(l.dash))
		for i, smp := range in {
			if i > 0 {
				p("%.1f,%.1f ", x(smp.At), y(l.value(in[i-1])))
			}
			p("%.1f,%.1f ", x(smp.At), y(l.value(smp)))
		}
		p(`%.1f,%.1f"/>`, x(end), y(l.value(in[len(in)-1])))
	}
	p(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text only
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return ` stroke-dasharray="` + d + `"`
}

// chartSummary is the chart in words.
func chartSummary(in []PoolSample) string {
	if len(in) == 0 {
		return "No samples in the last 24 hours."
	}
	last := in[len(in)-1]
	pd, pr, pp := 0, 0, 0
	for _, s := range in {
		pd, pr, pp = max(pd, s.Desired), max(pr, s.Running), max(pp, s.Pending)
	}
	return fmt.Sprintf("Now: desired %d, running %d, pending %d. Peaks over 24 hours: desired %d, running %d, pending %d.",
		last.Desired, last.Running, last.Pending, pd, pr, pp)
}
