package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// reserve reads usage/<id>, applies change, and writes it with
// check-and-set, up to 12 tries, as spotter's shared ledger does.
func (b *baseline) reserve(ctx context.Context, id string, change func(*baseUsage)) (baseUsage, int, string) {
	for range 12 {
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
		if err == nil {
			return u, v, ""
		}
	}
	return baseUsage{}, 0, "vault_usage_conflict"
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
