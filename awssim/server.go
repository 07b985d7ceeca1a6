package awssim

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	ec2Version = "2016-11-15"
	stsVersion = "2011-06-15"
	ec2XMLNS   = "http://ec2.amazonaws.com/doc/2016-11-15/"
	stsXMLNS   = "https://sts.amazonaws.com/doc/2011-06-15/"

	// maxBody bounds a request: the largest legitimate one is a RunInstances
	// with 16 KB of base64 user data plus a few hundred parameters.
	maxBody = 1 << 20
)

// apiError is an AWS error as it goes on the wire. Status 0 means 400.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

func errInvalidParameterValue(name, value string) *apiError {
	return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value (%s) for parameter %s is invalid.", value, name)}
}

func errMissing(name string) *apiError {
	return &apiError{Code: "MissingParameter", Message: "The request must contain the parameter " + name}
}

func errDryRun() *apiError {
	return &apiError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set.", Status: http.StatusPreconditionFailed}
}

// call is one decoded request with everything a handler needs.
type call struct {
	action    string
	q         query
	requestID string
	region    *region
	caller    *principal
	anonymous bool // the request named no access key
	now       time.Time
}

// handler answers one action, writing its members into x (already opened
// with the response element and request id) or returning an error.
type handler func(c *call, x *xmlWriter) *apiError

type service struct {
	name    string
	version string
	actions map[string]handler
}

func (s *Sim) ec2Actions() map[string]handler {
	return map[string]handler{
		"RunInstances":                   s.runInstances,
		"TerminateInstances":             s.terminateInstances,
		"DescribeInstances":              s.describeInstances,
		"CreateTags":                     s.createTags,
		"DeleteTags":                     s.deleteTags,
		"CreateLaunchTemplate":           s.createLaunchTemplate,
		"DescribeLaunchTemplates":        s.describeLaunchTemplates,
		"DescribeLaunchTemplateVersions": s.describeLaunchTemplateVersions,
		"DeleteLaunchTemplate":           s.deleteLaunchTemplate,
		"CreateFleet":                    s.createFleet,
		"DescribeSpotPriceHistory":       s.describeSpotPriceHistory,
		"DescribeInstanceTypes":          s.describeInstanceTypes,
		"DescribeAvailabilityZones":      s.describeAvailabilityZones,
		"RequestSpotInstances":           s.requestSpotInstances,
		"DescribeSpotInstanceRequests":   s.describeSpotInstanceRequests,
		"CancelSpotInstanceRequests":     s.cancelSpotInstanceRequests,
		"DescribeImages":                 s.describeImages,
		"DescribeRegions":                s.describeRegions,
		"DescribeTags":                   s.describeTags,
		"DescribeInstanceStatus":         s.describeInstanceStatus,
		"StopInstances":                  s.stopInstances,
		"StartInstances":                 s.startInstances,
	}
}

func (s *Sim) stsActions() map[string]handler {
	return map[string]handler{
		"GetCallerIdentity": s.getCallerIdentity,
		"GetSessionToken":   s.getSessionToken,
		"AssumeRole":        s.assumeRole,
	}
}

// serveQuery decodes a Query request, picks the service, applies injected
// latency and faults, and writes the success or error document.
func (s *Sim) serveQuery(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	reqID := s.requestID()
	q, body, perr := parseQuery(r)
	ak, scopeRegion, scopeService := credentialScope(r.Header.Get("Authorization"))
	if ak == "" {
		ak = r.URL.Query().Get("AWSAccessKeyId")
	}
	action := q.str("Action")
	if action != "" {
		s.counters.add(action)
	}
	svc := s.pickService(scopeService, q.str("Version"), action)
	fail := func(e *apiError) {
		s.writeError(w, svc, reqID, e)
		s.log.Debug("answer request", "request_id", reqID, "service", svc.name, "action", action, "status", e.status(), "code", e.Code)
	}
	if perr != nil {
		fail(perr)
		return
	}
	if action == "" {
		fail(&apiError{Code: "MissingAction", Message: "The request must contain the parameter Action."})
		return
	}
	h, ok := svc.actions[action]
	if !ok {
		fail(&apiError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", action)})
		return
	}
	if scopeRegion == "" {
		scopeRegion = DefaultRegion
	}
	reg, ok := s.regions[scopeRegion]
	if !ok {
		fail(&apiError{Code: "AuthFailure", Message: fmt.Sprintf("Region %s is not emulated; use one of %s.", scopeRegion, strings.Join(s.catalog.regionNames(), ", ")), Status: http.StatusUnauthorized})
		return
	}
	if d := s.chaos.latency(action); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if e := s.chaos.fault(action); e != nil {
		fail(e)
		return
	}
	now := s.now()
	caller, aerr := s.iam.authenticate(ak, r.Header.Get("X-Amz-Security-Token"), now, svc.name)
	if aerr == nil && caller.verify {
		aerr = checkSigV4(r, body, caller.secret, svc.name)
	}
	if aerr != nil {
		fail(aerr)
		return
	}
	c := &call{action: action, q: q, requestID: reqID, region: reg, caller: caller, anonymous: ak == "", now: now}
	x := getXMLWriter()
	defer putXMLWriter(x)
	if svc.name == "sts" {
		x.open(action+"Response", "xmlns", stsXMLNS)
		x.open(action + "Result")
	} else {
		x.open(action+"Response", "xmlns", ec2XMLNS)
		x.leaf("requestId", reqID)
	}
	if e := h(c, x); e != nil {
		fail(e)
		return
	}
	if svc.name == "sts" {
		x.close(action + "Result")
		x.open("ResponseMetadata")
		x.leaf("RequestId", reqID)
		x.close("ResponseMetadata")
	}
	x.close(action + "Response")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	w.Write(x.bytes())
	s.log.Debug("answer request", "request_id", reqID, "service", svc.name, "action", action, "status", http.StatusOK, "took", s.now().Sub(start))
}

// pickService trusts the signing scope first (both the SDK and the CLI sign
// with the service name), then the API version, then the action name.
func (s *Sim) pickService(scope, version, action string) service {
	ec2 := service{name: "ec2", version: ec2Version, actions: s.ec2}
	sts := service{name: "sts", version: stsVersion, actions: s.sts}
	switch {
	case scope == "sts":
		return sts
	case scope == "ec2":
		return ec2
	case version == stsVersion:
		return sts
	case version == ec2Version:
		return ec2
	}
	if _, ok := s.sts[action]; ok {
		return sts
	}
	return ec2
}

// parseQuery merges the URL query and a form body, because EC2 accepts GET
// with parameters in the query string as well as the POST form the SDKs send.
// It returns the body too, for the signature check.
func parseQuery(r *http.Request) (query, []byte, *apiError) {
	q := query{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			q[k] = v[0]
		}
	}
	if r.Method != http.MethodPost {
		return q, nil, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, nil, &apiError{Code: "InvalidParameterValue", Message: "Content-Type must be application/x-www-form-urlencoded"}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, nil, &apiError{Code: "InvalidRequest", Message: "could not read the request body"}
	}
	if len(body) > maxBody {
		return nil, nil, &apiError{Code: "InvalidRequest", Message: "request body too large", Status: http.StatusRequestEntityTooLarge}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, &apiError{Code: "MalformedQueryString", Message: "could not decode the form body"}
	}
	for k, v := range form {
		if len(v) > 0 {
			q[k] = v[0]
		}
	}
	return q, body, nil
}

// credentialScope reads `Credential=AKID/date/region/service/aws4_request`
// from a SigV4 Authorization header. The signature itself is not checked.
func credentialScope(auth string) (accessKey, region, service string) {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", "", ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return parts[0], "", ""
	}
	return parts[0], parts[2], parts[3]
}

// writeError writes the error document each protocol's parsers read: EC2's
// <Response><Errors> with RequestID (botocore requires it), STS's
// <ErrorResponse> with RequestId.
func (s *Sim) writeError(w http.ResponseWriter, svc service, reqID string, e *apiError) {
	x := getXMLWriter()
	defer putXMLWriter(x)
	if svc.name == "sts" {
		typ := "Sender"
		if e.status() >= 500 {
			typ = "Receiver"
		}
		x.open("ErrorResponse", "xmlns", stsXMLNS)
		x.open("Error")
		x.leaf("Type", typ)
		x.leaf("Code", e.Code)
		x.leaf("Message", e.Message)
		x.close("Error")
		x.leaf("RequestId", reqID)
		x.close("ErrorResponse")
	} else {
		x.open("Response")
		x.open("Errors")
		x.open("Error")
		x.leaf("Code", e.Code)
		x.leaf("Message", e.Message)
		x.close("Error")
		x.close("Errors")
		x.leaf("RequestID", reqID)
		x.close("Response")
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(e.status())
	w.Write(x.bytes())
}

// requestID formats a seeded id as a UUID, the shape AWS uses.
func (s *Sim) requestID() string {
	a, b := s.nextID(), s.nextID()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}
