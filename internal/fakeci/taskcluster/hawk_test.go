package taskcluster

import "testing"

// Hawk's published header example (the hawk README): GET
// http://example.com:8000/resource/1?b=1&a=2 with id dh37fgj492je.
func TestHawkPublishedVector(t *testing.T) {
	a := hawkAttrs{ts: "1353832234", nonce: "j4h3g2", ext: "some-app-ext-data"}
	got := hawkMAC("werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn", "GET", "/resource/1?b=1&a=2", "example.com", "8000", a)
	if want := "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="; got != want {
		t.Fatalf("mac %s; want %s", got, want)
	}
}

func TestParseHawk(t *testing.T) {
	tests := []struct {
		name, header string
		ok           bool
	}{
		{name: "full", header: `Hawk id="a", ts="1", nonce="n", mac="m", ext="e"`, ok: true},
		{name: "no mac", header: `Hawk id="a", ts="1", nonce="n"`},
		{name: "repeated id", header: `Hawk id="a", id="b", ts="1", nonce="n", mac="m"`},
		{name: "unknown attribute", header: `Hawk id="a", ts="1", nonce="n", mac="m", x="y"`},
		{name: "unquoted", header: `Hawk id=a, ts="1", nonce="n", mac="m"`},
		{name: "bearer", header: `Bearer abc`},
		{name: "control char", header: "Hawk id=\"a\x01\", ts=\"1\", nonce=\"n\", mac=\"m\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseHawk(tt.header); (err == nil) != tt.ok {
				t.Fatalf("err %v; want ok=%v", err, tt.ok)
			}
		})
	}
}
