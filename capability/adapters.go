package capability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/secrets"
)

// stepStore keeps each token's last accepted TOTP step at "totp/<id>", so
// every replica sharing the store refuses a replayed code.
type stepStore struct{ store secrets.Store }

func (s stepStore) LastStep(ctx context.Context, tokenID string) (int64, int, error) {
	rec, err := s.store.Get(ctx, "totp/"+tokenID)
	if errors.Is(err, secrets.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	step, err := strconv.ParseInt(string(rec.Public), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return step, rec.Version, nil
}

func (s stepStore) SaveStep(ctx context.Context, tokenID string, step int64, version int) error {
	cas := version
	if version == 0 {
		cas = secrets.CreateOnly
	}
	_, err := s.store.Put(ctx, "totp/"+tokenID, secrets.Record{Public: []byte(strconv.FormatInt(step, 10))}, cas)
	return err
}

const noncesPrefix = "nonces/"

// markerStore keeps accepted signature nonces at "nonces/<id>" until their
// window closes; SweepNonces deletes them after.
type markerStore struct{ store secrets.Store }

type marker struct {
	Expires time.Time `json:"expires"`
}

func (m markerStore) CreateMarker(ctx context.Context, key string, expires time.Time) error {
	b, _ := json.Marshal(marker{Expires: expires.UTC()})
	_, err := m.store.Put(ctx, noncesPrefix+key, secrets.Record{Public: b}, secrets.CreateOnly)
	return err
}

// SweepNonces deletes nonce markers whose window has closed and returns how
// many it removed. Any replica may run it; deleting twice is harmless.
func (r *Registry) SweepNonces(ctx context.Context) (int, error) {
	keys, err := r.store.List(ctx, noncesPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	now := r.now()
	for _, k := range keys {
		rec, err := r.store.Get(ctx, k)
		if errors.Is(err, secrets.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		var m marker
		if json.Unmarshal(rec.Public, &m) != nil || m.Expires.Before(now) {
			if err := r.store.Delete(ctx, k); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func base64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
