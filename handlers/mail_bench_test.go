package handlers

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkMailCommand times picking the command out of a mail at the sizes
// a 64 KiB body can carry, with the input that once made it quadratic: a
// subject of "Re: " prefixes (each cut re-lowered the whole rest). ns/op
// must grow about linearly with the size: ×8 bytes, ≈×8 time.
//
//	go test -run '^$' -bench MailCommand -benchmem ./handlers/
func BenchmarkMailCommand(b *testing.B) {
	for _, n := range []int{1 << 10, 8 << 10, 64 << 10} {
		subject := strings.Repeat("Re: ", n/4-2) + "status"
		body := strings.Repeat("> quoted\n", n/9)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(len(subject) + len(body)))
			for b.Loop() {
				if got := mailCommand(subject, body); got != "status" {
					b.Fatalf("mailCommand = %.40q; want status", got)
				}
			}
		})
	}
}

func TestMailCommandPrefixes(t *testing.T) {
	tests := []struct {
		name, subject, body, want string
	}{
		{name: "every prefix, any case", subject: "FWD:re:Aw: WG:\tfw: launch 2", want: "launch 2"},
		{name: "thousands of prefixes", subject: strings.Repeat("Re: ", 4000) + "status", want: "status"},
		{name: "prefix alone", subject: "Re:", body: "status", want: "status"},
		{name: "prefix-like word", subject: "Reboot", body: "status", want: "status"},
		{name: "multi-byte start", subject: "Ré: status", body: "price", want: "price"},
		{name: "line 201 is read", body: strings.Repeat("\n", 200) + "status", want: "status"},
		{name: "line 202 is not", subject: "help", body: strings.Repeat("\n", 201) + "status", want: "help"},
		{name: "CRLF lines", body: "> quoted\r\n\r\nterminate all\r\n", want: "terminate all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mailCommand(tt.subject, tt.body); got != tt.want {
				t.Errorf("mailCommand(%.40q, %.40q) = %.40q; want %q", tt.subject, tt.body, got, tt.want)
			}
		})
	}
}
