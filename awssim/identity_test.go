package awssim_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/awssim"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIdentityDocument: an instance's metadata service serves its identity
// document and an RSA SHA-256 signature that the certificate at
// /_sim/identity-certificate verifies, as EC2's per-Region certificate
// verifies EC2's; an edited document does not verify.
func TestIdentityDocument(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	in := out.Instances[0]
	id := aws.ToString(in.InstanceId)

	code, certPEM := get(t, w.srv.URL+"/_sim/identity-certificate")
	if code != http.StatusOK {
		t.Fatalf("certificate: %d %s", code, certPEM)
	}
	blk, _ := pem.Decode([]byte(certPEM))
	if blk == nil {
		t.Fatalf("not PEM: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	base := w.srv.URL + "/_sim/imds/" + id + "/latest/dynamic/instance-identity/"
	code, doc := get(t, base+"document")
	if code != http.StatusOK {
		t.Fatalf("document: %d %s", code, doc)
	}
	code, sig64 := get(t, base+"signature")
	if code != http.StatusOK {
		t.Fatalf("signature: %d %s", code, sig64)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(sig64, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignature(x509.SHA256WithRSA, []byte(doc), sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if err := cert.CheckSignature(x509.SHA256WithRSA, []byte(strings.Replace(doc, id, "i-0000000000000000f", 1)), sig); err == nil {
		t.Fatal("an edited document verified")
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"instanceId": id, "region": "us-east-1", "instanceType": string(in.InstanceType),
		"imageId": aws.ToString(in.ImageId), "availabilityZone": aws.ToString(in.Placement.AvailabilityZone),
		"pendingTime": in.LaunchTime.UTC().Format(time.RFC3339), "version": "2017-09-30"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v; want %v", k, d[k], v)
		}
	}
	for _, k := range []string{"accountId", "architecture", "privateIp", "kernelId", "billingProducts"} {
		if _, ok := d[k]; !ok {
			t.Errorf("document lacks %s", k)
		}
	}
	if code, _ := get(t, w.srv.URL+"/_sim/imds/i-0000000000000000f/latest/dynamic/instance-identity/document"); code != http.StatusNotFound {
		t.Errorf("unknown instance: %d; want 404", code)
	}
	if code, _ := get(t, base+"pkcs7"); code != http.StatusNotFound {
		t.Errorf("pkcs7: %d; want 404 (not emulated)", code)
	}
}

// TestUserDataIMDS: /latest/user-data serves what the launch sent,
// decoded; 404 without any.
func TestUserDataIMDS(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	in := spotRun("", 1)
	in.UserData = aws.String("IyEvYmluL3NoCmVjaG8gaGkK") // #!/bin/sh\necho hi\n
	out, err := w.ec2.RunInstances(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	if code, body := get(t, w.srv.URL+"/_sim/imds/"+id+"/latest/user-data"); code != http.StatusOK || body != "#!/bin/sh\necho hi\n" {
		t.Errorf("user-data = %d %q", code, body)
	}
	bare, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, w.srv.URL+"/_sim/imds/"+aws.ToString(bare.Instances[0].InstanceId)+"/latest/user-data"); code != http.StatusNotFound {
		t.Errorf("no user data: %d; want 404", code)
	}
}

// TestIMDSv2Token: PUT latest/api/token hands out a session token for
// 1-21600 s; a GET with it is answered until it expires, a GET with a
// made-up one gets 401, one without any (IMDSv1) is answered.
func TestIMDSv2Token(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	base := w.srv.URL + "/_sim/imds/" + aws.ToString(out.Instances[0].InstanceId) + "/latest/"
	put := func(ttl string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, base+"api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	getWith := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"meta-data/instance-id", nil)
		req.Header.Set("X-aws-ec2-metadata-token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for ttl, want := range map[string]int{"0": 400, "1": 200, "21600": 200, "21601": 400, "": 400} {
		if code, _ := put(ttl); code != want {
			t.Errorf("ttl %q: %d; want %d", ttl, code, want)
		}
	}
	_, tok := put("60")
	if code := getWith(tok); code != http.StatusOK {
		t.Errorf("with a live token: %d", code)
	}
	if code := getWith("made-up"); code != http.StatusUnauthorized {
		t.Errorf("with a made-up token: %d; want 401", code)
	}
	if code, _ := get(t, base+"meta-data/instance-id"); code != http.StatusOK {
		t.Errorf("IMDSv1: %d", code)
	}
	w.clock.Advance(time.Minute)
	if code := getWith(tok); code != http.StatusUnauthorized {
		t.Errorf("with an expired token: %d; want 401", code)
	}
}
