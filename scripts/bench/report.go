package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// report prints the Markdown table: medians of the runs with their range,
// spotter beside the baseline, and the ratios the targets are stated in.
func report(w io.Writer, o options, c calibration, spot, base []result, args []string) {
	var b strings.Builder
	med := func(rs []result, f func(result) float64) (m, lo, hi float64) {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	rate := func(r result) float64 { return r.rate() }
	pct := func(p float64) func(result) float64 {
		return func(r result) float64 { return float64(r.pct(p)) / float64(time.Millisecond) }
	}
	cell := func(rs []result, f func(result) float64, format string) string {
		m, lo, hi := med(rs, f)
		if len(rs) == 1 {
			return fmt.Sprintf(format, m)
		}
		return fmt.Sprintf(format+" ("+format+"–"+format+")", m, lo, hi)
	}
	ratio := func(f func(result) float64) string {
		s, _, _ := med(spot, f)
		bs, _, _ := med(base, f)
		if bs == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", s/bs)
	}
	errs := func(rs []result) string {
		var parts []string
		for _, r := range rs {
			parts = append(parts, r.errors())
		}
		return strings.Join(parts, " / ")
	}

	fmt.Fprintf(&b, "| %d workers × %s, %d runs (median, range) | spotter | baseline | spotter / baseline | target |\n", o.workers, o.duration, len(spot))
	b.WriteString("|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| launches/s | %s | %s | %s | ≥ 1,500/s |\n", cell(spot, rate, "%.0f"), cell(base, rate, "%.0f"), ratio(rate))
	for _, p := range []float64{50, 90, 99} {
		target := ""
		if p == 50 {
			target = "≤ 1.10×"
		}
		fmt.Fprintf(&b, "| p%.0f latency, ms | %s | %s | %s | %s |\n", p, cell(spot, pct(p), "%.1f"), cell(base, pct(p), "%.1f"), ratio(pct(p)), target)
	}
	fmt.Fprintf(&b, "| errors by code (per run) | %s | %s | | |\n", errs(spot), errs(base))
	fmt.Fprintf(&b, "| CPU ms per launch, middle run | %s | %s | | |\n", spot[len(spot)/2].cpuPerLaunch(), base[len(base)/2].cpuPerLaunch())
	fmt.Fprintf(&b, "| calls per hot launch | %d | %d | | |\n", c.spotterHot.total(), c.baseHot.total())
	pr := spot[len(spot)/2].price
	fmt.Fprintf(&b, "| $/vCPU-hour paid (spotter, %d spot instances) | %.5f | cheapest allowed pool with capacity: %.5f (%s) | %.2f× | |\n",
		pr.instances, pr.paidPerVCPU, pr.cheapest, pr.cheapestPool, pr.paidPerVCPU/max(pr.cheapest, 1e-12))

	table := b.String()
	fmt.Fprintln(w)
	fmt.Fprint(w, table)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "One launch (count 1), calls counted by awssim and Vault's audit log:\n")
	fmt.Fprintf(w, "- hot (token seen < 2 s ago): spotter %s\n", c.spotterHot)
	fmt.Fprintf(w, "                              baseline %s\n", c.baseHot)
	fmt.Fprintf(w, "- a token's first launch:     spotter %s\n", c.spotterCold)
	fmt.Fprintf(w, "                              baseline %s\n", c.baseCold)
	fmt.Fprintf(w, "\nPer-second launches, middle spotter run: %v\n", spot[len(spot)/2].perSecond)
	fmt.Fprintf(w, "Per-second launches, middle baseline run: %v\n", base[len(base)/2].perSecond)
	fmt.Fprintf(w, "\nMachine: %s\nDate: %s\n", machine(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Command: scripts/bench.sh %s\n", strings.Join(userArgs(args), " "))
	fmt.Fprintf(w, "Load: launch tasks of count 1 over %s in %s, a fresh Idempotency-Key each, a fresh token every %d launches.\n",
		strings.Join(o.types, ", "), o.region, o.perToken)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(table), 0o644); err != nil {
			fmt.Fprintln(w, "write", o.markdown+":", err)
		}
	}
}

// userArgs drops the -spotter flag scripts/bench.sh adds, so the printed
// command is the one a person typed.
func userArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-spotter" || a == "--spotter":
			i++
		case strings.HasPrefix(a, "-spotter=") || strings.HasPrefix(a, "--spotter="):
		default:
			out = append(out, a)
		}
	}
	return out
}
