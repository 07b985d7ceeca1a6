package handlers

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/policy"
)

// A body's maxPrice must be a finite price above 0 and at most the hard
// ceiling, in the native and the wt-spotter body alike, before MFA is asked.
func TestTaskMaxPriceBounds(t *testing.T) {
	ceiling := "1000"
	if policy.MaxPriceCeiling != 1000 {
		t.Fatalf("MaxPriceCeiling = %g; this test names 1000", policy.MaxPriceCeiling)
	}
	tests := map[string]struct {
		price string
		ok    bool
	}{
		"number":           {price: `0.05`, ok: true},
		"string":           {price: `"0.05"`, ok: true},
		"at the ceiling":   {price: ceiling, ok: true},
		"past the ceiling": {price: `1000.000001`},
		"1e308":            {price: `1e308`},
		"Inf string":       {price: `"Inf"`},
		"-Inf string":      {price: `"-Inf"`},
		"infinity string":  {price: `"infinity"`},
		"NaN string":       {price: `"NaN"`},
		"overflow":         {price: `"1e400"`},
		"negative":         {price: `-0.01`},
		"zero":             {price: `0`},
		"zero string":      {price: `"0"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			for shape, body := range map[string]string{
				"native":     `{"task":"launch","maxPrice":` + tt.price + `}`,
				"wt-spotter": `{"attributes":{"type":"t3.micro","price":` + tt.price + `}}`,
			} {
				task, err := decodeTask([]byte(body))
				if tt.ok {
					if err != nil {
						t.Fatalf("%s: decode = %v", shape, err)
					}
					continue
				}
				if apperr.Code(err) != apperr.Invalid {
					t.Fatalf("%s: decode = %+v, %v; want invalid_request", shape, task, err)
				}
				if d := apperr.Details(err); !strings.Contains(d, "price") {
					t.Errorf("%s: details %q do not name the price", shape, d)
				}
			}
		})
	}
}
