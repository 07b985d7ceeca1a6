package reaper_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/spot"
)

// fakeTokens lists infos; credentials are static keys unless roles names
// a role for the token, and fail for the ids in credErr.
type fakeTokens struct {
	infos    []capability.Info
	roles    map[string]string
	credErr  map[string]bool
	listErr  error
	sweepErr error
	// accounts are the account keys Account knows, by token; opened
	// records which tokens' credentials were opened, in order.
	accounts map[string]string
	opened   []string
}

var _ reaper.Tokens = (*fakeTokens)(nil)

func (f *fakeTokens) SweepNonces(context.Context) (int, error) { return 0, f.sweepErr }
func (f *fakeTokens) Walk(_ context.Context, fn func([]capability.Info) error) error {
	if f.listErr != nil {
		return f.listErr
	}
	return fn(f.infos)
}
func (f *fakeTokens) Revoked(context.Context, string) (bool, error) { return false, nil }
func (f *fakeTokens) Account(info capability.Info) (string, bool) {
	k, ok := f.accounts[info.ID]
	return k, ok
}
func (f *fakeTokens) CredentialsOf(_ context.Context, page []capability.Info) ([]capability.Credentials, []error) {
	creds, errs := make([]capability.Credentials, len(page)), make([]error, len(page))
	for i, info := range page {
		f.opened = append(f.opened, info.ID)
		switch {
		case f.credErr[info.ID]:
			errs[i] = errors.New("store unreachable")
		case f.roles[info.ID] != "":
			creds[i] = capability.Credentials{RoleARN: f.roles[info.ID]}
		default:
			creds[i] = capability.Credentials{AccessKeyID: "AKIDSHARED", SecretAccessKey: "secret"}
		}
	}
	return creds, errs
}

// fakeSpot reaps by region: each region's usage is what it reports,
// regions in reapErr fail, and a role in sessionErr cannot be assumed.
type fakeSpot struct {
	usage      map[string]map[string]spot.Usage // region → token → usage
	reapErr    map[string]bool
	sessionErr bool
	reaps      []string // regions reaped, in order
}

var _ reaper.Spot = (*fakeSpot)(nil)

func (f *fakeSpot) Session(context.Context, string, spot.Credentials, spot.MFA, string) (aws.CredentialsProvider, error) {
	if f.sessionErr {
		return nil, errors.New("AccessDenied")
	}
	return aws.AnonymousCredentials{}, nil
}

func (f *fakeSpot) Reap(_ context.Context, _ aws.CredentialsProvider, region string, _ time.Time, _ func(string) bool) (spot.ReapReport, error) {
	f.reaps = append(f.reaps, region)
	if f.reapErr[region] {
		return spot.ReapReport{}, errors.New("RequestLimitExceeded")
	}
	return spot.ReapReport{Usage: f.usage[region]}, nil
}

func (f *fakeSpot) Status(context.Context, aws.CredentialsProvider, string, string, []string) (spot.StatusResult, error) {
	return spot.StatusResult{}, nil
}

func (f *fakeSpot) ExpandTypes(_ context.Context, _ aws.CredentialsProvider, _ string, l []string) ([]string, []string, error) {
	return l, nil, nil
}

func (f *fakeSpot) Replace(context.Context, aws.CredentialsProvider, string, string, string, []string, spot.Caps) (spot.Instance, bool, error) {
	return spot.Instance{}, false, nil
}

// shared is the account key of the fake's static keys.
var shared = capability.AccountKey(capability.Credentials{AccessKeyID: "AKIDSHARED"})

func info(id string, regions ...string) capability.Info {
	return capability.Info{ID: id, Policy: api.Policy{Regions: regions}}
}

// A pass reports a token's usage only when every account and region it
// may use was reaped, reaps an account shared by tokens once per region,
// and skips (without failing the pass) a token whose credentials or role
// cannot be used.
func TestPassFaults(t *testing.T) {
	east := map[string]spot.Usage{"a": {Running: 1}, "b": {Running: 2}}
	tests := map[string]struct {
		tokens    fakeTokens
		spot      fakeSpot
		wantErr   bool
		wantReaps []string
		// wantUsage is what Usage was told, by token.
		wantUsage map[string]int
		// wantOpened, when set, are the tokens whose credentials were opened.
		wantOpened []string
	}{
		"two tokens, one account": {
			tokens:    fakeTokens{infos: []capability.Info{info("a", "us-east-1"), info("b", "us-east-1")}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"a": 1, "b": 2},
		},
		"a region that fails": {
			tokens:    fakeTokens{infos: []capability.Info{info("a", "us-east-1", "us-west-2"), info("b", "us-east-1")}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}, reapErr: map[string]bool{"us-west-2": true}},
			wantReaps: []string{"us-east-1", "us-west-2"}, wantUsage: map[string]int{"b": 2},
		},
		"credentials unreadable": {
			tokens:    fakeTokens{infos: []capability.Info{info("a", "us-east-1"), info("b", "us-east-1")}, credErr: map[string]bool{"a": true}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"b": 2},
		},
		"a role that cannot be assumed": {
			tokens:    fakeTokens{infos: []capability.Info{info("a", "us-east-1")}, roles: map[string]string{"a": "arn:aws:iam::123456789012:role/spotter"}},
			spot:      fakeSpot{sessionErr: true},
			wantUsage: map[string]int{},
		},
		"a role assumed": {
			tokens:    fakeTokens{infos: []capability.Info{info("a", "us-east-1")}, roles: map[string]string{"a": "arn:aws:iam::123456789012:role/spotter"}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"a": 1},
		},
		"nonces not swept": {
			tokens:    fakeTokens{infos: []capability.Info{info("b", "us-east-1")}, sweepErr: errors.New("store unreachable")},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"b": 2},
		},
		"a known account reaped once, its other tokens not opened": {
			tokens: fakeTokens{infos: []capability.Info{info("a", "us-east-1"), info("b", "us-east-1"), info("c", "us-east-1")},
				accounts: map[string]string{"a": shared, "b": shared, "c": shared}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"a": 1, "b": 2, "c": 0}, wantOpened: []string{"a"},
		},
		"a known account with a region left is opened": {
			tokens: fakeTokens{infos: []capability.Info{info("a", "us-east-1"), info("b", "us-east-1", "us-west-2")},
				accounts: map[string]string{"a": shared, "b": shared}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1", "us-west-2"}, wantUsage: map[string]int{"a": 1, "b": 2}, wantOpened: []string{"a", "b"},
		},
		"a known account whose reap failed is not tried again, nor its usage told": {
			tokens: fakeTokens{infos: []capability.Info{info("a", "us-west-2"), info("b", "us-west-2")},
				accounts: map[string]string{"a": shared, "b": shared}},
			spot:      fakeSpot{reapErr: map[string]bool{"us-west-2": true}},
			wantReaps: []string{"us-west-2"}, wantUsage: map[string]int{}, wantOpened: []string{"a"},
		},
		"an unknown account is opened even when another is done": {
			tokens: fakeTokens{infos: []capability.Info{info("a", "us-east-1"), info("b", "us-east-1")},
				accounts: map[string]string{"a": shared}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"a": 1, "b": 2}, wantOpened: []string{"a", "b"},
		},
		"the opener of a known account fails: the others are opened in a second round": {
			tokens: fakeTokens{infos: []capability.Info{info("a", "us-east-1"), info("b", "us-east-1"), info("c", "us-east-1")},
				accounts: map[string]string{"a": shared, "b": shared, "c": shared}, credErr: map[string]bool{"a": true}},
			spot:      fakeSpot{usage: map[string]map[string]spot.Usage{"us-east-1": east}},
			wantReaps: []string{"us-east-1"}, wantUsage: map[string]int{"b": 2, "c": 0}, wantOpened: []string{"a", "b", "c"},
		},
		"tokens not listed": {
			tokens:  fakeTokens{listErr: errors.New("store unreachable")},
			wantErr: true, wantUsage: map[string]int{},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]int{}
			r := &reaper.Reaper{Tokens: &tt.tokens, Spot: &tt.spot, Log: slog.New(slog.DiscardHandler),
				Usage: func(id string, u spot.Usage) { got[id] = u.Running }}
			_, err := r.Pass(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Pass = %v; want error %v", err, tt.wantErr)
			}
			if !slices.Equal(tt.spot.reaps, tt.wantReaps) {
				t.Errorf("regions reaped = %v; want %v", tt.spot.reaps, tt.wantReaps)
			}
			if tt.wantOpened != nil && !slices.Equal(tt.tokens.opened, tt.wantOpened) {
				t.Errorf("credentials opened = %v; want %v", tt.tokens.opened, tt.wantOpened)
			}
			if len(got) != len(tt.wantUsage) {
				t.Errorf("Usage told %v; want %v", got, tt.wantUsage)
			}
			for id, n := range tt.wantUsage {
				if got[id] != n {
					t.Errorf("Usage(%s) = %d running; want %d (all: %v)", id, got[id], n, got)
				}
			}
		})
	}
}
