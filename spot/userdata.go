package spot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// MaxUserData is EC2's limit on user data, before base64.
const MaxUserData = 16 * 1024

// ttlGuard is a cloud-init boothook: boothooks run on every boot, unlike
// x-shellscript parts, which run once per instance. The deadline is fixed on
// the first boot and re-armed on each later one, so a reboot cannot extend
// the instance's life. Powering off terminates it, because spotter launches
// with InstanceInitiatedShutdownBehavior=terminate. systemd-run is used
// where present (a transient timer survives a stray `shutdown -c`);
// `shutdown -h +N` is the fallback. The reaper still ends the instance at
// spotter:expires-at; this guard is what holds when spotter is gone.
const ttlGuard = `#cloud-boothook
#!/bin/sh
# spotter TTL guard: power off %[1]d minutes after first boot.
f=/var/lib/spotter/ttl-deadline
mkdir -p /var/lib/spotter
[ -s "$f" ] || echo $(( $(date +%%s) + %[1]d * 60 )) > "$f"
left=$(( ($(cat "$f") - $(date +%%s) + 59) / 60 ))
[ "$left" -ge 1 ] || left=1
if command -v systemd-run >/dev/null 2>&1 && systemd-run --unit=spotter-ttl --on-active="${left}m" /bin/systemctl poweroff --no-block; then
  :
else
  shutdown -h +"$left" "spotter TTL reached" >/dev/null 2>&1 &
fi
`

// buildUserData returns the MIME multipart user data holding the TTL guard
// and the operator's own user data as a separate part with its original
// content type, so cloud-init runs both. A cloud-init MIME document the
// operator sent is nested whole, which cloud-init walks like any other.
func buildUserData(operator []byte, ttl time.Duration) ([]byte, error) {
	minutes := int((ttl + time.Minute - 1) / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	guard := fmt.Sprintf(ttlGuard, minutes)

	parts := []opPart{{ctype: `text/cloud-boothook; charset="us-ascii"`, body: []byte(guard)}}
	if len(bytes.TrimSpace(operator)) > 0 {
		p, err := operatorPart(operator)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}

	// A deterministic boundary keeps the launch template (named by a hash of
	// its contents) the same for the same spec.
	sum := sha256.Sum256(append([]byte(guard), operator...))
	boundary := "spotter-" + hex.EncodeToString(sum[:12])
	if bytes.Contains(operator, []byte(boundary)) {
		return nil, apperr.New(apperr.Invalid, "userData: contains the MIME boundary spotter uses; change it slightly")
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\nMIME-Version: 1.0\n\n", boundary)
	for i, p := range parts {
		fmt.Fprintf(&b, "--%s\nContent-Type: %s\nMIME-Version: 1.0\nContent-Disposition: attachment; filename=\"part-%03d\"\n\n", boundary, p.ctype, i)
		b.Write(p.body)
		if !bytes.HasSuffix(p.body, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "--%s--\n", boundary)
	if b.Len() > MaxUserData {
		return nil, apperr.New(apperr.Invalid, "userData: %d bytes with spotter's TTL guard, over EC2's %d-byte limit; shorten it by %d bytes", b.Len(), MaxUserData, b.Len()-MaxUserData)
	}
	return b.Bytes(), nil
}

// opPart is one part of the MIME user data.
type opPart struct {
	ctype string
	body  []byte
}

// cloud-init's first-line markers and the MIME types it maps them to.
var userDataStarts = []struct{ prefix, ctype string }{
	{"#cloud-config-archive", "text/cloud-config-archive"},
	{"#cloud-config", "text/cloud-config"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"#include-once", "text/x-include-once-url"},
	{"#include", "text/x-include-url"},
	{"#part-handler", "text/part-handler"},
	{"## template: jinja", "text/jinja2"},
	{"#!", "text/x-shellscript"},
}

// operatorPart classifies the operator's user data for cloud-init.
func operatorPart(data []byte) (opPart, error) {
	switch {
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		return opPart{}, apperr.New(apperr.Invalid, "userData: gzip-compressed user data cannot carry spotter's TTL guard; send it uncompressed")
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("<powershell>")), bytes.HasPrefix(bytes.TrimSpace(data), []byte("<script>")):
		return opPart{}, apperr.New(apperr.Invalid, "userData: Windows user data cannot carry spotter's TTL guard; use a cloud-init (Linux) AMI")
	}
	if ct, body, ok := mimeDocument(data); ok {
		return opPart{ctype: ct, body: body}, nil
	}
	first := data
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	for _, s := range userDataStarts {
		if bytes.HasPrefix(first, []byte(s.prefix)) {
			return opPart{ctype: s.ctype + `; charset="utf-8"`, body: data}, nil
		}
	}
	// Anything else cloud-init would not run; keep it readable for tools on
	// the instance that read user data themselves.
	return opPart{ctype: `text/plain; charset="utf-8"`, body: data}, nil
}

// mimeDocument recognises a MIME user-data document (what cloud-init's
// make-mime writes) and returns its content type and body.
func mimeDocument(data []byte) (ctype string, body []byte, ok bool) {
	head := strings.ToLower(string(data[:min(len(data), 64)]))
	if !strings.HasPrefix(head, "content-type:") && !strings.HasPrefix(head, "mime-version:") {
		return "", nil, false
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return "", nil, false
	}
	ct := msg.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(ct), "multipart/") {
		return "", nil, false
	}
	rest := new(bytes.Buffer)
	if _, err := rest.ReadFrom(msg.Body); err != nil {
		return "", nil, false
	}
	return ct, rest.Bytes(), true
}

// guardAtLine is what arms a replacement's guard: not TTL minutes from its
// own first boot but the absolute expiry of the instance it replaces, so a
// replacement launched late in its original's life still powers off at that
// expiry when spotter is gone.
const guardAtLine = `# spotter TTL guard: power off at %[1]s, the expiry of the instance this one replaces.
f=/var/lib/spotter/ttl-deadline
mkdir -p /var/lib/spotter
[ -s "$f" ] || echo %[2]d > "$f"
`

// guardMinutesRE finds the relative arming lines of ttlGuard in user data
// spotter built: the comment and the first-boot deadline, with the minutes.
var guardMinutesRE = regexp.MustCompile(`# spotter TTL guard: power off (\d+) minutes after first boot\.\nf=/var/lib/spotter/ttl-deadline\nmkdir -p /var/lib/spotter\n\[ -s "\$f" \] \|\| echo \$\(\( \$\(date \+%s\) \+ (\d+) \* 60 \)\) > "\$f"\n`)

// guardUntil rewrites user data built by buildUserData so its guard powers
// off at deadline instead of TTL minutes after first boot. It fails on user
// data that does not hold exactly one such guard.
func guardUntil(userData []byte, deadline time.Time) ([]byte, error) {
	locs := guardMinutesRE.FindAllIndex(userData, -1)
	if len(locs) != 1 {
		return nil, fmt.Errorf("user data holds %d spotter TTL guards; want 1", len(locs))
	}
	at := deadline.UTC().Truncate(time.Second)
	line := fmt.Sprintf(guardAtLine, at.Format(time.RFC3339), at.Unix())
	out := make([]byte, 0, len(userData)+len(line))
	out = append(out, userData[:locs[0][0]]...)
	out = append(out, line...)
	out = append(out, userData[locs[0][1]:]...)
	if len(out) > MaxUserData {
		return nil, fmt.Errorf("user data with an absolute guard is %d bytes, over EC2's %d", len(out), MaxUserData)
	}
	return out, nil
}
