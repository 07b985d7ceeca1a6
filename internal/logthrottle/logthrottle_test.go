package logthrottle

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/testclock"
)

type key struct{ kind, who string }

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a, b, c := key{"token_invalid", "client:10.0.0.1"}, key{"policy_denied", "token:t1"}, key{"token_invalid", "client:10.0.0.2"}
	type step struct {
		at   time.Duration // since t0
		key  key
		want bool
	}
	tests := map[string]struct {
		max   int
		steps []step
		flush bool
		// want is the summaries emitted, in any order.
		want []Summary[key]
	}{
		"first of a window is logged, the rest held": {
			steps: []step{{0, a, true}, {time.Second, a, false}, {59 * time.Second, a, false}},
		},
		"a held count is summarised when the window ends": {
			steps: []step{{0, a, true}, {time.Second, a, false}, {2 * time.Second, a, false}, {time.Minute, b, true}},
			want:  []Summary[key]{{Key: a, Suppressed: 2, Since: t0}},
		},
		"exactly one window later is a new window": {
			steps: []step{{0, a, true}, {time.Second, a, false}, {time.Minute, a, true}, {time.Minute + time.Second, a, false}},
			want:  []Summary[key]{{Key: a, Suppressed: 1, Since: t0}},
		},
		"just inside the window is held": {
			steps: []step{{0, a, true}, {time.Minute - time.Nanosecond, a, false}},
		},
		"keys are independent": {
			steps: []step{{0, a, true}, {0, b, true}, {0, a, false}, {0, b, false}, {0, b, false}},
			flush: true,
			want:  []Summary[key]{{Key: a, Suppressed: 1, Since: t0}, {Key: b, Suppressed: 2, Since: t0}},
		},
		"nothing held, no summary": {
			steps: []step{{0, a, true}, {0, b, true}, {2 * time.Minute, c, true}},
		},
		"past max keys, new keys are counted together": {
			max:   2,
			steps: []step{{0, a, true}, {0, b, true}, {0, c, false}, {0, c, false}, {0, key{"x", "y"}, false}, {0, a, false}},
			flush: true,
			want: []Summary[key]{{Key: a, Suppressed: 1, Since: t0},
				{Suppressed: 3, Since: t0, Overflow: true, Keys: 2}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(t0)
			at := time.Duration(0)
			var got []Summary[key]
			l := &Limiter[key]{Every: time.Minute, Max: tt.max, Now: clk.Now, Emit: func(s Summary[key]) { got = append(got, s) }}
			for i, s := range tt.steps {
				clk.Add(s.at - at)
				at = s.at
				if ok := l.Allow(s.key); ok != s.want {
					t.Fatalf("step %d: Allow(%v) at +%s = %v; want %v", i, s.key, s.at, ok, s.want)
				}
			}
			if tt.flush {
				l.Flush()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("summaries %+v; want %+v", got, tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("summaries %+v lack %+v", got, w)
				}
			}
		})
	}
}

// Memory stays bounded however many distinct keys flood in.
func TestLimiterBoundedKeys(t *testing.T) {
	l := &Limiter[int]{Max: 100}
	for i := range 100_000 {
		l.Allow(i)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.held) > 100 || len(l.overflow) > 100 || l.spilled != 100_000-100 {
		t.Fatalf("held %d keys, overflow %d keys, spilled %d; want ≤ 100, ≤ 100, %d", len(l.held), len(l.overflow), l.spilled, 100_000-100)
	}
}

// Tick writes a window's summaries once it is over, with no new event.
func TestLimiterTick(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	var got []Summary[string]
	l := &Limiter[string]{Every: time.Minute, Now: clk.Now, Emit: func(s Summary[string]) { got = append(got, s) }}
	l.Tick() // nothing yet
	l.Allow("a")
	l.Allow("a")
	clk.Add(59 * time.Second)
	l.Tick()
	if len(got) != 0 {
		t.Fatalf("Tick inside the window emitted %+v", got)
	}
	clk.Add(time.Second)
	l.Tick()
	l.Tick()
	if len(got) != 1 || got[0] != (Summary[string]{Key: "a", Suppressed: 1, Since: t0}) {
		t.Fatalf("Tick after the window emitted %+v; want one summary of 1", got)
	}
}
