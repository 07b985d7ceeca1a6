package awssim

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// principal is who a request acts as, selected by its access key id.
type principal struct {
	account   string
	arn       string
	userID    string
	kind      string // "user", "session" (GetSessionToken) or "role" (AssumeRole)
	accessKey string
	secret    string
	token     string
	expires   time.Time
	mfa       bool // authenticated with MFA, what aws:MultiFactorAuthPresent tests
	verify    bool // a registered user: requests must carry its valid signature
}

// Role configures an assumable role. Roles that were never registered can
// still be assumed within the account, with no external id or MFA condition
// and a one-hour maximum, so ad-hoc ARNs work in demos.
type Role struct {
	ARN                string
	ExternalID         string        // required value of ExternalId, if set
	RequireMFA         bool          // trust policy requires aws:MultiFactorAuthPresent
	MaxSessionDuration time.Duration // 1 h if zero
}

type iamState struct {
	account string

	def *principal // the default user, shared: principals are immutable

	mu    sync.RWMutex
	keys  map[string]*principal // access key id → principal
	users map[string]*principal // registered users (AddUser), by access key id
	roles map[string]Role
}

func newIAMState(account string) *iamState {
	st := &iamState{account: account, roles: map[string]Role{}, users: map[string]*principal{}}
	st.def = &principal{
		account: account,
		arn:     "arn:aws:iam::" + account + ":user/" + DefaultUserName,
		userID:  "AIDA" + strings.ToUpper(fmt.Sprintf("%016x", stableHash(account+"/"+DefaultUserName))),
		kind:    "user",
	}
	st.reset()
	return st
}

// reset forgets every session but keeps roles and users, which are configuration.
func (st *iamState) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.keys = map[string]*principal{}
}

// RegisterRole adds or replaces an assumable role's conditions.
func (s *Sim) RegisterRole(r Role) error {
	if _, _, err := parseRoleARN(r.ARN); err != nil {
		return fmt.Errorf("register role: %w", err)
	}
	s.iam.mu.Lock()
	defer s.iam.mu.Unlock()
	s.iam.roles[r.ARN] = r
	return nil
}

var roleARN = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$`)

func parseRoleARN(arn string) (account, name string, err error) {
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return "", "", fmt.Errorf("malformed role ARN %q", arn)
	}
	return m[1], m[3], nil
}

// authenticate maps the signing key to a principal. Long-term keys other
// than session keys are all taken as the default user, so any dummy key pair
// works, as the AWS CLI docs assume for local endpoints; session keys must
// be ones this Sim issued and must not have expired.
func (st *iamState) authenticate(accessKey, token string, now time.Time, svc string) (*principal, *apiError) {
	st.mu.RLock()
	p, ok := st.keys[accessKey]
	if u, user := st.users[accessKey]; user {
		p, ok = u, true
	}
	st.mu.RUnlock()
	if !ok {
		if strings.HasPrefix(accessKey, "ASIA") {
			if svc == "sts" {
				return nil, &apiError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
			}
			return nil, &apiError{Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials", Status: http.StatusUnauthorized}
		}
		return st.def, nil
	}
	if p.token != "" && token != p.token {
		if svc == "sts" {
			return nil, &apiError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
		}
		return nil, &apiError{Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials", Status: http.StatusUnauthorized}
	}
	if !p.expires.IsZero() && !now.Before(p.expires) {
		if svc == "sts" {
			return nil, &apiError{Code: "ExpiredToken", Message: "The security token included in the request is expired", Status: http.StatusForbidden}
		}
		return nil, &apiError{Code: "RequestExpired", Message: "Request has expired."}
	}
	return p, nil
}

// issue mints session credentials for p and registers them.
func (s *Sim) issue(p *principal, d time.Duration, now time.Time) *principal {
	a, b, c, e := s.nextID(), s.nextID(), s.nextID(), s.nextID()
	var raw [32]byte
	binary.BigEndian.PutUint64(raw[0:], a)
	binary.BigEndian.PutUint64(raw[8:], b)
	binary.BigEndian.PutUint64(raw[16:], c)
	binary.BigEndian.PutUint64(raw[24:], e)
	p.accessKey = "ASIA" + base32.StdEncoding.EncodeToString(raw[:10])[:16]
	p.secret = base64.StdEncoding.EncodeToString(raw[2:32])[:40]
	p.token = "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(raw[:])
	p.expires = now.Add(d).Truncate(time.Second)
	s.iam.mu.Lock()
	s.iam.keys[p.accessKey] = p
	s.iam.mu.Unlock()
	return p
}

func writeCredentials(x *xmlWriter, p *principal) {
	x.open("Credentials")
	x.leaf("AccessKeyId", p.accessKey)
	x.leaf("SecretAccessKey", p.secret)
	x.leaf("SessionToken", p.token)
	x.time("Expiration", p.expires)
	x.close("Credentials")
}

func errAccessDenied(msg string) *apiError {
	return &apiError{Code: "AccessDenied", Message: msg, Status: http.StatusForbidden}
}

func errValidation(msg string) *apiError {
	return &apiError{Code: "ValidationError", Message: msg}
}

func (s *Sim) getCallerIdentity(c *call, x *xmlWriter) *apiError {
	x.leaf("Arn", c.caller.arn)
	x.leaf("UserId", c.caller.userID)
	x.leaf("Account", c.caller.account)
	return nil
}

// durationParam reads DurationSeconds within [lo, hi], defaulting to def.
func durationParam(q query, def, lo, hi int) (time.Duration, *apiError) {
	n, ok, err := q.integer("DurationSeconds")
	if err != nil {
		return 0, errValidation("1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must be a number")
	}
	if !ok {
		n = def
	}
	if n < lo {
		return 0, errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", n, lo))
	}
	if n > hi {
		return 0, errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", n, hi))
	}
	return time.Duration(n) * time.Second, nil
}

var tokenCodeRE = regexp.MustCompile(`^\d{6}$`)

// checkMFA verifies SerialNumber + TokenCode when either is given. A serial
// without a code is refused: the device requires one.
func (s *Sim) checkMFA(q query, now time.Time) (used bool, err *apiError) {
	serial, code := q.str("SerialNumber"), q.str("TokenCode")
	if serial == "" && code == "" {
		return false, nil
	}
	if serial == "" {
		return false, errValidation("TokenCode requires SerialNumber")
	}
	if code == "" {
		return false, errAccessDenied("MultiFactorAuthentication failed: the MFA device " + serial + " requires a TokenCode.")
	}
	if !tokenCodeRE.MatchString(code) {
		return false, errValidation("1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*")
	}
	switch e := s.mfa.verify(serial, code, now); {
	case e == nil:
		return true, nil
	case errors.Is(e, errMFAReused):
		return false, errAccessDenied("MultiFactorAuthentication failed, the MFA code has already been used.")
	case errors.Is(e, errMFAUnknown):
		return false, errAccessDenied("MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user.")
	default:
		return false, errAccessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code.")
	}
}

func (s *Sim) getSessionToken(c *call, x *xmlWriter) *apiError {
	if c.caller.kind != "user" {
		return errAccessDenied("Cannot call GetSessionToken with session credentials")
	}
	d, err := durationParam(c.q, 43200, 900, 129600)
	if err != nil {
		return err
	}
	mfa, err := s.checkMFA(c.q, c.now)
	if err != nil {
		return err
	}
	p := &principal{account: c.caller.account, arn: c.caller.arn, userID: c.caller.userID, kind: "session", mfa: mfa}
	writeCredentials(x, s.issue(p, d, c.now))
	return nil
}

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (s *Sim) assumeRole(c *call, x *xmlWriter) *apiError {
	if c.anonymous {
		// AWS signs every STS call but a few web-identity ones; an
		// unsigned AssumeRole is how a client without credentials shows.
		return &apiError{Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token", Status: http.StatusForbidden}
	}
	q := c.q
	arn, name := q.str("RoleArn"), q.str("RoleSessionName")
	if arn == "" {
		return errValidation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if !sessionNameRE.MatchString(name) {
		return errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name))
	}
	account, roleName, perr := parseRoleARN(arn)
	denied := errAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.caller.arn, arn))
	if perr != nil {
		return errValidation(perr.Error())
	}
	if account != c.caller.account {
		return denied
	}
	s.iam.mu.RLock()
	role, registered := s.iam.roles[arn]
	s.iam.mu.RUnlock()
	maxDur := int(time.Hour / time.Second)
	if registered && role.MaxSessionDuration > 0 {
		maxDur = int(role.MaxSessionDuration / time.Second)
	}
	chained := c.caller.kind == "role"
	if n, ok, _ := q.integer("DurationSeconds"); ok && n > maxDur || ok && chained && n > 3600 {
		if chained {
			return errValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
		}
		return errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	d, err := durationParam(q, 3600, 900, maxDur)
	if err != nil {
		return err
	}
	if registered && role.ExternalID != "" && q.str("ExternalId") != role.ExternalID {
		return denied
	}
	mfa, err := s.checkMFA(q, c.now)
	if err != nil {
		return err
	}
	mfa = mfa || c.caller.mfa
	if registered && role.RequireMFA && !mfa {
		return denied
	}
	roleID := "AROA" + strings.ToUpper(fmt.Sprintf("%016x", stableHash(arn)))
	p := &principal{
		account: account,
		arn:     "arn:aws:sts::" + account + ":assumed-role/" + roleName + "/" + name,
		userID:  roleID + ":" + name,
		kind:    "role",
		mfa:     mfa,
	}
	writeCredentials(x, s.issue(p, d, c.now))
	x.open("AssumedRoleUser")
	x.leaf("AssumedRoleId", p.userID)
	x.leaf("Arn", p.arn)
	x.close("AssumedRoleUser")
	if src := q.str("SourceIdentity"); src != "" {
		x.leaf("SourceIdentity", src)
	}
	return nil
}
