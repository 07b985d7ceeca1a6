package awssim

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1 column, cut to the 6 digits AWS uses.
func TestTOTPVectors(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	tests := []struct {
		unix int64
		want string
	}{
		{unix: 59, want: "287082"},
		{unix: 1111111109, want: "081804"},
		{unix: 1111111111, want: "050471"},
		{unix: 1234567890, want: "005924"},
		{unix: 2000000000, want: "279037"},
		{unix: 20000000000, want: "353130"},
	}
	for _, tt := range tests {
		got, err := TOTP(secret, time.Unix(tt.unix, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("TOTP(%d) = %s; want %s", tt.unix, got, tt.want)
		}
	}
}

func TestMFAReplay(t *testing.T) {
	m := newMFAState()
	key, _ := decodeSecret(DefaultMFASecret)
	m.devices["d"] = &mfaDevice{key: key}
	now := time.Unix(1_700_000_000, 0)
	step := now.Unix() / 30
	tests := []struct {
		name string
		code string
		want error
	}{
		{name: "previous step, within skew", code: totpAt(key, step-1), want: nil},
		{name: "same code again", code: totpAt(key, step-1), want: errMFAReused},
		{name: "current step", code: totpAt(key, step), want: nil},
		{name: "older step after a newer one", code: totpAt(key, step-1), want: errMFAReused},
		{name: "two steps ahead", code: totpAt(key, step+2), want: errMFAInvalid},
	}
	for _, tt := range tests {
		if got := m.verify("d", tt.code, now); got != tt.want {
			t.Errorf("%s: verify = %v; want %v", tt.name, got, tt.want)
		}
	}
	if got := m.verify("unknown", "123456", now); got != errMFAUnknown {
		t.Errorf("unknown device: %v", got)
	}
}

func TestQueryLists(t *testing.T) {
	q := query{
		"InstanceId.2": "i-b", "InstanceId.1": "i-a", "InstanceId.10": "i-j",
		"Filter.1.Name": "tag:team", "Filter.1.Value.1": "red", "Filter.1.Value.2": "blue",
		"Filter.2.Name": "instance-state-name", "Filter.2.Value.1": "running",
		"Tags.member.1.Key": "k", "Tags.member.1.Value": "v",
	}
	if got := strings.Join(q.list("InstanceId"), ","); got != "i-a,i-b,i-j" {
		t.Errorf("list(InstanceId) = %s; want i-a,i-b,i-j (numeric order)", got)
	}
	fs, err := parseFilters(q)
	if err != nil || len(fs) != 2 || fs[0].name != "tag:team" || strings.Join(fs[0].values, ",") != "red,blue" {
		t.Errorf("parseFilters = %+v, %v", fs, err)
	}
	if m := q.structs("Tags.member"); len(m) != 1 || m[0]["Key"] != "k" {
		t.Errorf("structs(Tags.member) = %v", m)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"red", "red", true},
		{"red", "reds", false},
		{"r*", "red", true},
		{"*d", "red", true},
		{"r?d", "red", true},
		{"r?d", "rd", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"*", "", true},
		{"team/*", "team/x/y", true},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v; want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestCatalog(t *testing.T) {
	c, err := loadCatalog(catalogGz)
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]int{}
	for _, it := range c.InstanceTypes {
		families[it.Family]++
		if it.VCPU <= 0 || it.MemoryMiB <= 0 || len(it.Arch) == 0 {
			t.Errorf("%s lacks specs: %+v", it.Name, it)
		}
	}
	if len(c.InstanceTypes) < 800 {
		t.Errorf("%d types; want every current one (at least 800)", len(c.InstanceTypes))
	}
	if c.Date == "" || c.Date == "unknown" {
		t.Errorf("catalogue date %q; want the data set's", c.Date)
	}
	for _, f := range []string{"General purpose", "Compute optimized", "Memory optimized", "GPU instance"} {
		if families[f] == 0 {
			t.Errorf("no %s types (have %v)", f, families)
		}
	}
	if len(c.Regions) < 30 {
		t.Errorf("%d regions; want every commercial one (at least 30)", len(c.Regions))
	}
	for _, r := range c.Regions {
		if len(r.Zones) < 2 || len(c.offered[r.Name]) == 0 {
			t.Errorf("region %s: %d zones, %d types", r.Name, len(r.Zones), len(c.offered[r.Name]))
		}
	}
}

func TestLoadCatalog(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	const regions = `"regions":[{"name":"r1","zones":[{"name":"r1a","id":"r1-az1"}]},{"name":"r2","zones":[{"name":"r2a","id":"r2-az1"}]}]`
	const spec = `"vcpu":2,"memoryMiB":1024,"arch":["x86_64"]`
	tests := []struct {
		name, doc   string
		wantErr     bool
		wantOffered map[string][]string
	}{
		{name: "type priced in one region only is offered there only",
			doc:         `{` + regions + `,"instanceTypes":[{"name":"a.large",` + spec + `,"prices":{"r1":[0.1,0.03,0.04]}},{"name":"b.large",` + spec + `,"prices":{"r1":[0.2,0.05,0.06],"r2":[0.2,0.05,0.06]}}]}`,
			wantOffered: map[string][]string{"r1": {"a.large", "b.large"}, "r2": {"b.large"}}},
		{name: "unusable price in a region leaves the type out of it",
			doc:         `{` + regions + `,"instanceTypes":[{"name":"a.large",` + spec + `,"prices":{"r1":[0.1,0.05,0.04],"r2":[0.1,0.03,0.04]}}]}`,
			wantOffered: map[string][]string{"r2": {"a.large"}}},
		{name: "type priced nowhere", doc: `{` + regions + `,"instanceTypes":[{"name":"a.large",` + spec + `,"prices":{}}]}`, wantErr: true},
		{name: "no regions", doc: `{"instanceTypes":[]}`, wantErr: true},
		{name: "region without zones", doc: `{"regions":[{"name":"r1"}],"instanceTypes":[{"name":"a.large",` + spec + `,"prices":{"r1":[0.1,0.03,0.04]}}]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadCatalog(gz(tt.doc))
			if tt.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for r, want := range tt.wantOffered {
				var got []string
				for _, t := range c.offered[r] {
					got = append(got, t.Name)
				}
				if !slices.Equal(got, want) {
					t.Errorf("offered in %s: %v; want %v", r, got, want)
				}
			}
			if len(c.offered) != len(tt.wantOffered) {
				t.Errorf("offered in %d regions; want %d", len(c.offered), len(tt.wantOffered))
			}
		})
	}
	if _, err := loadCatalog([]byte("{}")); err == nil {
		t.Error("an uncompressed file was accepted")
	}
}

// Prices stay in range and change over time but not within an hour.
func TestSpotPriceWorld(t *testing.T) {
	s := New(Options{Seed: 9})
	p, _ := s.catalog.price("us-east-1", "c5.large")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[float64]bool{}
	for h := range 48 {
		at := t0.Add(time.Duration(h) * time.Hour)
		v := s.spotPrice("us-east-1", "us-east-1a", "c5.large", at)
		if v < p.SpotMin || v > p.SpotMax {
			t.Fatalf("price %v at hour %d outside [%v, %v]", v, h, p.SpotMin, p.SpotMax)
		}
		if w := s.spotPrice("us-east-1", "us-east-1a", "c5.large", at.Add(59*time.Minute)); w != v {
			t.Errorf("price changed within an hour: %v → %v", v, w)
		}
		seen[v] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct prices in 48 hours", len(seen))
	}
	other := New(Options{Seed: 10})
	if other.spotPrice("us-east-1", "us-east-1a", "c5.large", t0) == s.spotPrice("us-east-1", "us-east-1a", "c5.large", t0) &&
		other.spotPrice("us-east-1", "us-east-1b", "c5.large", t0) == s.spotPrice("us-east-1", "us-east-1b", "c5.large", t0) {
		t.Error("different seeds give the same prices")
	}
}

// The wire documents, byte for byte where botocore and the SDK are strict.
func TestErrorDocuments(t *testing.T) {
	s := New(Options{})
	tests := []struct {
		name, body string
		status     int
		contains   []string
	}{
		{name: "EC2 error", body: "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-00000000", status: 400,
			contains: []string{"<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>", "</Error></Errors><RequestID>"}},
		{name: "STS error", body: "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=1", status: 400,
			contains: []string{`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ValidationError</Code>`, "</Error><RequestId>"}},
		{name: "STS success", body: "Action=GetCallerIdentity&Version=2011-06-15", status: 200,
			contains: []string{"<GetCallerIdentityResponse xmlns=", "<GetCallerIdentityResult><Arn>", "</GetCallerIdentityResult><ResponseMetadata><RequestId>"}},
		{name: "EC2 success", body: "Action=DescribeAvailabilityZones&Version=2016-11-15", status: 200,
			contains: []string{`<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`, "<availabilityZoneInfo><item><zoneName>us-east-1a</zoneName>"}},
		{name: "unknown action", body: "Action=RebootInstances&Version=2016-11-15", status: 400, contains: []string{"<Code>InvalidAction</Code>"}},
		{name: "dry run", body: "Action=DescribeAvailabilityZones&Version=2016-11-15&DryRun=true", status: 412, contains: []string{"<Code>DryRunOperation</Code>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status %d; want %d", rec.Code, tt.status)
			}
			for _, c := range tt.contains {
				if !strings.Contains(rec.Body.String(), c) {
					t.Errorf("body lacks %q:\n%s", c, rec.Body)
				}
			}
		})
	}
	// EC2 also takes GET with the parameters in the query string.
	req := httptest.NewRequest(http.MethodGet, "/?Action=DescribeAvailabilityZones&Version=2016-11-15", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("GET query request: %d %s", rec.Code, rec.Body)
	}
}
