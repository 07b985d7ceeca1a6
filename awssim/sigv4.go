package awssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// User registers a long-term IAM user whose requests awssim verifies:
// unlike the lenient default user (any key pair works, as the AWS CLI docs
// assume for local endpoints), a request signed with this access key must
// carry a valid SigV4 signature made with SecretAccessKey, so a test can
// prove which identity a client really signed with.
type User struct {
	Name            string
	AccessKeyID     string
	SecretAccessKey string
}

// AddUser registers u in the emulated account.
func (s *Sim) AddUser(u User) error {
	if u.Name == "" || !strings.HasPrefix(u.AccessKeyID, "AKIA") || len(u.SecretAccessKey) < 16 {
		return fmt.Errorf("add user: want a name, an AKIA… access key id and a secret of 16+ characters")
	}
	p := &principal{
		account: s.iam.account, kind: "user",
		arn:       "arn:aws:iam::" + s.iam.account + ":user/" + u.Name,
		userID:    "AIDA" + strings.ToUpper(fmt.Sprintf("%016x", stableHash(s.iam.account+"/"+u.Name))),
		accessKey: u.AccessKeyID, secret: u.SecretAccessKey, verify: true,
	}
	s.iam.mu.Lock()
	defer s.iam.mu.Unlock()
	s.iam.users[u.AccessKeyID] = p
	return nil
}

// checkSigV4 verifies the SigV4 Authorization header of r against secret,
// with the errors STS and EC2 answer.
func checkSigV4(r *http.Request, body []byte, secret string, svc string) *apiError {
	mismatch := &apiError{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.", Status: http.StatusForbidden}
	if svc == "ec2" {
		mismatch.Status = http.StatusUnauthorized
		mismatch.Code = "AuthFailure"
	}
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return mismatch
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return mismatch
	}
	amzDate := r.Header.Get("X-Amz-Date")
	// The signing time is not held against the clock: tests move the
	// emulated clock (Options.Now) far from the one clients sign with.
	if _, err := time.Parse("20060102T150405Z", amzDate); err != nil || !strings.HasPrefix(amzDate, cred[1]) {
		return mismatch
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) {
		return mismatch
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon.WriteString(path + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = fmt.Sprint(r.ContentLength)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n")
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	canon.WriteString(payload)
	scope := strings.Join(cred[1:], "/")
	sum := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secret)
	for _, part := range cred[1:] {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return mismatch
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalQuery is SigV4's query string: keys sorted, RFC 3986 escaping.
func canonicalQuery(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), v[k]...)
		sort.Strings(vals)
		for _, val := range vals {
			parts = append(parts, sigEscape(k)+"="+sigEscape(val))
		}
	}
	return strings.Join(parts, "&")
}

func sigEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
