package activity

import (
	"context"
	"time"
)

// Spend is a token's estimated spend, in UTC days and months.
//
// It is sampled, not billed: at each reaper pass, the interval since the
// last sample is charged at the mean of the token's $/h then and now. A
// short-lived instance between two passes is missed, as is the interval in
// which a token went from idle to running, and a gap longer
// than the caller's maxGap (a reaper that was down) is not charged at all
// rather than guessed. It is a glance for the console and the capability
// page, not an invoice; AWS's bill is the truth.
type Spend struct {
	Until     time.Time `json:"until"` // charged up to here
	Rate      float64   `json:"rate"`  // $/h at Until
	Day       string    `json:"day"`   // 2006-01-02
	Today     float64   `json:"today"`
	Month     string    `json:"month"` // 2006-01
	ThisMonth float64   `json:"thisMonth"`
}

// At returns s as seen at now: a day or month that is over reads zero.
func (s Spend) At(now time.Time) Spend {
	now = now.UTC()
	if s.Day != now.Format(time.DateOnly) {
		s.Today = 0
	}
	if s.Month != now.Format("2006-01") {
		s.ThisMonth = 0
	}
	return s
}

// charge adds the interval (s.Until, now] at the mean of s.Rate and rate.
func (s *Spend) charge(now time.Time, rate float64, maxGap time.Duration) {
	now = now.UTC()
	from := s.Until
	if from.IsZero() || now.Sub(from) > maxGap || !now.After(from) || s.Rate == 0 {
		// Nothing known about the gap, or the token was idle at its start
		// (and Until may be old: idle samples are not written): the run
		// began somewhere inside it. Charge nothing rather than guess.
		from = now
	}
	mean := (s.Rate + rate) / 2
	day, month := now.Format(time.DateOnly), now.Format("2006-01")
	dayStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if s.Day != day {
		s.Day, s.Today = day, 0
	}
	if s.Month != month {
		s.Month, s.ThisMonth = month, 0
	}
	// Only the part of the interval inside today (this month) counts there.
	s.Today += mean * now.Sub(later(from, dayStart)).Hours()
	s.ThisMonth += mean * now.Sub(later(from, monthStart)).Hours()
	s.Until, s.Rate = now, rate
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Charge samples tokenID's $/h at now (see Spend). A token that ran
// nothing at its last sample and runs nothing now is not written.
func (a *Activity) Charge(ctx context.Context, tokenID string, hourly float64, now time.Time, maxGap time.Duration) error {
	a.mu.Lock()
	last, known := a.rates[tokenID]
	a.mu.Unlock()
	if known && last == 0 && hourly == 0 {
		return nil
	}
	err := update(ctx, a.store, spendPrefix+tokenID, func(s *Spend) { s.charge(now, hourly, maxGap) })
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.rates[tokenID] = hourly
	a.mu.Unlock()
	return nil
}

// SpendOf returns tokenID's spend as of now (zero when none is recorded).
func (a *Activity) SpendOf(ctx context.Context, tokenID string, now time.Time) (Spend, error) {
	var s Spend
	_, err := read(ctx, a.store, spendPrefix+tokenID, &s)
	return s.At(now), err
}
