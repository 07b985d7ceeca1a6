package capability

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

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

func base64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
