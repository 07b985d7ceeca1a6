package awssim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	ptypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"

	"github.com/spotter-dev/spotter/awssim"
)

// pricingClient is a Price List API client on the world's server; the API
// lives in us-east-1 (among a few), so that is the signing region.
func (w *testWorld) pricingClient() *pricing.Client {
	return pricing.New(pricing.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: readWhole{w.srv.Client().Transport}},
		BaseEndpoint:     aws.String(w.srv.URL),
	})
}

func term(field, value string) ptypes.Filter {
	return ptypes.Filter{Field: aws.String(field), Type: ptypes.FilterTypeTermMatch, Value: aws.String(value)}
}

// odFilters are the filters that select one Linux on-demand price.
func odFilters(region, itype string) []ptypes.Filter {
	return []ptypes.Filter{
		term("instanceType", itype), term("regionCode", region), term("operatingSystem", "Linux"),
		term("tenancy", "Shared"), term("preInstalledSw", "NA"), term("capacitystatus", "Used"),
	}
}

// priceOf reads pricePerUnit.USD out of one PriceList document, the way a
// client must: terms.OnDemand.<offer>.priceDimensions.<rate>.pricePerUnit.
func priceOf(t *testing.T, doc string) (string, float64) {
	t.Helper()
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
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("PriceList entry is not JSON: %v\n%s", err, doc)
	}
	for _, term := range p.Terms.OnDemand {
		for _, d := range term.PriceDimensions {
			v, err := strconv.ParseFloat(d.PricePerUnit["USD"], 64)
			if err != nil || d.Unit != "Hrs" {
				t.Fatalf("price dimension %+v", d)
			}
			return p.Product.Attributes["instanceType"] + "/" + p.Product.Attributes["regionCode"], v
		}
	}
	t.Fatalf("no on-demand term in %s", doc)
	return "", 0
}

func TestGetProducts(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	pc := w.pricingClient()
	tests := []struct {
		name      string
		in        *pricing.GetProductsInput
		wantKeys  []string
		wantPrice float64
		wantCode  string
	}{
		{name: "one type in one region", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: odFilters("us-east-1", "m5a.large"), FormatVersion: aws.String("aws_v1")},
			wantKeys: []string{"m5a.large/us-east-1"}, wantPrice: 0.086},
		{name: "by location name", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: []ptypes.Filter{term("instanceType", "m5.large"), term("location", "EU (Ireland)")}},
			wantKeys: []string{"m5.large/eu-west-1"}, wantPrice: 0.107},
		{name: "ANY_OF types", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: []ptypes.Filter{
			{Field: aws.String("instanceType"), Type: ptypes.FilterTypeAnyOf, Value: aws.String("m5.large,c5.large")}, term("regionCode", "us-west-2")}},
			wantKeys: []string{"c5.large/us-west-2", "m5.large/us-west-2"}},
		{name: "type not offered in the region", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: odFilters("eu-west-1", "g6.xlarge")}},
		{name: "Windows is not emulated", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: []ptypes.Filter{term("instanceType", "m5.large"), term("operatingSystem", "Windows")}}},
		{name: "unknown field matches nothing", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: []ptypes.Filter{term("colour", "blue")}}},
		{name: "another service", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonS3"), Filters: []ptypes.Filter{term("instanceType", "m5.large")}}},
		{name: "bad format version", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), FormatVersion: aws.String("aws_v2")}, wantCode: "InvalidParameterException"},
		{name: "bad token", in: &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), NextToken: aws.String("garbage")}, wantCode: "InvalidNextTokenException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := pc.GetProducts(ctx(t), tt.in)
			if tt.wantCode != "" {
				wantErr(t, err, tt.wantCode, http.StatusBadRequest)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.FormatVersion) != "aws_v1" || out.NextToken != nil {
				t.Errorf("FormatVersion %q, NextToken %v; want aws_v1 and none", aws.ToString(out.FormatVersion), out.NextToken)
			}
			var keys []string
			for _, doc := range out.PriceList {
				k, p := priceOf(t, doc)
				keys = append(keys, k)
				if tt.wantPrice != 0 && p != tt.wantPrice {
					t.Errorf("%s costs %v; want %v (the catalogue's)", k, p, tt.wantPrice)
				}
			}
			if len(keys) != len(tt.wantKeys) {
				t.Fatalf("products %v; want %v", keys, tt.wantKeys)
			}
			for i := range keys {
				if keys[i] != tt.wantKeys[i] {
					t.Errorf("products %v; want %v", keys, tt.wantKeys)
				}
			}
		})
	}
}

// The paginator walks every page; each page holds at most MaxResults, and
// the pages together hold each product once.
func TestGetProductsPages(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	p := pricing.NewGetProductsPaginator(w.pricingClient(), &pricing.GetProductsInput{
		ServiceCode: aws.String("AmazonEC2"), MaxResults: aws.Int32(7),
		Filters: []ptypes.Filter{term("regionCode", "us-east-1"), {Field: aws.String("instanceType"), Type: ptypes.FilterTypeContains, Value: aws.String("c7a.")}},
	})
	seen, pages := map[string]bool{}, 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.PriceList) > 7 {
			t.Errorf("page of %d; want at most 7", len(page.PriceList))
		}
		for _, doc := range page.PriceList {
			k, _ := priceOf(t, doc)
			if seen[k] {
				t.Errorf("%s on two pages", k)
			}
			seen[k] = true
		}
	}
	// c7a has 12 sizes priced in us-east-1 in the data set (medium … 48xlarge).
	if len(seen) != 12 || pages != 2 {
		t.Errorf("%d products on %d pages; want 12 on 2", len(seen), pages)
	}
	if n := w.sim.Calls("GetProducts"); n != pages {
		t.Errorf("Calls(GetProducts) = %d; want %d", n, pages)
	}
}

// An injected AccessDeniedException stands for a caller without
// pricing:GetProducts; it still counts as a call.
func TestGetProductsDenied(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	if err := w.sim.InjectFault("GetProducts", "AccessDeniedException", 1, 0); err != nil {
		t.Fatal(err)
	}
	_, err := w.pricingClient().GetProducts(ctx(t), &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: odFilters("us-east-1", "m5.large")})
	wantErr(t, err, "AccessDeniedException", http.StatusBadRequest)
	var denied *ptypes.AccessDeniedException
	if !errors.As(err, &denied) {
		t.Errorf("error %T is not the SDK's modeled AccessDeniedException", err)
	}
	if n := w.sim.Calls("GetProducts"); n != 1 {
		t.Errorf("Calls(GetProducts) = %d; want 1", n)
	}
}
