package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	vault "github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/awssim"
)

// stack is what one bench run stands on: awssim in this process, Vault
// (started by the caller), and a spotter process.
type stack struct {
	sim     *awssim.Sim
	simURL  string
	simSrv  *http.Server
	actions *actionCounter

	spotter    *exec.Cmd
	spotterLog string
	exited     chan struct{}
	url        string // https://127.0.0.1:port
	client     *http.Client
	admin      string

	vault *vault.Client
	ec2   *ec2.Client
	// vcpus of each benchmark type, from DescribeInstanceTypes.
	vcpus  map[string]int32
	tmp    string
	region string
}

func buildSpotter(ctx context.Context, out string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build spotter (run from the repository root): %w", err)
	}
	return nil
}

func startStack(ctx context.Context, o options, tmp string, logf func(string, ...any)) (_ *stack, err error) {
	st := &stack{tmp: tmp, region: o.region, actions: &actionCounter{}}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()

	// awssim: capacity far above what a run can launch, so every launch
	// measures the happy path and never capacity errors.
	st.sim = awssim.New(awssim.Options{Seed: 1, Logger: st.actions.logger()})
	if err := st.setCapacity(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	st.simURL = "http://" + ln.Addr().String()
	st.simSrv = &http.Server{Handler: st.sim, ReadHeaderTimeout: 10 * time.Second}
	go st.simSrv.Serve(ln)
	logf("awssim at %s", st.simURL)

	st.ec2 = ec2.New(ec2.Options{
		Region: o.region, BaseEndpoint: aws.String(st.simURL),
		Credentials: credentials.NewStaticCredentialsProvider(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, ""),
		HTTPClient:  &http.Client{Transport: newTransport(nil, o.workers), Timeout: 60 * time.Second},
		Retryer:     spotterRetryer(),
	})
	if st.vcpus, err = instanceVCPUs(ctx, st.ec2, o.types); err != nil {
		return nil, err
	}

	vc := vault.DefaultConfig()
	vc.Address = o.vaultAddr
	vc.MaxRetries = 0 // as spotter's store: a fault shows as an error
	vc.Timeout = 10 * time.Second
	vc.HttpClient.Transport = newTransport(nil, o.workers)
	if st.vault, err = vault.NewClient(vc); err != nil {
		return nil, err
	}
	st.vault.SetToken(o.vaultToken)

	if err := st.startSpotter(ctx, o, logf); err != nil {
		return nil, err
	}
	return st, nil
}

// spotterRetryer is the retry policy spot.Client uses: standard retryer,
// no shared retry quota.
func spotterRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = 2 * time.Second
		o.RateLimiter = ratelimit.None
	})
}

// newTransport keeps one idle connection per worker, so the closed loop
// never waits on a handshake after warm-up.
func newTransport(tlsConf *tls.Config, workers int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = workers * 2
	t.TLSClientConfig = tlsConf
	return t
}

// benchAMI is the image every bench launch uses; awssim takes an AMI it
// was not told about as x86_64.
const benchAMI = "ami-0abc1234"

func (st *stack) setCapacity() error {
	for _, od := range []bool{false, true} {
		if err := st.sim.SetCapacity(st.region, "", "", od, 1<<30); err != nil {
			return fmt.Errorf("awssim capacity: %w", err)
		}
	}
	return nil
}

// resetSim forgets every instance and template between runs, so each run
// starts from the same empty account (awssim scans all instances of a
// region on every DescribeInstances).
func (st *stack) resetSim() {
	st.sim.Reset()
	if err := st.setCapacity(); err != nil {
		panic(err) // SetCapacity with empty zone and type cannot fail
	}
}

func (st *stack) startSpotter(ctx context.Context, o options, logf func(string, ...any)) error {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	st.admin = hex.EncodeToString(b)
	dataDir := filepath.Join(st.tmp, "data")
	st.spotterLog = filepath.Join(st.tmp, "spotter.log")
	logFile, err := os.Create(st.spotterLog)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor

	// A port picked here rather than --addr :0, so readiness is a health
	// check and does not depend on a log line at the chosen log level.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(o.spotterBin, "serve", "--addr", addr, "--data-dir", dataDir,
		"--reaper-interval", "0", "--region", o.region, "--log-level", o.logLevel)
	// A clean environment: nothing of the caller's AWS or spotter settings leaks in.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + st.tmp,
		"VAULT_ADDR=" + o.vaultAddr, "VAULT_TOKEN=" + o.vaultToken,
		"AWS_ENDPOINT_URL_EC2=" + st.simURL, "AWS_ENDPOINT_URL_STS=" + st.simURL, "AWS_ENDPOINT_URL_PRICING=" + st.simURL,
		"SPOTTER_ADMIN_TOKEN=" + st.admin,
	}
	if o.pprofAddr != "" {
		cmd.Env = append(cmd.Env, "SPOTTER_BENCH_PPROF="+o.pprofAddr)
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start spotter: %w", err)
	}
	st.spotter = cmd
	st.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(st.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-st.exited:
			return fmt.Errorf("spotter exited at start:\n%s", tail(st.spotterLog, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spotter did not start in 30 s:\n%s", tail(st.spotterLog, 20))
		}
		if st.client = healthyClient(ctx, "https://"+addr, filepath.Join(dataDir, "tls-cert.pem"), o.workers); st.client != nil {
			st.url = "https://" + addr
			break
		}
	}
	logf("spotter pid %d at %s (log %s)", cmd.Process.Pid, st.url, st.spotterLog)
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// healthyClient returns a client trusting spotter's self-signed
// certificate once /healthz answers 200 through it; nil until then.
func healthyClient(ctx context.Context, base, certFile string, workers int) *http.Client {
	pem, err := os.ReadFile(certFile)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil
	}
	c := &http.Client{Transport: newTransport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, workers), Timeout: 60 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return nil
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return c
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Close stops spotter (SIGTERM, then SIGKILL after 5 s) and awssim.
func (st *stack) Close() {
	if st.spotter != nil && st.spotter.Process != nil {
		_ = st.spotter.Process.Signal(syscall.SIGTERM)
		select {
		case <-st.exited:
		case <-time.After(5 * time.Second):
			_ = st.spotter.Process.Kill()
			<-st.exited
		}
	}
	if st.simSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = st.simSrv.Shutdown(ctx)
		cancel()
	}
}

// capToken is a capability token the bench created through the admin API.
type capToken struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// createToken makes a capability token with long-term keys (awssim's
// default user), no MFA, no signature, and a policy wide enough that no
// launch of the bench is refused.
func (st *stack) createToken(ctx context.Context, o options, name string) (capToken, error) {
	body, _ := json.Marshal(map[string]any{
		"name": name,
		"credentials": map[string]string{
			"accessKeyId": awssim.DefaultAccessKeyID, "secretAccessKey": awssim.DefaultSecretAccessKey,
		},
		"policy": map[string]any{
			"regions": []string{o.region}, "instanceTypes": o.types,
			"maxCount": 10, "maxRunning": 1000, "amis": []string{benchAMI},
			"tasks": []string{"launch", "status", "terminate", "price"},
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.url+"/v1/tokens", bytes.NewReader(body))
	if err != nil {
		return capToken{}, err
	}
	req.Header.Set("Authorization", "Bearer "+st.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := st.client.Do(req)
	if err != nil {
		return capToken{}, fmt.Errorf("create token: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return capToken{}, fmt.Errorf("create token: %s: %s", resp.Status, b)
	}
	var t capToken
	if err := json.Unmarshal(b, &t); err != nil || t.ID == "" || t.Token == "" {
		return capToken{}, fmt.Errorf("create token: unexpected reply %.200s", b)
	}
	return t, nil
}

// tokenPool hands each launch a token, moving to a fresh one every per
// launches. Tokens are created on first use and the next one is started
// half-way through the current one, so workers rarely wait for a create.
type tokenPool[T any] struct {
	create func(ctx context.Context, i int) (T, error)
	per    int64
	n      atomic.Int64

	mu    sync.Mutex
	slots []func() (T, error)
}

func (p *tokenPool[T]) slot(ctx context.Context, i int) func() (T, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.slots) <= i {
		j := len(p.slots)
		p.slots = append(p.slots, sync.OnceValues(func() (T, error) { return p.create(ctx, j) }))
	}
	return p.slots[i]
}

func (p *tokenPool[T]) next(ctx context.Context) (T, error) {
	k := p.n.Add(1) - 1
	i := int(k / p.per)
	if k%p.per == p.per/2 {
		go p.slot(ctx, i+1)() // create ahead; errors surface on use
	}
	return p.slot(ctx, i)()
}

// instanceVCPUs asks awssim for the vCPUs of each type.
func instanceVCPUs(ctx context.Context, c *ec2.Client, itypes []string) (map[string]int32, error) {
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range itypes {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(t))
	}
	out, err := c.DescribeInstanceTypes(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("awssim DescribeInstanceTypes: %w", err)
	}
	m := map[string]int32{}
	for _, it := range out.InstanceTypes {
		if it.VCpuInfo != nil {
			m[string(it.InstanceType)] = aws.ToInt32(it.VCpuInfo.DefaultVCpus)
		}
	}
	for _, t := range itypes {
		if m[t] == 0 {
			return nil, fmt.Errorf("awssim knows no vCPU count for %s", t)
		}
	}
	return m, nil
}

// priceResult compares what the launched instances cost per vCPU-hour with
// the cheapest pool the policy allows that had capacity.
type priceResult struct {
	instances    int
	paidPerVCPU  float64
	cheapest     float64
	cheapestPool string
}

func (st *stack) pricePaid(ctx context.Context, o options) priceResult {
	var r priceResult
	s := st.sim.State()
	allowed := map[string]bool{}
	for _, t := range o.types {
		allowed[t] = true
	}
	for _, reg := range s.Regions {
		if reg.Name != o.region {
			continue
		}
		var price float64
		var vcpu int32
		for _, in := range reg.Instances {
			if in.Lifecycle != "spot" {
				continue
			}
			r.instances++
			price += in.SpotPrice
			vcpu += st.vcpus[in.InstanceType]
		}
		if vcpu > 0 {
			r.paidPerVCPU = price / float64(vcpu)
		}
		for t := range allowed {
			// State lists only the pools launches touched; ask for all.
			pools, err := st.sim.Pools(o.region, t)
			if err != nil {
				continue
			}
			for _, p := range pools {
				if p.SpotAvailable <= 0 || st.vcpus[p.InstanceType] == 0 {
					continue
				}
				per := p.SpotPrice / float64(st.vcpus[p.InstanceType])
				if r.cheapest == 0 || per < r.cheapest {
					r.cheapest, r.cheapestPool = per, p.InstanceType+"/"+p.AZ
				}
			}
		}
	}
	return r
}
