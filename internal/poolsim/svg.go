package poolsim

import (
	"fmt"
	"html"
	"io"
	"time"
)

// WriteSVG draws each result's pending jobs, desired capacity and running
// jobs over the day, one panel per controller, on a shared y scale.
func WriteSVG(w io.Writer, results []Result) error {
	const width, panel, left, top = 960, 180, 50, 24
	height := top + len(results)*(panel+30)
	var span time.Duration
	peak := 1
	for _, r := range results {
		for _, s := range r.Samples {
			span = max(span, s.At)
			peak = max(peak, s.Pending, s.Desired, s.RunningJobs)
		}
	}
	if span == 0 {
		span = 24 * time.Hour
	}
	x := func(at time.Duration) float64 { return left + float64(width-left-10)*float64(at)/float64(span) }
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	p(`<text x="%d" y="14">pending (red), desired (blue), running jobs (green); hours since local midnight; y up to %d</text>`+"\n", left, peak)
	for i, r := range results {
		base := float64(top + i*(panel+30) + panel)
		y := func(v int) float64 { return base - float64(panel)*float64(v)/float64(peak) }
		p(`<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, base-float64(panel)+12, html.EscapeString(r.Controller))
		p(`<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#999"/>`+"\n", left, base, width-10, base)
		for h := time.Duration(0); h <= span; h += 3 * time.Hour {
			p(`<text x="%.0f" y="%.0f" text-anchor="middle">%d</text>`+"\n", x(h), base+12, int(h.Hours()))
		}
		for _, series := range []struct {
			colour string
			v      func(Sample) int
		}{
			{"#d62728", func(s Sample) int { return s.Pending }},
			{"#1f77b4", func(s Sample) int { return s.Desired }},
			{"#2ca02c", func(s Sample) int { return s.RunningJobs }},
		} {
			p(`<polyline fill="none" stroke="%s" stroke-width="1" points="`, series.colour)
			for _, s := range r.Samples {
				p("%.1f,%.1f ", x(s.At), y(series.v(s)))
			}
			p("\"/>\n")
		}
	}
	_, err := fmt.Fprintln(w, "</svg>")
	return err
}
