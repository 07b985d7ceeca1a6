package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	vault "github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/capability"
)

// baseline makes, with the Vault and AWS SDK clients alone, the calls
// spotter makes for one launch by a token with stored keys, no MFA and no
// body signature (the sequence calibrate counts on both sides):
//
//  1. Vault KV v2 read of the token record, only when this process last
//     read it 2 s ago or more (spotter's record cache; a create fills it).
//  2. Vault Transit decrypt of the sealed credentials, context = token id.
//  3. EC2 DescribeInstances, filters tag:spotter:client-token (this
//     launch's), tag:spotter:token and instance-state-name pending,running
//     — a retry's instances (LaunchSpec.AdmitCounts) — side by side with 6.
//     On the token's first launch, DescribeInstances of all its live
//     instances too: the count the ledger keeps.
//  4. When the policy has maxHourlySpend and the count is listed:
//     DescribeSpotPriceHistory of their types (the bench's policy has none).
//  5. The replay check: 3 found none (a retry whose instances ended is
//     left to CreateFleet's ClientToken check).
//  6. DescribeSpotPriceHistory of the allowed types — the pools.
//     5½. The reservation (inflight.NewShared): a check-and-set write of
//     the claim on usage/<token id> as this process last wrote it (a KV
//     v2 read first when it has not, and again after a conflict).
//  7. CreateLaunchTemplate, on a token's first launch only.
//  8. CreateFleet (instant, price-capacity-optimized, tags on the call);
//     its answer is the reply (no DescribeInstances unless waiting).
//  9. The settle: a check-and-set write of usage/<token id> on the
//     version 5½ wrote, the claim turned into the instance started.
//
// It skips what spotter adds around those calls: HTTPS termination, JWT
// verification, decoding, policy checks, logging, metrics and the reply.
type baseline struct {
	st     *stack
	o      options
	ec2    *ec2.Client
	vault  *vault.Client
	region string

	mu        sync.Mutex
	templates map[string]bool
	usage     map[string]remembered // by token id, under mu
	listed    map[string]bool       // tokens whose instances were listed, under mu
	bootable  []string              // the types the AMI runs on, once asked
}

// baseToken is a capability token as the baseline knows it: id, sealed
// credentials and when they were read.
type baseToken struct {
	capToken
	mu      sync.Mutex
	sealed  string
	fetched time.Time
}

func (st *stack) newBaseline(o options) *baseline {
	// The same HTTP client shape spotter's spot.Client uses (a clone of the
	// default transport, 60 s timeout) and the same retry policy.
	return &baseline{
		st: st, o: o, vault: st.vault, region: o.region, templates: map[string]bool{}, usage: map[string]remembered{}, listed: map[string]bool{},
		ec2: ec2.New(ec2.Options{
			Region: o.region, BaseEndpoint: aws.String(st.simURL),
			HTTPClient: &http.Client{Transport: newTransport(nil, o.workers), Timeout: 60 * time.Second},
			Retryer:    spotterRetryer(),
		}),
	}
}

// newToken creates a token through spotter's admin API, so the baseline
// decrypts a real sealed record, and reads that record once, as spotter's
// create leaves it in its cache.
func (b *baseline) newToken(ctx context.Context, o options, name string) (*baseToken, error) {
	t, err := b.st.createToken(ctx, o, name)
	if err != nil {
		return nil, err
	}
	bt := &baseToken{capToken: t}
	if err := b.readRecord(ctx, bt); err != nil {
		return nil, err
	}
	return bt, nil
}

func (b *baseline) readRecord(ctx context.Context, t *baseToken) error {
	s, err := b.vault.Logical().ReadWithContext(ctx, "spotter/data/"+capability.StoreKey(t.ID))
	if err != nil {
		return err
	}
	if s == nil {
		return errors.New("no record")
	}
	data, _ := s.Data["data"].(map[string]any)
	sealed, _ := data["sealed"].(string)
	if sealed == "" {
		return errors.New("record holds no sealed part")
	}
	t.sealed, t.fetched = sealed, time.Now()
	return nil
}

func (b *baseline) launcher() launcher {
	pool := newPool(b.o, "baseline", func(ctx context.Context, name string) (*baseToken, error) {
		return b.newToken(ctx, b.o, name)
	})
	return launcher{name: "baseline", launch: func(ctx context.Context, key string) (time.Duration, string) {
		tok, err := pool.next(ctx)
		if err != nil {
			return 0, "create_token"
		}
		start := time.Now()
		code := b.launch(ctx, tok, key)
		return time.Since(start), code
	}}
}

func (st *stack) baselineLauncher(o options) launcher { return st.newBaseline(o).launcher() }

func (b *baseline) launch(ctx context.Context, t *baseToken, key string) string {
	// 1–2: the record (cached 2 s) and the credentials.
	opt, code := b.credentials(ctx, t)
	if code != "" {
		return code
	}

	// 2½: on this process's first launch only, the AMI's architecture and
	// the types' (spotter caches both: they never change).
	bootable, code := b.bootableTypes(ctx, opt)
	if code != "" {
		return code
	}

	// 3 ‖ 6: what the token runs now (no spend cap, so no prices) beside
	// the pools.
	type priced struct {
		prices map[[2]string]float64
		err    error
	}
	pc := make(chan priced, 1)
	go func() {
		p, err := b.prices(ctx, opt, bootable)
		pc <- priced{p, err}
	}()
	// 3 (and 5): a retry would be the instances tagged with this
	// launch's ClientToken.
	ct := clientToken(t.ID, "key:"+key)
	live := types.Filter{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}
	mine, err := b.describe(ctx, opt, tagFilter("spotter:client-token", ct), tagFilter("spotter:token", t.ID), live)
	p := <-pc
	if err != nil {
		return "ec2_describe"
	}
	if len(mine) > 0 {
		return "unexpected_replay"
	}
	// 3½: the token's count is listed once (spotter's ledger keeps it
	// after its first listing, for a minute).
	b.mu.Lock()
	listed := b.listed[t.ID]
	b.listed[t.ID] = true
	b.mu.Unlock()
	if !listed {
		if _, err := b.describe(ctx, opt, tagFilter("spotter:token", t.ID), live); err != nil {
			return "ec2_describe"
		}
	}

	if p.err != nil {
		return "ec2_prices"
	}
	// 5½: the reservation.
	claim := "c" + ct[:16]
	usage, ver, code := b.reserve(ctx, t.ID, func(u *baseUsage) {
		u.Claims[claim] = baseClaim{N: 1, Until: time.Now().Add(2 * time.Minute).UnixNano()}
	})
	if code != "" {
		return code
	}
	prices := p.prices
	type pool struct {
		typ, az string
		price   float64
	}
	var pools []pool
	for k, p := range prices {
		pools = append(pools, pool{k[0], k[1], p})
	}
	slices.SortFunc(pools, func(a, b pool) int {
		return cmp.Or(cmp.Compare(a.price, b.price), strings.Compare(a.typ, b.typ), strings.Compare(a.az, b.az))
	})

	// 7: the token's launch template, once.
	tmpl := templateName(t.ID)
	if code := b.ensureTemplate(ctx, tmpl, t.ID, opt); code != "" {
		return code
	}

	// 8: the launch.
	now := time.Now().UTC()
	overrides := make([]types.FleetLaunchTemplateOverridesRequest, 0, len(pools))
	for _, p := range pools {
		overrides = append(overrides, types.FleetLaunchTemplateOverridesRequest{
			InstanceType: types.InstanceType(p.typ), AvailabilityZone: aws.String(p.az),
		})
	}
	tags := []types.Tag{
		{Key: aws.String("Name"), Value: aws.String("spotter " + t.ID)},
		{Key: aws.String("spotter:client-token"), Value: aws.String(ct)},
		{Key: aws.String("spotter:expires-at"), Value: aws.String(now.Add(time.Hour).Truncate(time.Second).Format(time.RFC3339))},
		{Key: aws.String("spotter:request"), Value: aws.String(ct)},
		{Key: aws.String("spotter:template"), Value: aws.String(tmpl)},
		{Key: aws.String("spotter:token"), Value: aws.String(t.ID)},
	}
	out, err := b.ec2.CreateFleet(ctx, &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(ct),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateName: aws.String(tmpl), Version: aws.String("$Latest"),
			},
			Overrides: overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity: aws.Int32(1), DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		SpotOptions:       &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategyPriceCapacityOptimized},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}},
	}, opt)
	if err != nil {
		return "ec2_create_fleet"
	}
	n := 0
	for _, fi := range out.Instances {
		n += len(fi.InstanceIds)
	}
	if n != 1 {
		return "instances_" + strconv.Itoa(n)
	}
	// 9: the settle, first on the version 5½ wrote.
	delete(usage.Claims, claim)
	for _, fi := range out.Instances {
		for _, id := range fi.InstanceIds {
			usage.Started[id] = baseClaim{Until: time.Now().Add(time.Minute).UnixNano()}
		}
	}
	v, err := b.writeUsage(ctx, t.ID, usage, ver)
	b.remember(t.ID, usage, v)
	if err != nil {
		if _, _, code := b.reserve(ctx, t.ID, func(u *baseUsage) { delete(u.Claims, claim) }); code != "" {
			return code
		}
	}
	return ""
}

// credentials reads the token's record (cached 2 s) and decrypts its
// credentials, as spotter's steps 1–2 do, returning the EC2 option that
// signs with them or the stage that failed.
func (b *baseline) credentials(ctx context.Context, t *baseToken) (opt func(*ec2.Options), code string) {
	t.mu.Lock()
	stale := time.Since(t.fetched) >= 2*time.Second
	t.mu.Unlock()
	if stale {
		fresh := &baseToken{capToken: t.capToken}
		if err := b.readRecord(ctx, fresh); err != nil {
			return nil, "vault_read"
		}
		t.mu.Lock()
		t.sealed, t.fetched = fresh.sealed, fresh.fetched
		t.mu.Unlock()
	}
	t.mu.Lock()
	sealed := t.sealed
	t.mu.Unlock()
	s, err := b.vault.Logical().WriteWithContext(ctx, "transit/decrypt/spotter-credentials", map[string]any{
		"ciphertext": sealed,
		"context":    base64.StdEncoding.EncodeToString([]byte(t.ID)),
	})
	if err != nil {
		return nil, "vault_decrypt"
	}
	pt, _ := s.Data["plaintext"].(string)
	plain, err := base64.StdEncoding.DecodeString(pt)
	if err != nil {
		return nil, "vault_decrypt"
	}
	var keys struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
	}
	if err := json.Unmarshal(plain, &keys); err != nil || keys.AccessKeyID == "" {
		return nil, "vault_decrypt"
	}
	opt = func(o *ec2.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, "")
	}
	return opt, ""
}
