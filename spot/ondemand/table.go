// Package ondemand holds spotter's bundled table of EC2 on-demand Linux
// prices per region and instance type, cut from the ec2instances.info data
// set by scripts/catalog (the same run that writes awssim's catalogue). It
// is the fallback when the AWS Price List API cannot be asked: the caller
// lacks pricing:GetProducts, or the call fails. The table's Date says how
// old its figures are, so a reply can say so.
package ondemand

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

//go:embed prices.json.gz
var pricesGz []byte

// Table is a read-only price table.
type Table struct {
	source string
	date   string
	prices map[string]map[string]float64 // region → type → USD per hour
}

// bundled decodes the embedded table once per process; it is read-only
// after that, so every caller shares it.
var bundled = sync.OnceValues(func() (*Table, error) { return Parse(pricesGz) })

// Bundled returns the table embedded in the binary.
func Bundled() (*Table, error) { return bundled() }

// Parse decodes a gzip-compressed table in scripts/catalog's format:
// {"source","date","prices":{region:{type:price}}}. Prices that are not
// positive are left out.
func Parse(gz []byte) (*Table, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decompress price table: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompress price table: %w", err)
	}
	var doc struct {
		Source string                        `json:"source"`
		Date   string                        `json:"date"`
		Prices map[string]map[string]float64 `json:"prices"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode price table: %w", err)
	}
	if doc.Date == "" || len(doc.Prices) == 0 {
		return nil, fmt.Errorf("price table has no date or no prices")
	}
	for _, types := range doc.Prices {
		for t, p := range types {
			if !(p > 0) {
				delete(types, t)
			}
		}
	}
	return &Table{source: doc.Source, date: doc.Date, prices: doc.Prices}, nil
}

// Price returns the on-demand Linux price per hour of a type in a region.
func (t *Table) Price(region, instanceType string) (float64, bool) {
	p, ok := t.prices[region][instanceType]
	return p, ok
}

// Date is the day the table's figures were published upstream (YYYY-MM-DD).
func (t *Table) Date() string { return t.date }

// Source names the data set and version the table was cut from.
func (t *Table) Source() string { return t.source }
