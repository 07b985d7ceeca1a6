package activity

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/spot"
)

// keptActions bounds the actions a pass record keeps to show.
const keptActions = 20

// Pass is the reaper's last pass, whichever replica made it.
type Pass struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Replica  string    `json:"replica,omitempty"`
	Accounts int       `json:"accounts"` // account × region pairs reaped
	Failed   int       `json:"failed"`   // of them, how many AWS refused or did not answer
	Error    string    `json:"error,omitempty"`
	// Counts are the pass's actions by "action reason" ("terminate expired").
	Counts  map[string]int     `json:"counts,omitempty"`
	Actions []spot.ReapAction  `json:"actions,omitempty"` // the first keptActions
	Tokens  map[string]Running `json:"tokens,omitempty"`  // what each token ran after it
}

// Running is what one token ran after a pass: live instances, $/h.
type Running struct {
	Running    int     `json:"running"`
	HourlyCost float64 `json:"hourlyCost"`
}

// SavePass keeps p as the reaper's last pass. Any replica's newer pass
// replaces it: the record says how the world looked last, not who looked.
func (a *Activity) SavePass(ctx context.Context, p Pass) error {
	if len(p.Actions) > keptActions {
		p.Actions = p.Actions[:keptActions]
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := a.store.Put(ctx, reaperKey, secrets.Record{Public: b}, secrets.AnyVersion); err != nil {
		return fmt.Errorf("write %s: %w", reaperKey, err)
	}
	return nil
}

// LastPass returns the reaper's last pass; ok is false before the first.
func (a *Activity) LastPass(ctx context.Context) (p Pass, ok bool, err error) {
	v, err := read(ctx, a.store, reaperKey, &p)
	return p, v > 0, err
}
