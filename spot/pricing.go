package spot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	ptypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/spot/ondemand"
)

// On-demand prices come from the AWS Price List API (EC2 has no call for
// them), asked with the token's own credentials: they are what the operator
// granted, so pricing:GetProducts is part of a token's permissions. When
// the API cannot be asked, spotter's bundled table answers, and the reply
// says how old its figures are.
const (
	// pricingRegion hosts the Price List API (it lives in a few regions
	// only; us-east-1 serves every region's prices).
	pricingRegion = "us-east-1"
	// odTTL is how long a price from the API is kept: AWS changes
	// on-demand prices rarely, and a day bounds the calls to one per
	// region and type.
	odTTL = 24 * time.Hour
	// odRetryAfter is how long a fallback to the table is kept before the
	// API is asked again, so a token without pricing:GetProducts does not
	// cost a refused call per instance per request.
	odRetryAfter = 15 * time.Minute
	// odCacheMax bounds the cache; at the cap it is dropped whole, which
	// costs at most one call per region and type again.
	odCacheMax = 8192
	// odTimeout bounds one GetProducts call: a slow Price List API must
	// not hold up a launch, which then prices from the table.
	odTimeout = 5 * time.Second
	// odParallel bounds the lookups one request makes at once.
	odParallel = 8
)

// pricingAPI is the part of the Price List client spot uses.
type pricingAPI interface {
	GetProducts(context.Context, *pricing.GetProductsInput, ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

var _ pricingAPI = (*pricing.Client)(nil)

type odKey struct{ region, typ string }

// odEntry is one looked-up price. fallback says why the API's answer was
// not used ("" when it was).
type odEntry struct {
	price    float64
	ok       bool
	fallback string
	until    time.Time
}

// odCache holds prices per (region, type) and makes concurrent lookups of
// one key share a single call.
type odCache struct {
	mu       sync.Mutex
	entries  map[odKey]odEntry
	inflight map[odKey]chan struct{}
}

// onDemand returns the on-demand Linux price of a type in a region: from
// the cache, else from the Price List API, else from the bundled table.
func (c *Client) onDemand(ctx context.Context, creds aws.CredentialsProvider, region, typ string) odEntry {
	k := odKey{region, typ}
	for {
		c.od.mu.Lock()
		if e, ok := c.od.entries[k]; ok && c.now().Before(e.until) {
			c.od.mu.Unlock()
			return e
		}
		wait, busy := c.od.inflight[k]
		if !busy {
			if c.od.inflight == nil {
				c.od.inflight = map[odKey]chan struct{}{}
			}
			c.od.inflight[k] = make(chan struct{})
			c.od.mu.Unlock()
			break
		}
		c.od.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return c.fromTable(region, typ, "the lookup was cancelled")
		}
	}
	// Waiters are released however the call ends, a panic included.
	var e odEntry
	stored := false
	defer func() {
		c.od.mu.Lock()
		defer c.od.mu.Unlock()
		if stored {
			if c.od.entries == nil || len(c.od.entries) >= odCacheMax {
				c.od.entries = map[odKey]odEntry{}
			}
			c.od.entries[k] = e
		}
		close(c.od.inflight[k])
		delete(c.od.inflight, k)
	}()
	e = c.askPriceList(ctx, creds, region, typ)
	stored = ctx.Err() == nil // a cancelled caller's fallback says nothing about the API
	return e
}

// askPriceList makes one GetProducts call for the Linux, shared-tenancy,
// no-software, capacity-status-Used product of a type in a region.
func (c *Client) askPriceList(ctx context.Context, creds aws.CredentialsProvider, region, typ string) odEntry {
	ctx, cancel := context.WithTimeout(ctx, odTimeout)
	defer cancel()
	term := func(field, value string) ptypes.Filter {
		return ptypes.Filter{Field: aws.String(field), Type: ptypes.FilterTypeTermMatch, Value: aws.String(value)}
	}
	out, err := c.pricing.GetProducts(ctx, &pricing.GetProductsInput{
		ServiceCode:   aws.String("AmazonEC2"),
		FormatVersion: aws.String("aws_v1"),
		MaxResults:    aws.Int32(10),
		Filters: []ptypes.Filter{
			term("instanceType", typ), term("regionCode", region), term("operatingSystem", "Linux"),
			term("tenancy", "Shared"), term("preInstalledSw", "NA"), term("capacitystatus", "Used"),
		},
	}, func(o *pricing.Options) {
		o.Credentials = creds
		o.Retryer = c.withDeadline(o.Retryer) // fall back to the table rather than time out
	})
	if err != nil {
		why := "the AWS Price List API failed (" + apperr.Details(mapErr(err, "Pricing GetProducts")) + ")"
		if code := awsCode(err); code == "AccessDeniedException" || code == "AccessDenied" {
			why = "the token's credentials may not call the AWS Price List API (grant pricing:GetProducts for current prices)"
		}
		c.log.WarnContext(ctx, "on-demand price from the bundled table", "region", region, "type", typ, "error", err)
		return c.fromTable(region, typ, why)
	}
	for _, doc := range out.PriceList {
		if p, ok := parseOnDemand(doc, region, typ); ok {
			return odEntry{price: p, ok: true, until: c.now().Add(odTTL)}
		}
	}
	// An answer without the product: the type is not sold there (the
	// table agrees, or is older), so the answer is kept a day.
	e := c.fromTable(region, typ, "the AWS Price List API has no Linux on-demand price for it")
	e.until = c.now().Add(odTTL)
	return e
}

func (c *Client) fromTable(region, typ, why string) odEntry {
	e := odEntry{fallback: why, until: c.now().Add(odRetryAfter)}
	if c.table != nil {
		e.price, e.ok = c.table.Price(region, typ)
	}
	return e
}

// parseOnDemand reads the hourly USD price out of one PriceList document
// (product.attributes, terms.OnDemand.<offer>.priceDimensions.<rate>
// .pricePerUnit.USD), checking the product is the one asked for.
func parseOnDemand(doc, region, typ string) (float64, bool) {
	var p struct {
		Product struct {
			Attributes map[string]string `json:"attributes"`
		} `json:"product"`
		Terms struct {
			OnDemand map[string]struct {
				PriceDimensions map[string]struct {
					Unit         string            `json:"unit"`
					PricePerUnit map[string]string `json:"pricePerUnit"`
				} `json:"priceDimensions"`
			} `json:"OnDemand"`
		} `json:"terms"`
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return 0, false
	}
	a := p.Product.Attributes
	if a["instanceType"] != typ || a["regionCode"] != "" && a["regionCode"] != region {
		return 0, false
	}
	for _, term := range p.Terms.OnDemand {
		for _, d := range term.PriceDimensions {
			v, err := strconv.ParseFloat(d.PricePerUnit["USD"], 64)
			if err == nil && v > 0 && d.Unit == "Hrs" {
				return v, true
			}
		}
	}
	return 0, false
}

// odPrices looks up on-demand prices for one request and remembers which
// came from the table, so the reply can say so once.
type odPrices struct {
	c      *Client
	ctx    context.Context
	creds  aws.CredentialsProvider
	region string

	mu       sync.Mutex
	fallback map[string][]string // why → types
	unknown  []string
}

func (c *Client) odPrices(ctx context.Context, creds aws.CredentialsProvider, region string) *odPrices {
	return &odPrices{c: c, ctx: ctx, creds: creds, region: region, fallback: map[string][]string{}}
}

// price is the on-demand price of a type in the request's region.
func (o *odPrices) price(typ string) (float64, bool) {
	e := o.c.onDemand(o.ctx, o.creds, o.region, typ)
	o.mu.Lock()
	defer o.mu.Unlock()
	if e.fallback != "" && e.ok && !slices.Contains(o.fallback[e.fallback], typ) {
		o.fallback[e.fallback] = append(o.fallback[e.fallback], typ)
	}
	if !e.ok && !slices.Contains(o.unknown, typ) {
		o.unknown = append(o.unknown, typ)
	}
	return e.price, e.ok
}

// prefetch looks the types up side by side, so a request naming several
// types waits for one round trip to the Price List API, not one per type.
func (o *odPrices) prefetch(types []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, odParallel)
	for _, t := range dedupe(types) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o.price(t)
		})
	}
	wg.Wait()
}

// warnings say which prices came from the bundled table (with its date and
// why) and which are unknown.
func (o *odPrices) warnings() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	whys := make([]string, 0, len(o.fallback))
	for why := range o.fallback {
		whys = append(whys, why)
	}
	slices.Sort(whys)
	for _, why := range whys {
		types := slices.Sorted(slices.Values(o.fallback[why]))
		out = append(out, fmt.Sprintf("on-demand prices of %s in %s are from spotter's bundled price table of %s: %s",
			strings.Join(types, ", "), o.region, o.c.tableDate(), why))
	}
	if len(o.unknown) > 0 {
		out = append(out, fmt.Sprintf("no on-demand price is known for %s in %s",
			strings.Join(slices.Sorted(slices.Values(o.unknown)), ", "), o.region))
	}
	return out
}

func (c *Client) tableDate() string {
	if c.table == nil {
		return "(none)"
	}
	return c.table.Date()
}

// bundledTable loads the embedded table; without it (a broken build) the
// fallback knows no price, which replies then say.
func bundledTable(log *slog.Logger) *ondemand.Table {
	t, err := ondemand.Bundled()
	if err != nil {
		log.Error("load the bundled on-demand price table", "error", err)
		return nil
	}
	return t
}

// priceInstances fills the current price of each instance; best effort.
// On-demand instances are priced through od (the Price List API or the
// bundled table), which remembers what to warn about.
func (c *Client) priceInstances(ctx context.Context, api ec2API, opt func(*ec2.Options), od *odPrices, ins []Instance) {
	var itypes []string
	for _, in := range ins {
		if in.Lifecycle == "spot" {
			itypes = append(itypes, in.Type)
		}
	}
	var prices map[poolKey]float64
	if len(itypes) > 0 {
		prices, _ = spotPrices(ctx, api, opt, dedupe(itypes), c.now().UTC())
	}
	var odTypes []string
	for _, in := range ins {
		if in.Lifecycle != "spot" {
			odTypes = append(odTypes, in.Type)
		}
	}
	od.prefetch(odTypes)
	for i, in := range ins {
		if in.Lifecycle == "spot" {
			ins[i].Price = money.FromDollars(prices[poolKey{in.Type, in.AZ}])
		} else {
			p, _ := od.price(in.Type)
			ins[i].Price = money.FromDollars(p)
		}
	}
}
