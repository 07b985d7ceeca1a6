package reaper

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/spot"
)

// statusLister is the one call Status makes beyond a pass (*spot.Client).
type statusLister interface {
	Status(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string) (spot.StatusResult, error)
}

// Status lists a token's instances in every region of its policy, for the
// operator console, with the credentials a pass uses: those that need no
// MFA code. It launches and ends nothing. A region that fails is named in
// the result's Warnings; only when every region fails is it an error.
func (r *Reaper) Status(ctx context.Context, info capability.Info) (spot.StatusResult, error) {
	lister, ok := r.Spot.(statusLister)
	if !ok {
		return spot.StatusResult{}, errors.New("reaper: its Spot cannot list instances")
	}
	creds, cerrs := r.Tokens.CredentialsOf(ctx, []capability.Info{info})
	if cerrs[0] != nil {
		return spot.StatusResult{}, cerrs[0]
	}
	provider, _ := r.provider(ctx, info, creds[0])
	clear(creds)
	tokenID := info.ID
	if provider == nil {
		return spot.StatusResult{}, apperr.New(apperr.AWSAuthFailed, "the token's role cannot be assumed without an MFA code; its instances are listed by a status task with one")
	}
	out := spot.StatusResult{Instances: []spot.Instance{}}
	var errs []error
	for _, region := range info.Policy.Regions {
		st, err := lister.Status(ctx, provider, region, tokenID, nil)
		if err != nil {
			errs = append(errs, err)
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s", region, apperr.Details(err)))
			continue
		}
		out.Instances = append(out.Instances, st.Instances...)
		out.HourlyCost += st.HourlyCost
		out.CostSoFar += st.CostSoFar
		out.Interrupted = append(out.Interrupted, st.Interrupted...)
		out.Warnings = append(out.Warnings, st.Warnings...)
	}
	if len(errs) == len(info.Policy.Regions) && len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}
