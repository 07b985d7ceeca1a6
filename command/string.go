package command

import (
	"strconv"
	"strings"
	"time"
)

// String writes c back in the language, without the MFA code, for
// acknowledgements ("working on: launch 2 t3.micro for 2h"). Parse(c.String())
// gives c again, less the code.
func (c Command) String() string {
	if c.Task == "" {
		return ""
	}
	w := []string{c.Task}
	if c.Count > 0 {
		w = append(w, strconv.Itoa(c.Count))
	}
	w = append(w, c.InstanceTypes...)
	if c.Preset != "" {
		w = append(w, c.Preset)
	}
	if c.All {
		w = append(w, "all")
	}
	w = append(w, c.InstanceIDs...)
	if c.Region != "" {
		w = append(w, "in", c.Region)
	}
	if c.TTL > 0 {
		kw := "for" // launch for 2h: how long it lives
		if c.Task == Extend {
			kw = "to" // extend all to 4h: its new TTL, from launch
		}
		w = append(w, kw, formatTTL(c.TTL))
	}
	return strings.Join(w, " ")
}

// formatTTL drops the zero units of time.Duration's form: 2h, 90m, 1h30m.
func formatTTL(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
