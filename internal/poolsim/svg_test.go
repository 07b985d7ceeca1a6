package poolsim

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestWriteSVG(t *testing.T) {
	tests := map[string]struct {
		results   []Result
		polylines int
	}{
		"no results": {polylines: 0},
		"two controllers": {results: []Result{
			{Controller: "a", Samples: []Sample{{At: 0, Pending: 3}, {At: time.Hour, Desired: 5, RunningJobs: 4}}},
			{Controller: "b & c", Samples: []Sample{{At: time.Minute, Pending: 1}}},
		}, polylines: 6},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteSVG(&buf, tc.results); err != nil {
				t.Fatal(err)
			}
			d := xml.NewDecoder(strings.NewReader(buf.String()))
			lines := 0
			for {
				tok, err := d.Token()
				if err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
					}
					break
				}
				if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
					lines++
				}
			}
			if lines != tc.polylines {
				t.Errorf("%d polylines; want %d", lines, tc.polylines)
			}
		})
	}
}
