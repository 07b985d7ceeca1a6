// Package spot owns every AWS call spotter makes: the STS session (with MFA),
// and the EC2 calls that launch, describe, price, terminate and reap spot
// capacity. Callers (the task handlers and the reaper loop) have already
// checked the capability token and its policy; spot enforces the domain rules
// that live in EC2 itself: tags and a TTL on every instance, idempotent
// launches through ClientToken, and terminate only what a token launched.
//
// Every error a client may see is an *apperr.Error with a stable code and
// details a person can act on; AWS error text that could carry identifiers of
// the account stays in the wrapped cause, which only goes to logs.
package spot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/spot/ondemand"
)

// Config configures a Client. Only the zero value of optional fields is
// defaulted; nothing is read from the environment or ~/.aws, so the caller
// decides (from AWS_ENDPOINT_URL_EC2 and friends) and tests stay hermetic.
type Config struct {
	// EC2Endpoint, STSEndpoint and PricingEndpoint override the AWS
	// endpoints (BaseEndpoint), e.g. an awssim URL. Empty means the real
	// endpoints (the Price List API's in us-east-1).
	EC2Endpoint     string
	STSEndpoint     string
	PricingEndpoint string
	// DefaultRegion is used when a call names no region.
	DefaultRegion string
	// HTTPClient carries every AWS call; nil means the SDK's default
	// transport. Either way answers are read whole before decoding.
	HTTPClient *http.Client
	// Now is the clock for TTLs, prices and reaping; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per AWS-side action; nil discards.
	Logger *slog.Logger
	// MaxAttempts bounds SDK retries of ordinary calls (default 10); the
	// deadline of the call's context bounds them too (RetryMargin). STS
	// calls that carry an MFA code are always made exactly once.
	MaxAttempts int
	// MaxBackoff caps the SDK's jittered backoff between retries (default
	// 2s: a webhook caller should not wait the SDK's default 20 s).
	MaxBackoff time.Duration
	// RetryMargin is how much of the caller's deadline a retry leaves
	// unused (default 1 s), for the reply: a retry whose back-off would end
	// later is not made and the call fails with its last AWS error.
	RetryMargin time.Duration
	// SessionDuration is the lifetime asked of STS (default 15 min, clamped
	// to what STS accepts). A session serves one task, so short is right.
	SessionDuration time.Duration
	// ServiceCredentials is spotter's own AWS identity, used to assume a
	// token's role when the token stores no keys. Optional.
	ServiceCredentials aws.CredentialsProvider
	// WaitTimeout bounds LaunchSpec.Wait (default 3 min); PollInterval is
	// the DescribeInstances period while waiting (default 2 s).
	WaitTimeout  time.Duration
	PollInterval time.Duration
	// TemplateGrace is how old an unused spotter launch template must be
	// before the reaper deletes it (default 10 min), so a template created
	// for a launch in flight on another replica is not pulled from under it.
	TemplateGrace time.Duration
}

// ec2API is the part of the EC2 client spot uses; declared here so the
// calls spot depends on are listed in one place.
type ec2API interface {
	CreateFleet(context.Context, *ec2.CreateFleetInput, ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	CreateLaunchTemplate(context.Context, *ec2.CreateLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error)
	DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DeleteLaunchTemplate(context.Context, *ec2.DeleteLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSpotPriceHistory(context.Context, *ec2.DescribeSpotPriceHistoryInput, ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
	DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DescribeSpotInstanceRequests(context.Context, *ec2.DescribeSpotInstanceRequestsInput, ...func(*ec2.Options)) (*ec2.DescribeSpotInstanceRequestsOutput, error)
	CancelSpotInstanceRequests(context.Context, *ec2.CancelSpotInstanceRequestsInput, ...func(*ec2.Options)) (*ec2.CancelSpotInstanceRequestsOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteTags(context.Context, *ec2.DeleteTagsInput, ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
}

// stsAPI is the part of the STS client spot uses.
type stsAPI interface {
	GetSessionToken(context.Context, *sts.GetSessionTokenInput, ...func(*sts.Options)) (*sts.GetSessionTokenOutput, error)
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var (
	_ ec2API = (*ec2.Client)(nil)
	_ stsAPI = (*sts.Client)(nil)
)

// Client makes spotter's AWS calls. It keeps one long-lived pair of SDK
// clients per region (connection pools and endpoint resolution are shared)
// and takes credentials per call, so one Client serves every token. It is
// safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client // cfg.HTTPClient, reading whole bodies
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	regions map[string]*regionClients

	arch archCache

	// On-demand prices: the Price List API, a day's cache of its answers,
	// and the bundled table for when it cannot be asked (pricing.go).
	pricing pricingAPI
	table   *ondemand.Table
	od      odCache

	// templates remembers launch templates known to exist, per region and
	// name, to skip CreateLaunchTemplate on the hot path. It may be wrong
	// (another account, or the reaper deleted it): CreateFleet then reports
	// the template missing and Launch creates it and tries once more.
	tmplMu    sync.Mutex
	templates map[string]struct{}
}

type regionClients struct {
	ec2 ec2API
	sts stsAPI
}

// New returns a Client. It makes no AWS call.
func New(cfg Config) (*Client, error) {
	if cfg.DefaultRegion != "" && !validRegion(cfg.DefaultRegion) {
		return nil, fmt.Errorf("spot: invalid default region %q", cfg.DefaultRegion)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultMaxBackoff
	}
	if cfg.RetryMargin <= 0 {
		cfg.RetryMargin = defaultRetryMargin
	}
	if cfg.SessionDuration <= 0 {
		cfg.SessionDuration = 15 * time.Minute
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 3 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.TemplateGrace <= 0 {
		cfg.TemplateGrace = 10 * time.Minute
	}
	c := &Client{
		cfg:       cfg,
		http:      httpClient(cfg.HTTPClient),
		now:       cfg.Now,
		log:       cfg.Logger,
		regions:   map[string]*regionClients{},
		templates: map[string]struct{}{},
		table:     bundledTable(cfg.Logger),
	}
	c.pricing = pricing.NewFromConfig(c.awsConfig(pricingRegion), func(o *pricing.Options) {
		if cfg.PricingEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.PricingEndpoint)
		}
	})
	return c, nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// validRegion guards the region before it reaches endpoint resolution: a
// region is part of the AWS host name, so free text must never get there.
func validRegion(r string) bool { return regionRE.MatchString(r) }

// region returns the SDK clients for a region, creating them once.
func (c *Client) region(name string) (string, *regionClients, error) {
	if name == "" {
		name = c.cfg.DefaultRegion
	}
	if !validRegion(name) {
		return "", nil, apperr.New(apperr.Invalid, "region: %q is not an AWS region name", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.regions[name]; ok {
		return name, rc, nil
	}
	acfg := c.awsConfig(name)
	rc := &regionClients{
		ec2: ec2.NewFromConfig(acfg, func(o *ec2.Options) {
			if c.cfg.EC2Endpoint != "" {
				o.BaseEndpoint = aws.String(c.cfg.EC2Endpoint)
			}
		}),
		sts: sts.NewFromConfig(acfg, func(o *sts.Options) {
			if c.cfg.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(c.cfg.STSEndpoint)
			}
		}),
	}
	c.regions[name] = rc
	return name, rc, nil
}

// awsConfig builds the SDK configuration by hand rather than with
// config.LoadDefaultConfig, which would read AWS_* variables and ~/.aws:
// spotter's credentials come from its own store, per call, never from the
// host's environment.
func (c *Client) awsConfig(region string) aws.Config {
	cfg := aws.Config{
		Region:  region,
		Retryer: c.newRetryer,
	}
	cfg.HTTPClient = c.http
	return cfg
}

// ec2Opts runs one call with the caller's credentials, its retries bounded
// by the deadline of the call's context (retry.go).
func (c *Client) ec2Opts(p aws.CredentialsProvider) func(*ec2.Options) {
	return func(o *ec2.Options) {
		o.Credentials = p
		o.Retryer = c.withDeadline(o.Retryer)
	}
}

// ec2For returns the EC2 client of a region, or an invalid_request error.
func (c *Client) ec2For(region string) (string, ec2API, error) {
	name, rc, err := c.region(region)
	if err != nil {
		return "", nil, err
	}
	return name, rc.ec2, nil
}

// knownTemplate reports whether a template was seen to exist.
func (c *Client) knownTemplate(region, name string) bool {
	c.tmplMu.Lock()
	defer c.tmplMu.Unlock()
	_, ok := c.templates[region+"/"+name]
	return ok
}

// rememberTemplate records (or, with ok false, forgets) a template. The
// map is bounded: at the cap it is dropped whole, which only costs one
// CreateLaunchTemplate per template afterwards.
func (c *Client) rememberTemplate(region, name string, ok bool) {
	c.tmplMu.Lock()
	defer c.tmplMu.Unlock()
	key := region + "/" + name
	if !ok {
		delete(c.templates, key)
		return
	}
	if len(c.templates) >= 4096 {
		clear(c.templates)
	}
	c.templates[key] = struct{}{}
}
