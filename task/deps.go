package task

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/spot"
)

// Tokens is what the pipeline asks of the capability registry
// (*capability.Registry): who the caller is, whether an MFA code holds, and
// the credentials for the one call that needs them.
type Tokens interface {
	// Authenticate verifies a raw capability token: signature, expiry,
	// revocation. Errors are apperr token_* codes.
	Authenticate(ctx context.Context, raw string) (capability.Token, error)
	// CheckMFA checks and spends a one-time code the token needs.
	CheckMFA(ctx context.Context, t capability.Token, code string) error
	// SettleMFA counts STS's verdict on an AWS MFA code against the token.
	SettleMFA(ctx context.Context, t capability.Token, err error) error
	// Credentials unseals the token's AWS credentials; the caller clears them.
	Credentials(ctx context.Context, t capability.Token) (capability.Credentials, error)
}

// Sessions makes the short AWS session a task runs with (*spot.Client).
type Sessions interface {
	Session(ctx context.Context, tokenID string, creds spot.Credentials, mfa spot.MFA, region string) (aws.CredentialsProvider, error)
}

// EC2 is the spot calls tasks make (*spot.Client).
type EC2 interface {
	ExpandTypes(ctx context.Context, creds aws.CredentialsProvider, region string, list []string) ([]string, []string, error)
	Launch(ctx context.Context, spec spot.LaunchSpec) (spot.LaunchResult, error)
	Terminate(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string, all bool) (spot.TerminateResult, error)
	StatusPaged(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string, page spot.StatusPage) (spot.StatusResult, error)
	Price(ctx context.Context, creds aws.CredentialsProvider, region string, itypes []string) (spot.PriceResult, error)
	Cancel(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string) (spot.CancelResult, error)
	Extend(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string, all bool, ttl time.Duration) (spot.ExtendResult, error)
	// Live lists the token's pending and running instances in a region,
	// priced when withPrices; the ledger asks for it only when it must.
	Live(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, withPrices bool) ([]spot.Instance, error)
}

// Spot is both: what *spot.Client gives the pipeline.
type Spot interface {
	Sessions
	EC2
}

// Ledger counts launches under way against a token's caps (*inflight.Ledger).
type Ledger interface {
	AdmitListing(ctx context.Context, tokenID, key, scope string, list inflight.Lister, check func(inflight.Counted) (inflight.Claim, error)) (*inflight.Ticket, error)
	Ended(ctx context.Context, tokenID string, ids []string)
	Failed(tokenID, key string, err error)
	Lease() time.Duration
}

var (
	_ Tokens = (*capability.Registry)(nil)
	_ Spot   = (*spot.Client)(nil)
	_ Ledger = (*inflight.Ledger)(nil)
)
