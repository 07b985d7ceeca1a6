package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"time"
)

// baseUsage is the usage record as spotter writes it.
type baseUsage struct {
	Claims  map[string]baseClaim `json:"claims,omitempty"`
	Started map[string]baseClaim `json:"started,omitempty"`
}

type baseClaim struct {
	N     int   `json:"n,omitempty"`
	Until int64 `json:"until"`
}

// remembered is a usage record as this process last wrote it.
type remembered struct {
	u   baseUsage
	ver int
}

// remembered returns a copy of the token's record as this process last
// wrote it, if it did.
func (b *baseline) remembered(id string) (baseUsage, int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.usage[id]
	return baseUsage{Claims: maps.Clone(r.u.Claims), Started: maps.Clone(r.u.Started)}, r.ver, ok
}

// remember keeps what was written at ver (forgets it when ver is 0).
func (b *baseline) remember(id string, u baseUsage, ver int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ver == 0 {
		delete(b.usage, id)
		return
	}
	b.usage[id] = remembered{baseUsage{Claims: maps.Clone(u.Claims), Started: maps.Clone(u.Started)}, ver}
}

// reserve applies change to usage/<id> and writes it with check-and-set,
// up to 12 tries, as spotter's shared ledger does: the first try on the
// record this process last wrote, if any, without a read; after a
// conflict, on the record read again. It does not fold launches together
// as spotter does: these are the bare calls of one launch.
func (b *baseline) reserve(ctx context.Context, id string, change func(*baseUsage)) (baseUsage, int, string) {
	for try := range 12 {
		u, ver, ok := b.remembered(id)
		if !ok || try > 0 {
			var code string
			if u, ver, code = b.readUsage(ctx, id); code != "" {
				return baseUsage{}, 0, code
			}
		}
		if u.Claims == nil {
			u.Claims = map[string]baseClaim{}
		}
		if u.Started == nil {
			u.Started = map[string]baseClaim{}
		}
		now := time.Now().UnixNano()
		for k, c := range u.Started {
			if now >= c.Until {
				delete(u.Started, k)
			}
		}
		change(&u)
		v, err := b.writeUsage(ctx, id, u, ver)
		b.remember(id, u, v)
		if err == nil {
			return u, v, ""
		}
	}
	return baseUsage{}, 0, "vault_usage_conflict"
}

func (b *baseline) readUsage(ctx context.Context, id string) (baseUsage, int, string) {
	s, err := b.vault.Logical().ReadWithContext(ctx, "spotter/data/usage/"+id)
	if err != nil {
		return baseUsage{}, 0, "vault_usage_read"
	}
	u, ver := baseUsage{}, 0
	if s != nil {
		data, _ := s.Data["data"].(map[string]any)
		meta, _ := s.Data["metadata"].(map[string]any)
		pub, _ := data["public"].(string)
		raw, _ := base64.StdEncoding.DecodeString(pub)
		_ = json.Unmarshal(raw, &u)
		if n, ok := meta["version"].(json.Number); ok {
			v, _ := n.Int64()
			ver = int(v)
		}
	}
	return u, ver, ""
}

func (b *baseline) writeUsage(ctx context.Context, id string, u baseUsage, cas int) (int, error) {
	raw, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	s, err := b.vault.Logical().WriteWithContext(ctx, "spotter/data/usage/"+id, map[string]any{
		"options": map[string]any{"cas": cas},
		"data":    map[string]any{"public": base64.StdEncoding.EncodeToString(raw)},
	})
	if err != nil {
		return 0, err
	}
	if n, ok := s.Data["version"].(json.Number); ok {
		v, _ := n.Int64()
		return int(v), nil
	}
	return 0, errors.New("no version in the KV write's answer")
}
