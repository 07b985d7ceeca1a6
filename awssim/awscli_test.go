package awssim_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/awssim"
)

// awsCLI runs the real AWS CLI against a Sim. Without the binary the suite
// is skipped, unless SPOTTER_REQUIRE_AWSCLI=1 (scripts/test.sh sets it), in
// which case its absence is a failure.
type awsCLI struct {
	t   *testing.T
	bin string
	url string
	env []string
}

func mustCLI(t *testing.T, w *testWorld) *awsCLI {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("SPOTTER_REQUIRE_AWSCLI") == "1" {
			t.Fatalf("the AWS CLI is required (SPOTTER_REQUIRE_AWSCLI=1) but not on PATH: %v", err)
		}
		t.Skip("aws not on PATH; install the Debian awscli package to run this suite")
	}
	home := t.TempDir()
	return &awsCLI{t: t, bin: bin, url: w.srv.URL, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + awssim.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + awssim.DefaultSecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	}}
}

// run returns the parsed JSON output, or the CLI's error text.
func (c *awsCLI) run(args ...string) (map[string]any, string) {
	c.t.Helper()
	full := append([]string{"--endpoint-url", c.url, "--region", "us-east-1", "--output", "json"}, args...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errb.Len() == 0 {
			c.t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
		}
		return nil, errb.String()
	}
	var v map[string]any
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			c.t.Fatalf("aws %s printed non-JSON %q: %v", strings.Join(args, " "), out.String(), err)
		}
	}
	return v, ""
}

func (c *awsCLI) mustRun(args ...string) map[string]any {
	c.t.Helper()
	v, errText := c.run(args...)
	if errText != "" {
		c.t.Fatalf("aws %s: %s", strings.Join(args, " "), errText)
	}
	return v
}

func (c *awsCLI) wantError(code string, args ...string) {
	c.t.Helper()
	_, errText := c.run(args...)
	if !strings.Contains(errText, "("+code+")") {
		c.t.Fatalf("aws %s: error %q; want %s", strings.Join(args, " "), errText, code)
	}
}

// path walks decoded JSON: strings index maps, ints index lists.
func path(v any, steps ...any) any {
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestAWSCLI(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	cli := mustCLI(t, w)
	spotArgs := []string{"ec2", "run-instances", "--image-id", "ami-0123456789abcdef0", "--instance-type", "t3.micro",
		"--instance-market-options", "MarketType=spot,SpotOptions={SpotInstanceType=one-time}",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=team,Value=red}]"}

	t.Run("run-instances with a client token", func(t *testing.T) {
		first := cli.mustRun(append(spotArgs, "--count", "1", "--client-token", "cli-token-1")...)
		id, _ := path(first, "Instances", 0, "InstanceId").(string)
		if id == "" || path(first, "Instances", 0, "InstanceLifecycle") != "spot" {
			t.Fatalf("run-instances output: %v", first)
		}
		again := cli.mustRun(append(spotArgs, "--count", "1", "--client-token", "cli-token-1")...)
		if got := path(again, "Instances", 0, "InstanceId"); got != id {
			t.Errorf("retry with the same token returned %v; want %s", got, id)
		}
		cli.wantError("IdempotentParameterMismatch", append(spotArgs, "--count", "2", "--client-token", "cli-token-1")...)
	})

	t.Run("dry-run", func(t *testing.T) {
		cli.wantError("DryRunOperation", append(spotArgs, "--count", "1", "--dry-run")...)
	})

	t.Run("describe with tag filters and terminate", func(t *testing.T) {
		cli.mustRun("ec2", "run-instances", "--image-id", "ami-0123456789abcdef0", "--instance-type", "t3.micro", "--count", "1",
			"--tag-specifications", "ResourceType=instance,Tags=[{Key=team,Value=blue}]")
		red := cli.mustRun("ec2", "describe-instances", "--filters", "Name=tag:team,Values=red", "Name=instance-state-name,Values=running,pending")
		res, _ := path(red, "Reservations").([]any)
		if len(res) != 1 {
			t.Fatalf("tag:team=red matched %d reservations; want 1: %v", len(res), red)
		}
		id, _ := path(res[0], "Instances", 0, "InstanceId").(string)
		term := cli.mustRun("ec2", "terminate-instances", "--instance-ids", id)
		if got := path(term, "TerminatingInstances", 0, "CurrentState", "Name"); got != "terminated" && got != "shutting-down" {
			t.Errorf("terminate-instances state %v", got)
		}
		after := cli.mustRun("ec2", "describe-instances", "--filters", "Name=tag:team,Values=red", "Name=instance-state-name,Values=running,pending")
		if res, _ := path(after, "Reservations").([]any); len(res) != 0 {
			t.Errorf("terminated instance still listed as live: %v", after)
		}
	})

	t.Run("unknown instance id", func(t *testing.T) {
		cli.wantError("InvalidInstanceID.NotFound", "ec2", "describe-instances", "--instance-ids", "i-0123456789abcdef0")
	})

	t.Run("describe-spot-price-history", func(t *testing.T) {
		now := w.clock.Now().Format("2006-01-02T15:04:05Z")
		out := cli.mustRun("ec2", "describe-spot-price-history", "--instance-types", "m5.large", "c6g.large",
			"--product-descriptions", "Linux/UNIX", "--start-time", now, "--end-time", now)
		hist, _ := path(out, "SpotPriceHistory").([]any)
		if len(hist) != 2*len(usEast1Zones) {
			t.Fatalf("current prices of 2 types: %d entries; want %d (2 types × %d zones)", len(hist), 2*len(usEast1Zones), len(usEast1Zones))
		}
		// The CLI pages through a day of history on its own.
		day := cli.mustRun("ec2", "describe-spot-price-history", "--instance-types", "m5.large", "--page-size", "10")
		if hist, _ := path(day, "SpotPriceHistory").([]any); len(hist) != 25*len(usEast1Zones) {
			t.Errorf("a day of m5.large history: %d entries; want %d (25 hours × %d zones)", len(hist), 25*len(usEast1Zones), len(usEast1Zones))
		}
	})

	t.Run("launch template and create-fleet", func(t *testing.T) {
		lt := cli.mustRun("ec2", "create-launch-template", "--launch-template-name", "cli-fleet",
			"--launch-template-data", `{"ImageId":"ami-0123456789abcdef0","InstanceType":"t3.micro"}`)
		ltID, _ := path(lt, "LaunchTemplate", "LaunchTemplateId").(string)
		if ltID == "" {
			t.Fatalf("create-launch-template: %v", lt)
		}
		fleet := cli.mustRun("ec2", "create-fleet", "--type", "instant",
			"--launch-template-configs", `[{"LaunchTemplateSpecification":{"LaunchTemplateId":"`+ltID+`","Version":"$Latest"},"Overrides":[{"InstanceType":"m5.large"},{"InstanceType":"c5.large"}]}]`,
			"--target-capacity-specification", "TotalTargetCapacity=3,DefaultTargetCapacityType=spot",
			"--spot-options", "AllocationStrategy=price-capacity-optimized")
		n := 0
		insts, _ := path(fleet, "Instances").([]any)
		for _, g := range insts {
			ids, _ := path(g, "InstanceIds").([]any)
			n += len(ids)
		}
		if n != 3 {
			t.Errorf("create-fleet launched %d; want 3: %v", n, fleet)
		}
		desc := cli.mustRun("ec2", "describe-launch-templates", "--launch-template-names", "cli-fleet")
		if got := path(desc, "LaunchTemplates", 0, "LaunchTemplateId"); got != ltID {
			t.Errorf("describe-launch-templates: %v", desc)
		}
		cli.mustRun("ec2", "delete-launch-template", "--launch-template-id", ltID)
	})

	t.Run("describe-launch-template-versions", func(t *testing.T) {
		const ud = "IyEvYmluL3NoCmVjaG8gaGkK" // "#!/bin/sh\necho hi\n"
		cli.mustRun("ec2", "create-launch-template", "--launch-template-name", "cli-read-back",
			"--version-description", "spotter launch spec",
			"--launch-template-data", `{"ImageId":"ami-0123456789abcdef0","UserData":"`+ud+`","InstanceInitiatedShutdownBehavior":"terminate",`+
				`"SecurityGroupIds":["sg-0aaa1111"],"MetadataOptions":{"HttpTokens":"required","HttpEndpoint":"enabled"},`+
				`"TagSpecifications":[{"ResourceType":"volume","Tags":[{"Key":"team","Value":"red"}]}]}`)
		out := cli.mustRun("ec2", "describe-launch-template-versions", "--launch-template-name", "cli-read-back", "--versions", "$Latest")
		vs, _ := path(out, "LaunchTemplateVersions").([]any)
		if len(vs) != 1 {
			t.Fatalf("describe-launch-template-versions: %d versions; want 1: %v", len(vs), out)
		}
		d := path(vs[0], "LaunchTemplateData")
		for _, c := range []struct {
			got  any
			want string
		}{
			{path(vs[0], "VersionDescription"), "spotter launch spec"},
			{path(d, "ImageId"), "ami-0123456789abcdef0"},
			{path(d, "UserData"), ud},
			{path(d, "InstanceInitiatedShutdownBehavior"), "terminate"},
			{path(d, "SecurityGroupIds", 0), "sg-0aaa1111"},
			{path(d, "MetadataOptions", "HttpTokens"), "required"},
			{path(d, "MetadataOptions", "HttpEndpoint"), "enabled"},
			{path(d, "TagSpecifications", 0, "ResourceType"), "volume"},
			{path(d, "TagSpecifications", 0, "Tags", 0, "Value"), "red"},
		} {
			if c.got != c.want {
				t.Errorf("read back %v; want %q: %v", c.got, c.want, out)
			}
		}
		cli.wantError("InvalidLaunchTemplateId.VersionNotFound", "ec2", "describe-launch-template-versions", "--launch-template-name", "cli-read-back", "--versions", "2")
		cli.wantError("InvalidLaunchTemplateName.NotFoundException", "ec2", "describe-launch-template-versions", "--launch-template-name", "cli-missing")
		cli.wantError("DryRunOperation", "ec2", "describe-launch-template-versions", "--launch-template-name", "cli-read-back", "--dry-run")
	})

	t.Run("describe-images and an architecture mismatch", func(t *testing.T) {
		const arm = "ami-0a1b2c3d4e5f60718"
		if err := w.sim.SetImage("us-east-1", arm, "arm64"); err != nil {
			t.Fatal(err)
		}
		out := cli.mustRun("ec2", "describe-images", "--image-ids", arm, "ami-0123456789abcdef0")
		imgs, _ := path(out, "Images").([]any)
		if len(imgs) != 2 || path(imgs[0], "Architecture") != "arm64" || path(imgs[1], "Architecture") != "x86_64" ||
			path(imgs[0], "State") != "available" || path(imgs[0], "OwnerId") != awssim.DefaultAccountID {
			t.Errorf("describe-images: %v", out)
		}
		filtered := cli.mustRun("ec2", "describe-images", "--owners", "self", "--filters", "Name=architecture,Values=arm64")
		if imgs, _ := path(filtered, "Images").([]any); len(imgs) != 1 || path(imgs[0], "ImageId") != arm {
			t.Errorf("describe-images --filters architecture=arm64: %v", filtered)
		}
		cli.wantError("InvalidAMIID.Malformed", "ec2", "describe-images", "--image-ids", "img-0123")
		cli.wantError("DryRunOperation", "ec2", "describe-images", "--image-ids", arm, "--dry-run")
		cli.wantError("InvalidParameterValue", "ec2", "run-instances", "--image-id", arm, "--instance-type", "t3.micro", "--count", "1")
	})

	t.Run("get-session-token with MFA", func(t *testing.T) {
		serial := w.sim.DefaultMFASerial()
		code, err := awssim.TOTP(awssim.DefaultMFASecret, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		wrong := "123456"
		if wrong == code {
			wrong = "654321"
		}
		cli.wantError("AccessDenied", "sts", "get-session-token", "--serial-number", serial, "--token-code", wrong)
		out := cli.mustRun("sts", "get-session-token", "--serial-number", serial, "--token-code", code, "--duration-seconds", "900")
		if ak, _ := path(out, "Credentials", "AccessKeyId").(string); !strings.HasPrefix(ak, "ASIA") {
			t.Errorf("session credentials: %v", out)
		}
		cli.wantError("AccessDenied", "sts", "get-session-token", "--serial-number", serial, "--token-code", code)
	})
}
