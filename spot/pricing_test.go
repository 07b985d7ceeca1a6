package spot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/pricing"

	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/spot/ondemand"
)

// tableWarning reports whether warnings name the bundled table and its date.
func tableWarning(ws []string) bool {
	tb, _ := ondemand.Bundled()
	return slices.ContainsFunc(ws, func(w string) bool {
		return strings.Contains(w, "bundled price table of "+tb.Date())
	})
}

// Price quotes carry the on-demand price the Price List API gives (awssim
// answers GetProducts from its catalogue), asked once per region and type
// a day; denied, the bundled table answers and the reply says so with the
// table's date, and the API is asked again after odRetryAfter.
func TestPriceOnDemandSources(t *testing.T) {
	types := []string{"m5.large", "c5.large"}
	tests := []struct {
		name      string
		fault     string
		wantTable bool
		// wantCalls is GetProducts calls after the first quote, a second
		// one at once, and a third after retryAfter.
		wantCalls  [3]int
		retryAfter time.Duration
		wantWhy    string
	}{
		{name: "Price List API answers", wantCalls: [3]int{2, 2, 4}, retryAfter: odTTL},
		{name: "Price List API answers, kept under a day", wantCalls: [3]int{2, 2, 2}, retryAfter: odTTL - time.Second},
		{name: "denied: the bundled table", fault: "AccessDeniedException", wantTable: true, wantCalls: [3]int{2, 2, 4}, retryAfter: odRetryAfter,
			wantWhy: "grant pricing:GetProducts"},
		{name: "denied: the table's answer kept until the retry", fault: "AccessDeniedException", wantTable: true, wantCalls: [3]int{2, 2, 2}, retryAfter: odRetryAfter - time.Second,
			wantWhy: "grant pricing:GetProducts"},
		{name: "API broken: the bundled table", fault: "InvalidParameterException", wantTable: true, wantCalls: [3]int{2, 2, 4}, retryAfter: odRetryAfter,
			wantWhy: "the AWS Price List API failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			if tt.fault != "" {
				if err := e.sim.InjectFault("GetProducts", tt.fault, 1, 0); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			for step := range 3 {
				if step == 2 {
					e.clock.Add(tt.retryAfter)
				}
				res, err := e.client.Price(ctx, e.creds, region, types)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range res.Quotes {
					want, _ := e.sim.OnDemandPrice(region, q.Type)
					if q.OnDemand != money.FromDollars(want) || want == 0 {
						t.Errorf("step %d: %s on-demand %v; want %v", step, q.Type, q.OnDemand, want)
					}
				}
				if got := tableWarning(res.Warnings); got != tt.wantTable {
					t.Errorf("step %d: table warning %v; want %v: %q", step, got, tt.wantTable, res.Warnings)
				}
				if tt.wantWhy != "" && !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, tt.wantWhy) }) {
					t.Errorf("step %d: warnings %q do not say %q", step, res.Warnings, tt.wantWhy)
				}
				if n := e.sim.Calls("GetProducts"); n != tt.wantCalls[step] {
					t.Errorf("step %d: %d GetProducts calls; want %d", step, n, tt.wantCalls[step])
				}
			}
		})
	}
}

// The on-demand fallback prices what it launched, and the spend cap and
// status count those instances, at the Price List API's price; with the
// API denied, at the table's, said in warnings.
func TestOnDemandInstancesPriced(t *testing.T) {
	for _, deny := range []bool{false, true} {
		t.Run(fmt.Sprintf("denied=%v", deny), func(t *testing.T) {
			e := mustEnv(t)
			ctx := context.Background()
			if deny {
				if err := e.sim.InjectFault("GetProducts", "AccessDeniedException", 1, 0); err != nil {
					t.Fatal(err)
				}
			}
			e.noSpot(t)
			s := e.spec("tokA", "k1", 2)
			s.OnDemandFallback = true
			res := e.mustLaunch(t, s)
			var hourly money.USD
			for _, in := range res.Instances {
				want, _ := e.sim.OnDemandPrice(region, in.Type)
				if in.Lifecycle != "on-demand" || in.Price != money.FromDollars(want) || want == 0 {
					t.Errorf("launched %s %s at %v; want on-demand at %v", in.Type, in.Lifecycle, in.Price, want)
				}
				hourly += in.Price
			}
			if tableWarning(res.Warnings) != deny {
				t.Errorf("launch warnings %q; table named: want %v", res.Warnings, deny)
			}

			var seen []Instance
			admit := e.admitted(e.spec("tokA", "k2", 1), func(others []Instance) (float64, error) {
				seen = others
				return 0, nil
			})
			admit.OnDemandFallback, admit.AdmitPrices = true, true
			e.mustLaunch(t, admit)
			var counted money.USD
			for _, in := range seen {
				counted += in.Price
			}
			if len(seen) != 2 || counted != hourly {
				t.Errorf("spend cap saw %d instances at $%v/h; want 2 at $%v/h", len(seen), counted, hourly)
			}

			st, err := e.client.Status(ctx, e.creds, region, "tokA", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range st.Instances {
				want, _ := e.sim.OnDemandPrice(region, in.Type)
				if in.Price != money.FromDollars(want) {
					t.Errorf("status: %s at %v; want %v", in.ID, in.Price, want)
				}
			}
			if tableWarning(st.Warnings) != deny {
				t.Errorf("status warnings %q; table named: want %v", st.Warnings, deny)
			}
			// Two types, each asked once however many instances and calls
			// (denied: once per odRetryAfter, which has not passed).
			if n := e.sim.Calls("GetProducts"); n != 2 {
				t.Errorf("%d GetProducts calls; want 2 (one per type)", n)
			}
		})
	}
}

// fakePricing answers GetProducts from a function and counts calls.
type fakePricing struct {
	mu    sync.Mutex
	calls int
	gate  chan struct{} // if set, each call waits on it
	fn    func(*pricing.GetProductsInput) (*pricing.GetProductsOutput, error)
}

func (f *fakePricing) GetProducts(ctx context.Context, in *pricing.GetProductsInput, _ ...func(*pricing.Options)) (*pricing.GetProductsOutput, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.gate != nil {
		<-f.gate
	}
	return f.fn(in)
}

func productDoc(region, typ, usd string) string {
	return `{"product":{"attributes":{"instanceType":"` + typ + `","regionCode":"` + region + `"}},"terms":{"OnDemand":{"X.Y":{"priceDimensions":{"X.Y.Z":{"unit":"Hrs","pricePerUnit":{"USD":"` + usd + `"}}}}}}}`
}

// Concurrent lookups of one key make one call; the cache stays bounded.
func TestOnDemandCache(t *testing.T) {
	e := mustEnv(t)
	fake := &fakePricing{gate: make(chan struct{}), fn: func(in *pricing.GetProductsInput) (*pricing.GetProductsOutput, error) {
		var typ, reg string
		for _, f := range in.Filters {
			switch *f.Field {
			case "instanceType":
				typ = *f.Value
			case "regionCode":
				reg = *f.Value
			}
		}
		return &pricing.GetProductsOutput{PriceList: []string{productDoc(reg, typ, "1.2345000000")}}, nil
	}}
	e.client.pricing = fake
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make([]float64, 8)
	for i := range got {
		wg.Go(func() { got[i] = e.client.onDemand(ctx, e.creds, region, "m5.large").price })
	}
	close(fake.gate)
	wg.Wait()
	for i, p := range got {
		if p != 1.2345 {
			t.Errorf("lookup %d = %v; want 1.2345 (the API's, not the table's)", i, p)
		}
	}
	if fake.calls != 1 {
		t.Errorf("%d calls for one key; want 1", fake.calls)
	}
	for i := range odCacheMax + 10 {
		e.client.onDemand(ctx, e.creds, region, fmt.Sprintf("x%d.large", i))
	}
	e.client.od.mu.Lock()
	n := len(e.client.od.entries)
	e.client.od.mu.Unlock()
	if n > odCacheMax {
		t.Errorf("cache holds %d entries; want at most %d", n, odCacheMax)
	}
}

func TestParseOnDemand(t *testing.T) {
	tests := []struct {
		name, doc string
		want      float64
		wantOK    bool
	}{
		{name: "price", doc: productDoc("us-east-1", "m5.large", "0.0960000000"), want: 0.096, wantOK: true},
		{name: "other type", doc: productDoc("us-east-1", "m5.xlarge", "0.192")},
		{name: "other region", doc: productDoc("eu-west-1", "m5.large", "0.107")},
		{name: "zero price", doc: productDoc("us-east-1", "m5.large", "0.0000000000")},
		{name: "not a number", doc: productDoc("us-east-1", "m5.large", "n/a")},
		{name: "not hourly", doc: strings.Replace(productDoc("us-east-1", "m5.large", "0.096"), `"Hrs"`, `"Quantity"`, 1)},
		{name: "not JSON", doc: "{"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseOnDemand(tt.doc, "us-east-1", "m5.large")
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseOnDemand = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
