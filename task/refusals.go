package task

import (
	"context"
	"log/slog"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/logthrottle"
)

// RefusalLog bounds the audit events of refused tasks: in each interval,
// the first refusal of one kind (source and error code) from one token, or
// from one client address before a token is known, is audited in full;
// the rest are counted and audited as one event when the interval ends.
// Metrics still see every refusal. A nil RefusalLog audits every one.
type RefusalLog struct {
	l *logthrottle.Limiter[refusedKey]
}

// refusedKey names alike refusals by the token's id, never the token.
type refusedKey struct {
	source, code, tokenID, client string
}

// NewRefusalLog writes its counts to audit. every is the interval (0: one
// minute); now is the clock (nil: time.Now).
func NewRefusalLog(audit *slog.Logger, every time.Duration, now func() time.Time) *RefusalLog {
	return &RefusalLog{l: &logthrottle.Limiter[refusedKey]{Every: every, Now: now, Emit: func(s logthrottle.Summary[refusedKey]) {
		attrs := []slog.Attr{slog.String("outcome", "refused"), slog.Int("suppressed", s.Suppressed), slog.Time("since", s.Since)}
		if s.Overflow {
			attrs = append(attrs, slog.Int("sources", s.Keys))
		} else {
			attrs = append(attrs, slog.String("source", s.Key.source), slog.String("error", s.Key.code))
			if s.Key.tokenID != "" {
				attrs = append(attrs, slog.String("token_id", s.Key.tokenID))
			} else {
				attrs = append(attrs, slog.String("client", s.Key.client))
			}
		}
		audit.LogAttrs(context.Background(), slog.LevelInfo, "audit: refusals not logged one by one", attrs...)
	}}}
}

// allow reports whether this refusal is audited in full.
func (r *RefusalLog) allow(g Guarded, err error) bool {
	if r == nil {
		return true
	}
	k := refusedKey{source: g.Source, code: apperr.Code(err), tokenID: g.Token.ID}
	if k.tokenID == "" {
		k.client = g.Client
	}
	return r.l.Allow(k)
}

// tick audits the counts of a window that is over; every task calls it,
// so a flood's count follows soon after the flood stops.
func (r *RefusalLog) tick() {
	if r != nil {
		r.l.Tick()
	}
}

// Flush audits the counts held so far (at shutdown).
func (r *RefusalLog) Flush() {
	if r != nil {
		r.l.Flush()
	}
}
