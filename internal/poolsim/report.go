package poolsim

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// Row is a Result reduced to the report's figures.
type Row struct {
	Controller          string
	P50, P95, Max       time.Duration
	InstanceHours       float64
	Dollars, Floor      float64
	IdleFraction        float64
	Launches, Interrupt int
	LostJobMinutes      float64
	Unfinished          int
}

// Summarize reduces r.
func (r Result) Summarize() Row {
	w := append([]time.Duration(nil), r.Waits...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	q := func(p float64) time.Duration {
		if len(w) == 0 {
			return 0
		}
		return w[min(len(w)-1, int(p*float64(len(w))))]
	}
	row := Row{
		Controller: r.Controller, P50: q(0.5), P95: q(0.95),
		InstanceHours: r.InstanceTime.Hours(),
		Dollars:       r.InstanceTime.Hours() * r.Price,
		Floor:         r.FloorTime.Hours() * r.Price,
		Launches:      r.Launches, Interrupt: r.Interruptions,
		LostJobMinutes: r.LostJobTime.Minutes(), Unfinished: r.Unfinished,
	}
	if len(w) > 0 {
		row.Max = w[len(w)-1]
	}
	if r.CapacityTime > 0 {
		row.IdleFraction = 1 - float64(r.BusyTime)/float64(r.CapacityTime)
	}
	return row
}

// WriteTable prints rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| controller | wait p50 | wait p95 | wait max | instance-h | $ | × floor | idle | launches | interrupted | lost job-min | unfinished |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %v | %v | %v | %.1f | %.2f | %.2f× | %.0f %% | %d | %d | %.0f | %d |\n",
			r.Controller, r.P50.Round(time.Second), r.P95.Round(time.Second), r.Max.Round(time.Second),
			r.InstanceHours, r.Dollars, r.Dollars/r.Floor, 100*r.IdleFraction, r.Launches, r.Interrupt, r.LostJobMinutes, r.Unfinished)
	}
}
