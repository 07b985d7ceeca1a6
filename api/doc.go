// Package api is spotter's public vocabulary: the JSON the HTTP API takes
// and gives, declared once for the server side (capability, handlers) and
// the client. Before it, each side declared the same requests and replies
// for itself, and only the end-to-end tests noticed when they drifted.
//
// It is a leaf: it imports no spotter package, so the client can depend on
// it without pulling in the server. Types here carry no behaviour beyond
// their JSON (lenient decoders where the server accepts what webhook
// builders send) and keeping their secrets out of logs. The JSON names are
// public API (README, "HTTP API"; server/openapi.json, whose schemas a test
// holds to these types field by field).
package api
