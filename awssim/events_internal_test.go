package awssim

import "testing"

// TestEventLogKeepsTheLatest fills the log to its limit and one past it:
// at the limit nothing is dropped; past it the oldest tenth goes, and
// sequence numbers and since= go on as before.
func TestEventLogKeepsTheLatest(t *testing.T) {
	for name, tc := range map[string]struct {
		adds      int
		wantFirst uint64
		wantLen   int
	}{
		"below the limit": {maxEvents - 1, 1, maxEvents - 1},
		"at the limit":    {maxEvents, 1, maxEvents},
		"one past it":     {maxEvents + 1, maxEvents/10 + 1, maxEvents - maxEvents/10 + 1},
	} {
		t.Run(name, func(t *testing.T) {
			var l eventLog
			for range tc.adds {
				l.add(eventRec{instanceID: "i-1"})
			}
			all := l.since(0)
			if len(all) != tc.wantLen || all[0].seq != tc.wantFirst || all[len(all)-1].seq != uint64(tc.adds) {
				t.Errorf("log holds %d, seq %d–%d; want %d, seq %d–%d", len(all), all[0].seq, all[len(all)-1].seq, tc.wantLen, tc.wantFirst, tc.adds)
			}
			if tail := l.since(uint64(tc.adds - 2)); len(tail) != 2 || tail[0].seq != uint64(tc.adds-1) {
				t.Errorf("since %d gives %d events; want the last 2", tc.adds-2, len(tail))
			}
		})
	}
}
