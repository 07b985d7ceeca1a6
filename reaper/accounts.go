package reaper

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/capability"
)

// reapPage reaps the accounts of a page's tokens with reapAll, opening
// credentials only where needed: a token whose account is known and
// already reaped in each of its regions is not opened, nor one whose
// account another token of the page is opened for. After those are
// reaped, the tokens that still lack a region (their account's opener
// failed) are opened together in a second round.
func (r *Reaper) reapPage(ctx context.Context, page []capability.Info, done map[account]bool,
	reapAll func(capability.Info, aws.CredentialsProvider, string), skipped *int) {
	pending := page
	for round := 0; len(pending) > 0; round++ {
		var open, later []capability.Info
		claimed := map[account]bool{}
		for _, info := range pending {
			key, ok := r.Tokens.Account(info)
			switch {
			case ok && allDone(done, key, info.Policy.Regions):
				reapAll(info, nil, key) // notes its accounts; reaps nothing
				continue
			case ok && round == 0 && allDone(claimed, key, info.Policy.Regions):
				later = append(later, info)
				continue
			case ok:
				for _, region := range info.Policy.Regions {
					claimed[account{key: key, region: region}] = true
				}
			}
			open = append(open, info)
		}
		if len(open) == 0 {
			return // nothing claimed, so nothing waits
		}
		creds, errs := r.Tokens.CredentialsOf(ctx, open)
		for n, info := range open {
			if errs[n] != nil {
				r.Log.Warn("reaper cannot read credentials", "token_id", info.ID, "error", errs[n])
				*skipped++
				continue
			}
			provider, key := r.provider(ctx, info, creds[n])
			if provider == nil {
				*skipped++
				continue
			}
			reapAll(info, provider, key)
		}
		clear(creds)
		pending = later
	}
}

// allDone reports whether every region of an account was reaped this pass.
func allDone(done map[account]bool, key string, regions []string) bool {
	for _, region := range regions {
		if !done[account{key: key, region: region}] {
			return false
		}
	}
	return true
}
