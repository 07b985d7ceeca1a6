package awssim

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// catalogJSON is cut from ec2instances.info by scripts/catalog; see README.md
// for the source and the refresh command.
//
//go:embed catalog.json
var catalogJSON []byte

type catalogZone struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

type catalogRegion struct {
	Name  string        `json:"name"`
	Zones []catalogZone `json:"zones"`
}

type regionPrice struct {
	OnDemand float64 `json:"onDemand"`
	SpotMin  float64 `json:"spotMin"`
	SpotMax  float64 `json:"spotMax"`
}

type instanceSpec struct {
	Name      string                 `json:"name"`
	Family    string                 `json:"family"`
	VCPU      int                    `json:"vcpu"`
	MemoryMiB int                    `json:"memoryMiB"`
	Arch      []string               `json:"arch"`
	GPUs      int                    `json:"gpus"`
	Prices    map[string]regionPrice `json:"prices"`
}

type catalog struct {
	Source        string          `json:"source"`
	Regions       []catalogRegion `json:"regions"`
	InstanceTypes []instanceSpec  `json:"instanceTypes"`

	types map[string]*instanceSpec
}

func loadCatalog(b []byte) (*catalog, error) {
	var c catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode catalogue: %w", err)
	}
	c.types = make(map[string]*instanceSpec, len(c.InstanceTypes))
	for i := range c.InstanceTypes {
		t := &c.InstanceTypes[i]
		for _, r := range c.Regions {
			p, ok := t.Prices[r.Name]
			if !ok || p.OnDemand <= 0 || p.SpotMin <= 0 || p.SpotMax < p.SpotMin {
				return nil, fmt.Errorf("catalogue: instance type %s has no usable price in %s", t.Name, r.Name)
			}
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
	c, err := loadCatalog(catalogJSON)
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

func (c *catalog) price(region, itype string) (regionPrice, bool) {
	t, ok := c.types[itype]
	if !ok {
		return regionPrice{}, false
	}
	p, ok := t.Prices[region]
	return p, ok
}
