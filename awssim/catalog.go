package awssim

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
)

// catalogGz is cut from ec2instances.info by scripts/catalog: every current
// instance type in every commercial region. See README.md for the source and
// the refresh command.
//
//go:embed catalog.json.gz
var catalogGz []byte

// sharedCatalog decodes the embedded catalogue once per process: it is
// read-only after loading, so every Sim shares it, and tests that make
// hundreds of Sims pay for the decoding once.
var sharedCatalog = sync.OnceValues(func() (*catalog, error) { return loadCatalog(catalogGz) })

type catalogZone struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

type catalogRegion struct {
	Name string `json:"name"`
	// Location is the region's name in the Price List API.
	Location string        `json:"location"`
	Zones    []catalogZone `json:"zones"`
}

type regionPrice struct {
	OnDemand float64
	SpotMin  float64
	SpotMax  float64
}

type instanceSpec struct {
	Name      string   `json:"name"`
	Family    string   `json:"family"`
	VCPU      int      `json:"vcpu"`
	MemoryMiB int      `json:"memoryMiB"`
	Arch      []string `json:"arch"`
	GPUs      int      `json:"gpus"`
	GPUModel  string   `json:"gpuModel"`
	// GPUMemoryMiB is the total over the instance's GPUs.
	GPUMemoryMiB int `json:"gpuMemoryMiB"`
	// RawPrices is [on-demand, spot min, spot max] per region, as the file
	// has it; Prices is the same, named.
	RawPrices map[string][3]float64  `json:"prices"`
	Prices    map[string]regionPrice `json:"-"`
}

type catalog struct {
	Source        string          `json:"source"`
	Date          string          `json:"date"`
	Regions       []catalogRegion `json:"regions"`
	InstanceTypes []instanceSpec  `json:"instanceTypes"`

	types map[string]*instanceSpec
	// offered lists, per region, the types priced there, by name: a type
	// the data set has no price for in a region is not offered there.
	offered  map[string][]*instanceSpec
	location map[string]string
}

// loadCatalog decodes a gzip-compressed catalogue. Types without a usable
// price in a region are left out of that region rather than failing the
// load; a type offered nowhere, or a file with no region, is an error.
func loadCatalog(gz []byte) (*catalog, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decompress catalogue: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompress catalogue: %w", err)
	}
	var c catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode catalogue: %w", err)
	}
	regions := make(map[string]bool, len(c.Regions))
	c.location = make(map[string]string, len(c.Regions))
	for _, r := range c.Regions {
		if len(r.Zones) == 0 {
			return nil, fmt.Errorf("catalogue: region %s has no zones", r.Name)
		}
		regions[r.Name] = true
		c.location[r.Name] = r.Location
	}
	c.types = make(map[string]*instanceSpec, len(c.InstanceTypes))
	c.offered = make(map[string][]*instanceSpec, len(c.Regions))
	sort.Slice(c.InstanceTypes, func(i, j int) bool { return c.InstanceTypes[i].Name < c.InstanceTypes[j].Name })
	for i := range c.InstanceTypes {
		t := &c.InstanceTypes[i]
		if len(t.Arch) == 0 || t.VCPU <= 0 {
			return nil, fmt.Errorf("catalogue: instance type %s lacks specs", t.Name)
		}
		t.Prices = make(map[string]regionPrice, len(t.RawPrices))
		for r, p := range t.RawPrices {
			if !regions[r] || p[0] <= 0 || p[1] <= 0 || p[2] < p[1] {
				continue
			}
			t.Prices[r] = regionPrice{OnDemand: p[0], SpotMin: p[1], SpotMax: p[2]}
			c.offered[r] = append(c.offered[r], t)
		}
		t.RawPrices = nil
		if len(t.Prices) == 0 {
			return nil, fmt.Errorf("catalogue: instance type %s has no usable price in any region", t.Name)
		}
		c.types[t.Name] = t
	}
	if len(c.Regions) == 0 || len(c.types) == 0 {
		return nil, fmt.Errorf("catalogue is empty")
	}
	return &c, nil
}

// mustLoadCatalog panics because the embedded file is part of the build; a
// test (TestCatalog) guards it.
func mustLoadCatalog() *catalog {
	c, err := sharedCatalog()
	if err != nil {
		panic(err)
	}
	return c
}

func (c *catalog) regionNames() []string {
	names := make([]string, len(c.Regions))
	for i, r := range c.Regions {
		names[i] = r.Name
	}
	return names
}

// price returns a type's prices in a region; ok is false when the type is
// unknown or not offered there.
func (c *catalog) price(region, itype string) (regionPrice, bool) {
	t, ok := c.types[itype]
	if !ok {
		return regionPrice{}, false
	}
	p, ok := t.Prices[region]
	return p, ok
}

// offeredIn returns a type's spec if the region offers it.
func (c *catalog) offeredIn(region, itype string) (*instanceSpec, bool) {
	t, ok := c.types[itype]
	if !ok {
		return nil, false
	}
	if _, ok := t.Prices[region]; !ok {
		return nil, false
	}
	return t, true
}
