package spot

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// mimeParts parses user data as cloud-init would see it and returns each
// part's media type and body; nested multiparts are flattened.
func mimeParts(t *testing.T, data []byte) (types []string, bodies []string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("user data is not MIME: %v", err)
	}
	var walk func(ctype string, body io.Reader)
	walk = func(ctype string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("content type %q: %v", ctype, err)
		}
		if !strings.HasPrefix(mt, "multipart/") {
			b, _ := io.ReadAll(body)
			types, bodies = append(types, mt), append(bodies, string(b))
			return
		}
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			walk(p.Header.Get("Content-Type"), p)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body)
	return types, bodies
}

func TestUserDataGuard(t *testing.T) {
	nested := "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n--XYZ\nContent-Type: text/cloud-config\n\n#cloud-config\npackages: [git]\n--XYZ\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--XYZ--\n"
	tests := []struct {
		name      string
		operator  string
		ttl       time.Duration
		wantTypes []string
		wantCode  string
	}{
		{name: "none", ttl: time.Hour, wantTypes: []string{"text/cloud-boothook"}},
		{name: "cloud-config", operator: "#cloud-config\nruncmd: [echo hi]\n", ttl: 90 * time.Minute, wantTypes: []string{"text/cloud-boothook", "text/cloud-config"}},
		{name: "script", operator: "#!/bin/bash\necho hi", ttl: time.Minute, wantTypes: []string{"text/cloud-boothook", "text/x-shellscript"}},
		{name: "operator MIME kept whole", operator: nested, ttl: time.Hour, wantTypes: []string{"text/cloud-boothook", "text/cloud-config", "text/x-shellscript"}},
		{name: "plain text", operator: "hello", ttl: time.Hour, wantTypes: []string{"text/cloud-boothook", "text/plain"}},
		{name: "just fits", operator: "#!/bin/sh\n" + strings.Repeat("#", MaxUserData-1400), ttl: time.Hour, wantTypes: []string{"text/cloud-boothook", "text/x-shellscript"}},
		{name: "too big", operator: "#!/bin/sh\n" + strings.Repeat("#", MaxUserData), ttl: time.Hour, wantCode: apperr.Invalid},
		{name: "windows", operator: "<powershell>x</powershell>", ttl: time.Hour, wantCode: apperr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := buildUserData([]byte(tt.operator), tt.ttl)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				if !strings.HasPrefix(apperr.Details(err), "userData") {
					t.Errorf("details %q do not name userData", apperr.Details(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > MaxUserData {
				t.Errorf("user data is %d bytes; over %d", len(data), MaxUserData)
			}
			types, bodies := mimeParts(t, data)
			if strings.Join(types, ",") != strings.Join(tt.wantTypes, ",") {
				t.Fatalf("parts %v; want %v", types, tt.wantTypes)
			}
			minutes := int((tt.ttl + time.Minute - 1) / time.Minute)
			if g := bodies[0]; !strings.Contains(g, "shutdown -h") || !strings.Contains(g, "systemd-run") || !strings.Contains(g, " "+strconv.Itoa(minutes)+" * 60") {
				t.Errorf("guard does not power off after %d min:\n%s", minutes, g)
			}
			if tt.operator != "" && tt.name != "operator MIME kept whole" && strings.TrimRight(bodies[1], "\n") != strings.TrimRight(tt.operator, "\n") {
				t.Errorf("operator part changed:\n%q\nwant\n%q", bodies[1], tt.operator)
			}
			again, _ := buildUserData([]byte(tt.operator), tt.ttl)
			if !bytes.Equal(again, data) {
				t.Error("user data not deterministic; templates would not be reused")
			}
		})
	}
}

// TestLaunchTemplateCarriesGuard reads back, from awssim, the launch
// template a launch created: the user data EC2 would run holds the guard
// and the operator's part, and shutdown terminates.
func TestLaunchTemplateCarriesGuard(t *testing.T) {
	e := mustEnv(t)
	s := e.spec("tokA", "ud", 1)
	s.UserData = []byte("#cloud-config\nruncmd: [echo hi]\n")
	res := e.mustLaunch(t, s)
	var found bool
	for _, lt := range e.simRegion().Templates {
		if lt.Name != res.Template {
			continue
		}
		found = true
		if lt.Data.ShutdownBehavior != "terminate" {
			t.Errorf("template shutdown behaviour %q; want terminate", lt.Data.ShutdownBehavior)
		}
		raw, err := base64.StdEncoding.DecodeString(lt.Data.UserData)
		if err != nil {
			t.Fatal(err)
		}
		types, _ := mimeParts(t, raw)
		if strings.Join(types, ",") != "text/cloud-boothook,text/cloud-config" {
			t.Errorf("template user data parts %v", types)
		}
		if len(lt.Data.Tags["volume"]) == 0 {
			t.Errorf("template does not tag volumes")
		}
	}
	if !found {
		t.Fatalf("template %s not in awssim", res.Template)
	}
	// The same spec reuses the template: no second CreateLaunchTemplate.
	e.mustLaunch(t, e.specWith("tokA", "ud2", s))
	if n := e.callCount("CreateLaunchTemplate"); n != 1 {
		t.Errorf("CreateLaunchTemplate sent %d times; want 1", n)
	}
	if _, err := e.client.Status(context.Background(), e.creds, region, "tokA", nil); err != nil {
		t.Fatal(err)
	}
}

func (e *env) specWith(tok, key string, s LaunchSpec) LaunchSpec {
	s.TokenID, s.ClientToken, s.RequestID = tok, ClientToken(tok, key), "req-"+key
	return s
}

// TestGuardUntil: a replacement's guard is armed for an absolute deadline.
// The arming lines are run with /bin/sh (the power-off itself cut off), so
// the test checks what the instance would compute, not only the text.
func TestGuardUntil(t *testing.T) {
	deadline := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		operator string
		wantErr  bool
	}{
		{name: "guard alone", operator: ""},
		{name: "with a script", operator: "#!/bin/sh\necho hi\n"},
		{name: "with cloud-config mentioning the guard's words", operator: "#cloud-config\n# spotter TTL guard: power off 5 minutes after first boot.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, err := buildUserData([]byte(tt.operator), 90*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got, err := guardUntil(orig, deadline)
			if err != nil {
				t.Fatal(err)
			}
			types, bodies := mimeParts(t, got)
			origTypes, origBodies := mimeParts(t, orig)
			if strings.Join(types, ",") != strings.Join(origTypes, ",") {
				t.Fatalf("parts %v; want those of the original, %v", types, origTypes)
			}
			for i := 1; i < len(bodies); i++ {
				if bodies[i] != origBodies[i] {
					t.Errorf("part %d changed:\n%q\nwant\n%q", i, bodies[i], origBodies[i])
				}
			}
			if !strings.Contains(bodies[0], "power off at 2026-11-24T03:00:00Z") || strings.Contains(bodies[0], "minutes after first boot") {
				t.Errorf("guard not armed for the deadline:\n%s", bodies[0])
			}
			if at := armGuard(t, bodies[0]); at != deadline.Unix() {
				t.Errorf("the guard's shell arms %d; want %d", at, deadline.Unix())
			}
			// The launch guard it came from arms TTL minutes from now.
			if at, want := armGuard(t, origBodies[0]), time.Now().Add(90*time.Minute).Unix(); at < want-5 || at > want+5 {
				t.Errorf("the launch guard's shell arms %d; want about %d", at, want)
			}
		})
	}
	if _, err := guardUntil([]byte("#!/bin/sh\necho no guard\n"), deadline); err == nil {
		t.Error("guardUntil accepted user data without spotter's guard")
	}
}

// armGuard runs a guard's arming lines with /bin/sh in a temporary directory
// and returns the deadline it wrote; nothing is powered off.
func armGuard(t *testing.T, guard string) int64 {
	t.Helper()
	dir := t.TempDir()
	script := strings.ReplaceAll(guard, "/var/lib/spotter", dir)
	if i := strings.Index(script, "left="); i >= 0 {
		script = script[:i]
	}
	out, err := exec.Command("/bin/sh", "-c", script+`cat "$f"`).CombinedOutput()
	if err != nil {
		t.Fatalf("guard: %v\n%s", err, out)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("guard wrote %q", out)
	}
	return n
}
