package awssim

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The AWS Price List API speaks AWS JSON 1.1, not Query: a POST with
// X-Amz-Target "AWSPriceListService.<Operation>" and a JSON body, answered
// with JSON; errors carry their code in "__type".
const (
	pricingTargetPrefix = "AWSPriceListService."
	jsonContentType     = "application/x-amz-json-1.1"
	// pricingPageMax is the API's MaxResults ceiling and default.
	pricingPageMax = 100
)

// pricingFilter is one GetProducts filter (types.Filter).
type pricingFilter struct {
	Field string `json:"Field"`
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

type getProductsInput struct {
	ServiceCode   string          `json:"ServiceCode"`
	Filters       []pricingFilter `json:"Filters"`
	FormatVersion string          `json:"FormatVersion"`
	MaxResults    *int            `json:"MaxResults"`
	NextToken     string          `json:"NextToken"`
}

// serveJSON answers AWS JSON 1.1 requests; only the Price List API's
// GetProducts is emulated.
func (s *Sim) serveJSON(w http.ResponseWriter, r *http.Request, target string) {
	reqID := s.requestID()
	op, ok := strings.CutPrefix(target, pricingTargetPrefix)
	if ok {
		s.counters.add(op)
	}
	fail := func(e *apiError) {
		writeJSONError(w, reqID, e)
		s.log.Debug("answer request", "request_id", reqID, "service", "pricing", "action", op, "status", e.status(), "code", e.Code)
	}
	if !ok || op != "GetProducts" {
		fail(&apiError{Code: "UnknownOperationException", Message: "Operation " + target + " is not emulated."})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != jsonContentType {
		fail(&apiError{Code: "SerializationException", Message: "Content-Type must be " + jsonContentType})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		fail(&apiError{Code: "SerializationException", Message: "could not read the request body"})
		return
	}
	var in getProductsInput
	if err := json.Unmarshal(body, &in); err != nil {
		fail(&apiError{Code: "SerializationException", Message: "could not decode the JSON body: " + err.Error()})
		return
	}
	if d := s.chaos.latency(op); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if e := s.chaos.fault(op); e != nil {
		fail(e)
		return
	}
	ak, _, _ := credentialScope(r.Header.Get("Authorization"))
	if _, aerr := s.iam.authenticate(ak, r.Header.Get("X-Amz-Security-Token"), s.now(), "pricing"); aerr != nil {
		// JSON services name these failures differently from EC2.
		code := "UnrecognizedClientException"
		if aerr.Code == "RequestExpired" {
			code = "ExpiredTokenException"
		}
		fail(&apiError{Code: code, Message: aerr.Message})
		return
	}
	out, aerr := s.getProducts(in)
	if aerr != nil {
		fail(aerr)
		return
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	s.log.Debug("answer request", "request_id", reqID, "service", "pricing", "action", op, "status", http.StatusOK)
}

func writeJSONError(w http.ResponseWriter, reqID string, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "Message": e.Message})
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.status())
	w.Write(b)
}

type getProductsOutput struct {
	FormatVersion string   `json:"FormatVersion"`
	NextToken     string   `json:"NextToken,omitempty"`
	PriceList     []string `json:"PriceList"`
}

// getProducts lists the EC2 on-demand Linux products (shared tenancy, no
// pre-installed software, capacity status Used: the one product per type
// and region the catalogue prices) that match every filter, in catalogue
// order, each as the JSON document the real API returns as a string.
func (s *Sim) getProducts(in getProductsInput) (getProductsOutput, *apiError) {
	if in.ServiceCode == "" {
		return getProductsOutput{}, &apiError{Code: "InvalidParameterException", Message: "ServiceCode is required."}
	}
	if in.FormatVersion != "" && in.FormatVersion != "aws_v1" {
		return getProductsOutput{}, &apiError{Code: "InvalidParameterException", Message: "FormatVersion must be aws_v1."}
	}
	for _, f := range in.Filters {
		switch f.Type {
		case "TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF":
		default:
			return getProductsOutput{}, &apiError{Code: "InvalidParameterException", Message: fmt.Sprintf("Filter type %q is not valid.", f.Type)}
		}
		if f.Field == "" {
			return getProductsOutput{}, &apiError{Code: "InvalidParameterException", Message: "A filter needs a Field."}
		}
	}
	pageSize := pricingPageMax
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > pricingPageMax {
			return getProductsOutput{}, &apiError{Code: "InvalidParameterException", Message: "MaxResults must be between 1 and 100."}
		}
		pageSize = *in.MaxResults
	}
	offset := 0
	if in.NextToken != "" {
		n, terr := decodeToken(in.NextToken)
		if terr != nil {
			return getProductsOutput{}, &apiError{Code: "InvalidNextTokenException", Message: "The NextToken is not valid."}
		}
		offset = n
	}
	out := getProductsOutput{FormatVersion: "aws_v1", PriceList: []string{}}
	if in.ServiceCode != "AmazonEC2" {
		return out, nil
	}
	matched := 0
	for _, r := range s.catalog.Regions {
		for _, t := range s.catalog.offered[r.Name] {
			attrs := s.productAttributes(r, t)
			if !matchProduct(attrs, in.Filters) {
				continue
			}
			matched++
			if matched <= offset {
				continue
			}
			if len(out.PriceList) == pageSize {
				out.NextToken = encodeToken(offset + pageSize)
				return out, nil
			}
			out.PriceList = append(out.PriceList, s.productDocument(r, t, attrs))
		}
	}
	return out, nil
}

func (s *Sim) productAttributes(r catalogRegion, t *instanceSpec) map[string]string {
	return map[string]string{
		"servicecode":     "AmazonEC2",
		"servicename":     "Amazon Elastic Compute Cloud",
		"productFamily":   "Compute Instance",
		"instanceType":    t.Name,
		"instanceFamily":  t.Family,
		"vcpu":            strconv.Itoa(t.VCPU),
		"memory":          strconv.FormatFloat(float64(t.MemoryMiB)/1024, 'f', -1, 64) + " GiB",
		"gpu":             strconv.Itoa(t.GPUs),
		"regionCode":      r.Name,
		"location":        r.Location,
		"locationType":    "AWS Region",
		"operatingSystem": "Linux",
		"tenancy":         "Shared",
		"preInstalledSw":  "NA",
		"capacitystatus":  "Used",
		"licenseModel":    "No License required",
		"marketoption":    "OnDemand",
		"operation":       "RunInstances",
	}
}

// matchProduct applies the filters as the API documents them: TERM_MATCH
// and EQUALS compare whole values (case-insensitively), CONTAINS a part,
// ANY_OF and NONE_OF a comma-separated list. A field the product lacks
// matches nothing.
func matchProduct(attrs map[string]string, filters []pricingFilter) bool {
	for _, f := range filters {
		v, ok := attrs[f.Field]
		if !ok {
			return false
		}
		switch f.Type {
		case "TERM_MATCH", "EQUALS":
			ok = strings.EqualFold(v, f.Value)
		case "CONTAINS":
			ok = strings.Contains(strings.ToLower(v), strings.ToLower(f.Value))
		case "ANY_OF", "NONE_OF":
			ok = false
			for _, want := range strings.Split(f.Value, ",") {
				ok = ok || strings.EqualFold(v, strings.TrimSpace(want))
			}
			if f.Type == "NONE_OF" {
				ok = !ok
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// productDocument is one PriceList entry: product, serviceCode, terms
// (OnDemand only; Reserved terms are not emulated), version and
// publicationDate, with SKU and offer codes derived from the pool so they
// are stable.
func (s *Sim) productDocument(r catalogRegion, t *instanceSpec, attrs map[string]string) string {
	p := t.Prices[r.Name]
	sku := skuCode(r.Name + "/" + t.Name)
	const offer, rate = "JRTCKXETXF", "6YS6EN2CT7" // AWS's on-demand offer and rate codes
	date := s.catalog.Date
	doc := map[string]any{
		"product":     map[string]any{"productFamily": "Compute Instance", "attributes": attrs, "sku": sku},
		"serviceCode": "AmazonEC2",
		"terms": map[string]any{"OnDemand": map[string]any{
			sku + "." + offer: map[string]any{
				"sku": sku, "offerTermCode": offer, "effectiveDate": date + "T00:00:00Z", "termAttributes": map[string]string{},
				"priceDimensions": map[string]any{sku + "." + offer + "." + rate: map[string]any{
					"rateCode": sku + "." + offer + "." + rate, "unit": "Hrs", "beginRange": "0", "endRange": "Inf", "appliesTo": []string{},
					"description":  fmt.Sprintf("$%s per On Demand Linux %s Instance Hour", strconv.FormatFloat(p.OnDemand, 'f', -1, 64), t.Name),
					"pricePerUnit": map[string]string{"USD": strconv.FormatFloat(p.OnDemand, 'f', 10, 64)},
				}},
			},
		}},
		"version":         strings.ReplaceAll(date, "-", "") + "000000",
		"publicationDate": date + "T00:00:00Z",
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// skuCode is a 16-character upper-case code, the shape of AWS SKUs.
func skuCode(key string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	h := stableHash("sku/" + key)
	var b [16]byte
	for i := range b {
		b[i] = alphabet[h%32]
		h = h/32 ^ mix64(h)
	}
	return string(b[:])
}
