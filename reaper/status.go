package reaper

import (
	"context"
	"errors"
	"fmt"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/spot"
)

// Status lists a token's instances in every region of its policy, for the
// operator console, with the credentials a pass uses: those that need no
// MFA code. It launches and ends nothing. A region that fails is named in
// the result's Warnings; only when every region fails is it an error.
func (r *Reaper) Status(ctx context.Context, tokenID string) (spot.StatusResult, error) {
	creds, info, err := r.Tokens.CredentialsByID(ctx, tokenID)
	if err != nil {
		return spot.StatusResult{}, err
	}
	provider, _ := r.provider(ctx, info, creds)
	if provider == nil {
		return spot.StatusResult{}, apperr.New(apperr.AWSAuthFailed, "the token's role cannot be assumed without an MFA code; its instances are listed by a status task with one")
	}
	out := spot.StatusResult{Instances: []spot.Instance{}}
	var errs []error
	for _, region := range info.Policy.Regions {
		st, err := r.Spot.Status(ctx, provider, region, tokenID, nil)
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
