package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/smithy-go/logging"
)

// The standard AWS variables spotter reads for its own identity. The SDK
// reads the rest of the chain's settings (SSO, web identity, container
// credentials) from the process environment itself.
const (
	envAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	envAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	envAWSSessionToken    = "AWS_SESSION_TOKEN"
	envAWSProfile         = "AWS_PROFILE"
	envAWSConfigFile      = "AWS_CONFIG_FILE"
	envAWSCredentialsFile = "AWS_SHARED_CREDENTIALS_FILE"
	envAWSIMDSDisabled    = "AWS_EC2_METADATA_DISABLED"
)

// AWSIdentity is where spotter's own AWS identity comes from: the one
// that assumes a token's role when the token stores no keys. Its String
// never shows the secret.
type AWSIdentity struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Profile, ConfigFile, CredentialsFile       string
	IMDSDisabled                               bool
}

func (a AWSIdentity) String() string {
	if a.AccessKeyID != "" {
		return "awsIdentity{environment keys, redacted}"
	}
	return "awsIdentity{profile " + cmp.Or(a.Profile, "default") + "}"
}

// LogValue keeps slog from printing the fields.
func (a AWSIdentity) LogValue() slog.Value { return slog.StringValue(a.String()) }

// ReadAWSIdentity reads the standard AWS variables through getenv.
func ReadAWSIdentity(getenv func(string) string) AWSIdentity {
	return AWSIdentity{
		AccessKeyID: getenv(envAWSAccessKeyID), SecretAccessKey: getenv(envAWSSecretAccessKey),
		SessionToken: getenv(envAWSSessionToken), Profile: getenv(envAWSProfile),
		ConfigFile: getenv(envAWSConfigFile), CredentialsFile: getenv(envAWSCredentialsFile),
		IMDSDisabled: strings.EqualFold(getenv(envAWSIMDSDisabled), "true"),
	}
}

// provider builds the SDK's default credential chain (environment keys,
// shared config and credentials files with their profile, SSO, web
// identity, container and instance roles), cached and refreshed by the
// SDK. It makes no call: a chain that finds nothing fails when used.
//
// The chain's own calls (instance metadata, SSO, STS for a profile's role)
// use the SDK's HTTP client, which honours AWS_CA_BUNDLE.
func (a AWSIdentity) provider(ctx context.Context, region string) (aws.CredentialsProvider, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		// The SDK's own logger writes to stderr (an IMDS fallback warning
		// on every host that is not EC2); probeIdentity says what matters.
		awsconfig.WithLogger(logging.Nop{}),
	}
	if a.AccessKeyID != "" && a.SecretAccessKey != "" {
		// The first link of the chain, read through getenv like every
		// other setting, so tests need not touch the process environment.
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.NewCredentialsCache(
			credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, a.SessionToken))))
	}
	if a.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.Profile))
	}
	if a.ConfigFile != "" {
		opts = append(opts, awsconfig.WithSharedConfigFiles([]string{a.ConfigFile}))
	}
	if a.CredentialsFile != "" {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{a.CredentialsFile}))
	}
	if a.IMDSDisabled {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("spotter's own AWS identity: %w", err)
	}
	return cfg.Credentials, nil
}

// probeIdentity tells the operator at start whether spotter has an AWS
// identity of its own, which only tokens that hold a role without keys
// need. A failure is not fatal: such tokens then get a clear error.
func probeIdentity(ctx context.Context, p aws.CredentialsProvider, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := p.Retrieve(ctx)
	if err != nil {
		log.Warn("spotter has no AWS identity of its own: tokens that hold only a role (roleArn, no keys) will fail until it has one",
			"hint", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance or task role")
		return
	}
	log.Info("spotter's own AWS identity found, for tokens that hold a role", "source", c.Source)
}
