package ondemand

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"
)

func TestBundled(t *testing.T) {
	tb, err := Bundled()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.DateOnly, tb.Date()); err != nil {
		t.Errorf("Date() = %q; want YYYY-MM-DD: %v", tb.Date(), err)
	}
	tests := []struct {
		name, region, itype string
		want                float64
		wantOK              bool
	}{
		{name: "m5.large in us-east-1", region: "us-east-1", itype: "m5.large", want: 0.096, wantOK: true},
		{name: "m5a.large in ap-southeast-2", region: "ap-southeast-2", itype: "m5a.large", want: 0.108, wantOK: true},
		{name: "g6.xlarge not sold in eu-west-1", region: "eu-west-1", itype: "g6.xlarge"},
		{name: "unknown type", region: "us-east-1", itype: "m5.gigantic"},
		{name: "GovCloud is not in the table", region: "us-gov-west-1", itype: "m5.large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tb.Price(tt.region, tt.itype)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Price(%s, %s) = %v, %v; want %v, %v", tt.region, tt.itype, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParse(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{name: "good", in: gz(`{"date":"2025-05-28","prices":{"r":{"a.large":0.1,"b.large":0}}}`)},
		{name: "no date", in: gz(`{"prices":{"r":{"a.large":0.1}}}`), wantErr: true},
		{name: "no prices", in: gz(`{"date":"2025-05-28","prices":{}}`), wantErr: true},
		{name: "not gzip", in: []byte(`{"date":"2025-05-28"}`), wantErr: true},
		{name: "not JSON", in: gz(`date=2025`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse: %v; want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if _, ok := tb.Price("r", "b.large"); ok {
				t.Error("a zero price was kept")
			}
			if p, ok := tb.Price("r", "a.large"); !ok || p != 0.1 {
				t.Errorf("Price(r, a.large) = %v, %v", p, ok)
			}
		})
	}
}
