// Package api is spotter's vocabulary, each type declared once: the domain
// types the service's packages pass each other (domain.go: an instance, a
// token's usage, a resolved launch, decrypted credentials) and the JSON the
// HTTP API takes and gives, shared by the server side (capability,
// handlers, server) and the client (wire*.go, pool.go). Before it, each
// side declared the same requests and replies for itself, and only the
// end-to-end tests noticed when the copies drifted.
//
// It is a leaf: it imports no spotter package but money (a leaf of the
// standard library only), so the client can depend on it without pulling
// in the server, and every package may import it. Its types hold data and
// little else: lenient decoders where the server accepts what webhook builders send (FlexBool,
// FlexPrice), a token record's status at a given time, and credentials
// that keep their secret out of fmt and logs. The rules live elsewhere
// (policy.Policy is Policy with its rules as methods).
//
// The JSON names are public API (README, "HTTP API"). server/openapi.json
// describes them, and a test there holds each documented schema to its
// type here, field by field.
package api
