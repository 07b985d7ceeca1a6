// Package money keeps dollar amounts as integer micro-dollars. Prices and
// costs are added up (an hourly cost over a fleet, a spend cap over a
// token's instances) and shown to people and scripts; in binary floating
// point those sums print as 0.14239999999999992. A micro-dollar is finer
// than any price EC2 quotes (spot prices have at most six decimals; the
// Price List API four), and an int64 of them holds 9 trillion dollars.
package money

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// USD is an amount in micro-dollars (millionths of a US dollar).
type USD int64

// Micro is one dollar in USD.
const Micro USD = 1_000_000

// FromDollars rounds a float amount of dollars to the nearest micro-dollar.
func FromDollars(f float64) USD {
	if math.IsNaN(f) {
		return 0
	}
	return USD(math.Round(f * float64(Micro)))
}

// Parse reads a decimal amount of dollars ("0.0029", "1", "-2.5") exactly,
// rounding half away from zero past the sixth decimal.
func Parse(s string) (USD, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64/int64(Micro)) {
		return 0, fmt.Errorf("%q is not an amount of dollars", s)
	}
	// Up to 15 significant digits a float64 holds exactly what was
	// written, so rounding its scaled value gives the written amount.
	return FromDollars(f), nil
}

// Dollars is the amount as a float, for arithmetic with rates and ratios.
func (u USD) Dollars() float64 { return float64(u) / float64(Micro) }

// Times is the amount for n units.
func (u USD) Times(n int) USD { return u * USD(n) }

// ForHours is an hourly rate's cost over h hours, to the micro-dollar.
func (u USD) ForHours(h float64) USD { return FromDollars(u.Dollars() * h) }

// String writes the amount in dollars with no more decimals than it has:
// 0.0029, 1.5, 3, -0.000001.
func (u USD) String() string {
	neg := u < 0
	n := int64(u)
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n/int64(Micro), 10)
	if frac := n % int64(Micro); frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes the amount as a JSON number of dollars, exactly.
func (u USD) MarshalJSON() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalJSON reads a JSON number of dollars.
func (u *USD) UnmarshalJSON(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
