package awssim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkLoadCatalog is the catalogue's share of a cold start: gunzip
// and decode the embedded file, as the first New in a process does.
func BenchmarkLoadCatalog(b *testing.B) {
	for b.Loop() {
		if _, err := loadCatalog(catalogGz); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewSimCold is start → ready for a process's first Sim: load the
// catalogue, build every region, answer one DescribeInstanceTypes. The
// target is 150 ms.
func BenchmarkNewSimCold(b *testing.B) {
	const body = "Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=m5a.large"
	for b.Loop() {
		c, err := loadCatalog(catalogGz)
		if err != nil {
			b.Fatal(err)
		}
		s := newSim(Options{Seed: 1}, c)
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("DescribeInstanceTypes: %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkNewSim is every later Sim in the process (tests make hundreds):
// the decoded catalogue is shared.
func BenchmarkNewSim(b *testing.B) {
	for b.Loop() {
		New(Options{Seed: 1})
	}
}

// BenchmarkSpotPriceHistoryFirstPage is what a generic tool's first
// describe-spot-price-history (no types, a day) costs with the full
// catalogue: the page stops at MaxResults instead of listing every pool.
func BenchmarkSpotPriceHistoryFirstPage(b *testing.B) {
	s := New(Options{Seed: 1})
	const body = "Action=DescribeSpotPriceHistory&Version=2016-11-15&MaxResults=100"
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("DescribeSpotPriceHistory: %d %s", rec.Code, rec.Body)
		}
	}
}
