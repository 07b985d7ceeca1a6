package command

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse times Parse on the longest text each size can carry, up to
// the 64 KiB a request body may hold. Text up to MaxTextLen is parsed word
// by word (a worst case: every word is tried against every rule); anything
// longer is refused before it is read, so ns/op must stay flat past 1 KiB.
//
//	go test -run '^$' -bench Parse -benchmem ./command/
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{256, 512, 1 << 10, 8 << 10, 64 << 10} {
		text := worstText(n)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				_, _ = Parse(text)
			}
		})
	}
}

// worstText is n bytes of a launch whose every word is checked against each
// rule before one fits, the last word a long unknown one.
func worstText(n int) string {
	var b strings.Builder
	b.WriteString("launch 2")
	for words := 2; b.Len() < n-40 && words < MaxWords-1; words++ {
		b.WriteString(" t3.micro")
	}
	b.WriteByte(' ')
	b.WriteString(strings.Repeat("z", n-b.Len()))
	return b.String()
}
