// Command catalog cuts awssim's instance catalogue from the ec2instances.info
// data set that github.com/cristim/ec2-instances-info embeds (about 96 MB),
// keeping only the types, regions and figures the emulator needs.
//
// Refresh (from the repository root):
//
//	cd scripts/catalog && go get github.com/LeanerCloud/ec2-instances-info@latest && go run . -o ../../awssim/catalog.json
//
// The module lives apart from the main one so the big data set never becomes a
// dependency of spotter itself.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"sort"

	ec2info "github.com/LeanerCloud/ec2-instances-info"
)

// types spans general, compute, memory, GPU and ARM families so fleet tests
// can mix architectures and price levels.
var types = []string{
	"t3.micro", "t3.small", "t3.medium", "t3.large",
	"m5.large", "m5.xlarge", "m5.2xlarge", "m6i.large", "m6i.xlarge", "m7i.large",
	"c5.large", "c5.xlarge", "c5.2xlarge", "c6i.large", "c6i.xlarge", "c7i.large",
	"r5.large", "r5.xlarge", "r6i.large", "r6i.xlarge",
	"g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "p3.2xlarge",
	"t4g.micro", "t4g.small", "t4g.medium", "m6g.large", "m7g.large",
	"c6g.large", "c7g.large", "r6g.large", "r7g.large", "m6g.xlarge",
}

// zoneIDs are the regions the emulator serves. ec2instances.info lists zone
// ids only; AWS maps names to ids per account, so a fixed a→az1 mapping is as
// faithful as any.
var regions = []string{"us-east-1", "us-west-2", "eu-west-1"}

var zoneIDPrefix = map[string]string{"us-east-1": "use1", "us-west-2": "usw2", "eu-west-1": "euw1"}

type zone struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

type region struct {
	Name  string `json:"name"`
	Zones []zone `json:"zones"`
}

type price struct {
	OnDemand float64 `json:"onDemand"`
	SpotMin  float64 `json:"spotMin"`
	SpotMax  float64 `json:"spotMax"`
}

type instanceType struct {
	Name      string           `json:"name"`
	Family    string           `json:"family"`
	VCPU      int              `json:"vcpu"`
	MemoryMiB int              `json:"memoryMiB"`
	Arch      []string         `json:"arch"`
	GPUs      int              `json:"gpus"`
	Prices    map[string]price `json:"prices"`
}

type catalog struct {
	Source        string         `json:"source"`
	Regions       []region       `json:"regions"`
	InstanceTypes []instanceType `json:"instanceTypes"`
}

func main() {
	out := flag.String("o", "catalog.json", "output file")
	flag.Parse()
	if err := cut(*out); err != nil {
		log.Fatal(err)
	}
}

func cut(out string) error {
	data, err := ec2info.Data()
	if err != nil {
		return fmt.Errorf("load ec2instances.info data: %w", err)
	}
	byName := map[string]ec2info.EC2Instance{}
	for _, it := range *data {
		byName[it.InstanceType] = it
	}
	c := catalog{Source: source()}
	for _, r := range regions {
		reg := region{Name: r}
		for i, letter := range []string{"a", "b", "c"} {
			reg.Zones = append(reg.Zones, zone{Name: r + letter, ID: fmt.Sprintf("%s-az%d", zoneIDPrefix[r], i+1)})
		}
		c.Regions = append(c.Regions, reg)
	}
	for _, name := range types {
		it, ok := byName[name]
		if !ok {
			return fmt.Errorf("instance type %s not in data set", name)
		}
		t := instanceType{
			Name:      name,
			Family:    it.Family,
			VCPU:      it.VCPU,
			MemoryMiB: int(it.Memory * 1024),
			Arch:      it.Arch,
			GPUs:      it.GPU,
			Prices:    map[string]price{},
		}
		for _, r := range regions {
			p := it.Pricing[r].Linux
			if p.OnDemand <= 0 || p.SpotMin <= 0 || p.SpotMax < p.SpotMin {
				return fmt.Errorf("instance type %s has no usable Linux price in %s: %+v", name, r, p)
			}
			t.Prices[r] = price{OnDemand: p.OnDemand, SpotMin: p.SpotMin, SpotMax: p.SpotMax}
		}
		c.InstanceTypes = append(c.InstanceTypes, t)
	}
	sort.Slice(c.InstanceTypes, func(i, j int) bool { return c.InstanceTypes[i].Name < c.InstanceTypes[j].Name })
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// source names the module version the figures came from, so a reviewer can
// tell how old the prices are.
func source() string {
	const mod = "github.com/LeanerCloud/ec2-instances-info"
	v := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mod {
				v = d.Version
				if d.Replace != nil {
					v = d.Replace.Path + "@" + d.Replace.Version
				}
			}
		}
	}
	return "ec2instances.info data embedded in " + v + " (Linux on-demand price and spot_min/spot_max, USD/hour)"
}
