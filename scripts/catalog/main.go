// Command catalog cuts two files from the ec2instances.info data set that
// github.com/cristim/ec2-instances-info embeds (about 96 MB):
//
//   - awssim's instance catalogue: every current-generation instance type in
//     every commercial region, with zones, vCPUs, memory, architectures, GPUs,
//     the Linux on-demand price and the spot price range;
//   - spotter's bundled on-demand price table (spot/ondemand), the fallback
//     when the AWS Price List API cannot be asked.
//
// Both are gzip-compressed JSON, embedded by the packages that read them.
//
// Refresh (from the repository root):
//
//	cd scripts/catalog && go get github.com/LeanerCloud/ec2-instances-info@latest && go run .
//
// The module lives apart from the main one so the big data set never becomes a
// dependency of spotter itself.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	ec2info "github.com/LeanerCloud/ec2-instances-info"
)

const module = "github.com/LeanerCloud/ec2-instances-info"

// commercialRegion matches the AWS commercial partition's region names. The
// data set also prices Local Zones and Wavelength Zones under keys such as
// us-east-1-atl-1; those are not regions and are left out, as are GovCloud
// and China.
var commercialRegion = regexp.MustCompile(`^[a-z]{2}-[a-z]+-[0-9]+$`)

type zone struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

type region struct {
	Name string `json:"name"`
	// Location is the name the Price List API files the region under
	// ("US East (N. Virginia)", "EU (Ireland)").
	Location string `json:"location"`
	Zones    []zone `json:"zones"`
}

// instanceType keeps prices as [on-demand, spot min, spot max] per region:
// arrays decode faster and compress smaller than objects.
type instanceType struct {
	Name      string   `json:"name"`
	Family    string   `json:"family"`
	VCPU      int      `json:"vcpu"`
	MemoryMiB int      `json:"memoryMiB"`
	Arch      []string `json:"arch"`
	GPUs      int      `json:"gpus,omitempty"`
	GPUModel  string   `json:"gpuModel,omitempty"`
	// GPUMemoryMiB is the instance's total GPU memory.
	GPUMemoryMiB int                   `json:"gpuMemoryMiB,omitempty"`
	Prices       map[string][3]float64 `json:"prices"`
}

// gpu is what the data set says of a type's accelerators.
type gpu struct {
	model     string
	memoryMiB int
}

type catalog struct {
	Source        string         `json:"source"`
	Date          string         `json:"date"`
	Regions       []region       `json:"regions"`
	InstanceTypes []instanceType `json:"instanceTypes"`
}

// priceTable is spot/ondemand's format: region → type → USD per hour.
type priceTable struct {
	Source string                        `json:"source"`
	Date   string                        `json:"date"`
	Prices map[string]map[string]float64 `json:"prices"`
}

func main() {
	out := flag.String("o", "../../awssim/catalog.json.gz", "awssim catalogue")
	table := flag.String("prices", "../../spot/ondemand/prices.json.gz", "spotter's bundled on-demand price table")
	flag.Parse()
	if err := run(*out, *table); err != nil {
		log.Fatal(err)
	}
}

func run(out, table string) error {
	data, err := ec2info.Data()
	if err != nil {
		return fmt.Errorf("load ec2instances.info data: %w", err)
	}
	typeZones, locations, gpus, err := rawData()
	if err != nil {
		return err
	}
	ver := version()
	c := catalog{Source: "ec2instances.info data embedded in " + ver + " (Linux on-demand price, spot_min/spot_max; USD/hour)", Date: date(ver)}
	zoneIDs := map[string]map[string]bool{}
	regions := map[string]bool{}
	// Spot figures are missing for about a third of the (type, region)
	// pairs; those get a range estimated from the median discount of the
	// pairs that have them, so every offered type can be launched on spot.
	loRatio, hiRatio := spotRatios(*data)
	for _, it := range *data {
		if it.Generation != "current" || it.VCPU <= 0 || it.Memory <= 0 || len(it.Arch) == 0 {
			continue
		}
		t := instanceType{
			Name: it.InstanceType, Family: it.Family, VCPU: it.VCPU,
			MemoryMiB: int(math.Round(float64(it.Memory) * 1024)), Arch: it.Arch, GPUs: it.GPU,
		}
		if g, ok := gpus[it.InstanceType]; ok && it.GPU > 0 {
			t.GPUModel, t.GPUMemoryMiB = g.model, g.memoryMiB
		}
		t.Prices = prices(it.Pricing, loRatio, hiRatio)
		if len(t.Prices) == 0 {
			continue
		}
		for r := range t.Prices {
			regions[r] = true
		}
		c.InstanceTypes = append(c.InstanceTypes, t)
		addZones(zoneIDs, typeZones[it.InstanceType])
	}
	sort.Slice(c.InstanceTypes, func(i, j int) bool { return c.InstanceTypes[i].Name < c.InstanceTypes[j].Name })
	for r := range regions {
		c.Regions = append(c.Regions, region{Name: r, Location: locations[r], Zones: zones(r, zoneIDs[r])})
	}
	sort.Slice(c.Regions, func(i, j int) bool { return c.Regions[i].Name < c.Regions[j].Name })

	if err := writeGzipJSON(out, c); err != nil {
		return err
	}
	if err := writeGzipJSON(table, onDemandTable(c)); err != nil {
		return err
	}
	log.Printf("%d types, %d regions (spot range estimated at %.3f–%.3f of on-demand where the data has none)",
		len(c.InstanceTypes), len(c.Regions), loRatio, hiRatio)
	return nil
}

// spotRatios are the median spot minimum and maximum as fractions of the
// on-demand price, over the (type, region) pairs that have spot figures.
func spotRatios(data ec2info.InstanceData) (lo, hi float64) {
	var los, his []float64
	for _, it := range data {
		for _, p := range it.Pricing {
			if l := p.Linux; l.OnDemand > 0 && l.SpotMin > 0 && l.SpotMax >= l.SpotMin {
				los, his = append(los, l.SpotMin/l.OnDemand), append(his, l.SpotMax/l.OnDemand)
			}
		}
	}
	return median(los), median(his)
}

// prices are one type's Linux on-demand price and spot range per commercial
// region; a missing or implausible spot range is estimated from the ratios.
func prices(pricing map[string]ec2info.RegionPrices, loRatio, hiRatio float64) map[string][3]float64 {
	out := map[string][3]float64{}
	for r, p := range pricing {
		l := p.Linux
		if !commercialRegion.MatchString(r) || strings.HasPrefix(r, "us-gov-") || strings.HasPrefix(r, "cn-") || l.OnDemand <= 0 {
			continue
		}
		smin, smax := l.SpotMin, l.SpotMax
		if smin <= 0 || smax < smin || smax > l.OnDemand*1.5 {
			smin, smax = round4(l.OnDemand*loRatio), round4(l.OnDemand*hiRatio)
		}
		out[r] = [3]float64{l.OnDemand, smin, smax}
	}
	return out
}

// addZones adds a type's zone ids per region to zoneIDs.
func addZones(zoneIDs map[string]map[string]bool, byRegion map[string][]string) {
	for r, ids := range byRegion {
		if zoneIDs[r] == nil {
			zoneIDs[r] = map[string]bool{}
		}
		for _, id := range ids {
			zoneIDs[r][id] = true
		}
	}
}

// onDemandTable is the catalogue's on-demand prices in spot/ondemand's format.
func onDemandTable(c catalog) priceTable {
	pt := priceTable{Source: c.Source, Date: c.Date, Prices: map[string]map[string]float64{}}
	for _, t := range c.InstanceTypes {
		for r, p := range t.Prices {
			if pt.Prices[r] == nil {
				pt.Prices[r] = map[string]float64{}
			}
			pt.Prices[r][t.Name] = p[0]
		}
	}
	return pt
}

// rawData reads what the Go module does not decode, from the module's own
// copy of the data file: the zone ids per type and region
// (availability_zones) and the regions' long names. Where the data set has
// both "EU (Ireland)" and "Europe (Ireland)", the Price List API's older
// "EU (…)" form is kept.
func rawData() (map[string]map[string][]string, map[string]string, map[string]gpu, error) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("locate %s: %w", module, err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "data", "instances.json"))
	if err != nil {
		return nil, nil, nil, err
	}
	var raw []struct {
		InstanceType string              `json:"instance_type"`
		Zones        map[string][]string `json:"availability_zones"`
		Regions      map[string]string   `json:"regions"`
		GPUModel     string              `json:"GPU_model"`
		GPUMemoryGiB float64             `json:"GPU_memory"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, nil, fmt.Errorf("decode availability zones: %w", err)
	}
	zones := make(map[string]map[string][]string, len(raw))
	names := map[string]string{}
	gpus := map[string]gpu{}
	for _, it := range raw {
		zones[it.InstanceType] = it.Zones
		if it.GPUModel != "" {
			gpus[it.InstanceType] = gpu{model: it.GPUModel, memoryMiB: int(math.Round(it.GPUMemoryGiB * 1024))}
		}
		for r, n := range it.Regions {
			if old, ok := names[r]; !ok || strings.HasPrefix(n, "EU (") && !strings.HasPrefix(old, "EU (") {
				names[r] = n
			}
		}
	}
	return zones, names, gpus, nil
}

// zones names a region's zone ids a, b, c… in id order. AWS maps names to
// ids per account, so no mapping is more correct than another. Regions the
// data set has no zone ids for get three.
func zones(r string, ids map[string]bool) []zone {
	var sorted []string
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Slice(sorted, func(i, j int) bool {
		return len(sorted[i]) < len(sorted[j]) || len(sorted[i]) == len(sorted[j]) && sorted[i] < sorted[j]
	})
	if len(sorted) == 0 {
		for i := 1; i <= 3; i++ {
			sorted = append(sorted, fmt.Sprintf("%s-az%d", zonePrefix(r), i))
		}
	}
	out := make([]zone, len(sorted))
	for i, id := range sorted {
		out[i] = zone{Name: r + string(rune('a'+i)), ID: id}
	}
	return out
}

// zonePrefix derives AWS's zone-id prefix from a region name: us-east-1 →
// use1, ap-southeast-2 → apse2, eu-central-1 → euc1.
func zonePrefix(r string) string {
	parts := strings.Split(r, "-")
	p := parts[0]
	for _, w := range parts[1 : len(parts)-1] {
		for _, dir := range []string{"north", "south"} {
			if strings.HasPrefix(w, dir) && len(w) > len(dir) {
				p += w[:1]
				w = w[len(dir):]
			}
		}
		p += w[:1]
	}
	return p + parts[len(parts)-1]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func writeGzipJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	// No name or time in the header: the same data gives the same bytes.
	if _, err := zw.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// version names the module version the figures came from.
func version() string {
	v := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == module {
				v = d.Path + "@" + d.Version
				if d.Replace != nil {
					v = d.Replace.Path + "@" + d.Replace.Version
				}
			}
		}
	}
	return v
}

// date reads the commit date out of a pseudo-version
// (v0.0.0-20250528091325-32acf84f42eb → 2025-05-28): the day the data set
// was last refreshed upstream, which is how old the prices are.
func date(ver string) string {
	m := regexp.MustCompile(`-(\d{4})(\d{2})(\d{2})\d{6}-`).FindStringSubmatch(ver)
	if m == nil {
		return "unknown"
	}
	return m[1] + "-" + m[2] + "-" + m[3]
}
