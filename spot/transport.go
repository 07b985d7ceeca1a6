package spot

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// maxResponse bounds one AWS answer read into memory. EC2 pages hold at
// most 1,000 instances (about 4 MB of XML); anything far larger is not an
// answer spotter asked for.
const maxResponse = 64 << 20

// wholeBodies reads each AWS answer off the connection in one go before the
// SDK decodes it. The SDK decodes XML as it reads; decoding a page of
// instances is slower than the network delivers it, so the socket's
// receive window fills and the sender waits on the receiver's window
// update, which the kernel may hold back as a delayed ACK (up to 40 ms on
// Linux). Under scripts/bench.sh with one worker those stalls put p99 at
// 30–50 ms; read whole, it is 8 ms. The connection also goes back to the
// pool before decoding starts, and an answer is never cut off by net/http
// closing the connection because the SDK closed the request body once
// RoundTrip returned ("use of closed network connection", aws-sdk-go-v2
// issue 2737).
type wholeBodies struct {
	next http.RoundTripper
	max  int64 // bytes; 0 means maxResponse
}

func (t wholeBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	limit := cmp.Or(t.max, maxResponse)
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	resp.Body.Close()
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s answered with more than %d bytes", r.URL.Host, limit)
	}
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	return resp, nil
}

// httpClient is hc with its transport reading whole bodies; nil means the
// SDK's default transport.
func httpClient(hc *http.Client) *http.Client {
	if hc == nil {
		hc = &http.Client{Transport: awshttp.NewBuildableClient().GetTransport()}
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out := *hc
	out.Transport = wholeBodies{next: next}
	return &out
}
