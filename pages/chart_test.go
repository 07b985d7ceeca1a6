package pages

import (
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wellFormed fails unless svg parses as XML.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
}

var pointsRE = regexp.MustCompile(`<polyline class="(\w+)"[^>]*points="([^"]*)"`)

// polylines returns each line's points by name.
func polylines(svg string) map[string]string {
	out := map[string]string{}
	for _, m := range pointsRE.FindAllStringSubmatch(svg, -1) {
		out[m[1]] = strings.TrimSpace(m[2])
	}
	return out
}

func TestPoolChart(t *testing.T) {
	end := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// x: 44 + 546·(t−start)/24h; y: 190 − 156·v/peak.
	tests := []struct {
		name        string
		series      PoolSeries
		wantLines   map[string]string
		wantDesc    string
		wantInText  []string
		notInOutput []string
	}{
		{
			name: "a step up at −12h, held to now",
			series: PoolSeries{Pool: "gpu", Samples: []PoolSample{
				{At: end.Add(-24 * time.Hour), Desired: 0, Running: 0, Pending: 0},
				{At: end.Add(-12 * time.Hour), Desired: 4, Running: 2, Pending: 2},
			}},
			wantLines: map[string]string{
				"desired": "44.0,190.0 317.0,190.0 317.0,34.0 590.0,34.0",
				"running": "44.0,190.0 317.0,190.0 317.0,112.0 590.0,112.0",
				"pending": "44.0,190.0 317.0,190.0 317.0,112.0 590.0,112.0",
			},
			wantDesc: "Now: desired 4, running 2, pending 2. Peaks over 24 hours: desired 4, running 2, pending 2.",
		},
		{
			name: "a sample before the window sets the left edge; one after end is left out",
			series: PoolSeries{Pool: "ci", Samples: []PoolSample{
				{At: end.Add(-30 * time.Hour), Desired: 2, Running: 2},
				{At: end.Add(-6 * time.Hour), Desired: 1, Running: 1},
				{At: end.Add(time.Hour), Desired: 99, Running: 99},
			}},
			wantLines: map[string]string{
				"desired": "44.0,34.0 453.5,34.0 453.5,112.0 590.0,112.0",
				"running": "44.0,34.0 453.5,34.0 453.5,112.0 590.0,112.0",
				"pending": "44.0,190.0 453.5,190.0 453.5,190.0 590.0,190.0",
			},
			wantDesc:    "Now: desired 1, running 1, pending 0. Peaks over 24 hours: desired 2, running 2, pending 0.",
			notInOutput: []string{"99"},
		},
		{
			name:        "no samples",
			series:      PoolSeries{Pool: "idle"},
			wantLines:   map[string]string{},
			wantDesc:    "No samples in the last 24 hours.",
			wantInText:  []string{"no samples in the last 24 hours"},
			notInOutput: []string{"<polyline"},
		},
		{
			name:        "a pool name is escaped",
			series:      PoolSeries{Pool: `<script>alert("x")</script>`, Samples: []PoolSample{{At: end, Desired: 1}}},
			wantInText:  []string{`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`},
			notInOutput: []string{"<script"},
			wantDesc:    "Now: desired 1, running 0, pending 0. Peaks over 24 hours: desired 1, running 0, pending 0.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := string(PoolChart(tt.series, end))
			wellFormed(t, svg)
			if tt.wantLines != nil {
				got := polylines(svg)
				if len(got) != len(tt.wantLines) {
					t.Errorf("lines %v; want %v", got, tt.wantLines)
				}
				for name, want := range tt.wantLines {
					if got[name] != want {
						t.Errorf("%s points = %q; want %q", name, got[name], want)
					}
				}
			}
			if !strings.Contains(svg, ">"+tt.wantDesc+"</desc>") {
				t.Errorf("desc is not %q:\n%s", tt.wantDesc, svg)
			}
			for _, s := range tt.wantInText {
				if !strings.Contains(svg, s) {
					t.Errorf("no %q in\n%s", s, svg)
				}
			}
			for _, s := range tt.notInOutput {
				if strings.Contains(svg, s) {
					t.Errorf("%q in\n%s", s, svg)
				}
			}
			// The axis reads −24h … now; the role and labels make it an image with a name.
			for _, s := range []string{`role="img"`, ">−24h<", ">−12h<", ">now<", `aria-labelledby="chart-`} {
				if !strings.Contains(svg, s) {
					t.Errorf("no %q", s)
				}
			}
		})
	}
}

// TestPoolChartYTicks: an odd peak gets no half-instance tick.
func TestPoolChartYTicks(t *testing.T) {
	end := time.Now()
	for _, tt := range []struct {
		peak int
		want []string
	}{
		{1, []string{">0<", ">1<"}},
		{3, []string{">0<", ">3<"}},
		{4, []string{">0<", ">2<", ">4<"}},
	} {
		svg := string(PoolChart(PoolSeries{Pool: "p", Samples: []PoolSample{{At: end, Desired: tt.peak}}}, end))
		ticks := regexp.MustCompile(`<text x="38" y="[0-9.]+">(\d+)<`).FindAllStringSubmatch(svg, -1)
		var got []string
		for _, m := range ticks {
			got = append(got, ">"+m[1]+"<")
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("peak %d: y ticks %v; want %v", tt.peak, got, tt.want)
		}
	}
}
