package poolsim

import (
	"bytes"
	"io"
	"net/http"
)

// readWhole reads each answer before RoundTrip returns. The SDK closes a
// request's body once RoundTrip has returned while net/http may still be
// reading it, which fails the connection under the answer being decoded
// (aws-sdk-go-v2 issue 2737; awssim's tests do the same). The harness
// makes one attempt per call: a retry would advance awssim's seeded id
// counter and change which instances are interrupted, so the same seed
// would not give the same day.
type readWhole struct{ next http.RoundTripper }

func (t readWhole) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}
