package awssim_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/spotter-dev/spotter/awssim"
)

// The calls generic tools make first and an AWS CLI user tries, through
// the real AWS CLI: describe-regions, describe-tags,
// describe-instance-status, stop/start-instances, and the Price List API's
// get-products (AWS JSON 1.1, not Query).
func TestAWSCLIGenericTools(t *testing.T) {
	w := mustWorld(t, awssim.Options{PendingDelay: delay})
	cli := mustCLI(t, w)

	t.Run("describe-regions", func(t *testing.T) {
		out := cli.mustRun("ec2", "describe-regions")
		regions, _ := path(out, "Regions").([]any)
		if len(regions) != len(w.sim.Regions()) {
			t.Errorf("%d regions; want %d", len(regions), len(w.sim.Regions()))
		}
		one := cli.mustRun("ec2", "describe-regions", "--region-names", "ap-southeast-2")
		if path(one, "Regions", 0, "Endpoint") != "ec2.ap-southeast-2.amazonaws.com" || path(one, "Regions", 0, "OptInStatus") != "opt-in-not-required" {
			t.Errorf("describe-regions --region-names ap-southeast-2: %v", one)
		}
		cli.wantError("InvalidParameterValue", "ec2", "describe-regions", "--region-names", "xx-nowhere-1")
	})

	od := cli.mustRun("ec2", "run-instances", "--image-id", "ami-0123456789abcdef0", "--instance-type", "m5a.large", "--count", "1",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=team,Value=red}]")
	odID, _ := path(od, "Instances", 0, "InstanceId").(string)
	sp := cli.mustRun("ec2", "run-instances", "--image-id", "ami-0123456789abcdef0", "--instance-type", "t3.micro",
		"--instance-market-options", "MarketType=spot,SpotOptions={SpotInstanceType=one-time}")
	spID, _ := path(sp, "Instances", 0, "InstanceId").(string)
	if odID == "" || spID == "" {
		t.Fatalf("run-instances: %v %v", od, sp)
	}

	t.Run("describe-tags", func(t *testing.T) {
		out := cli.mustRun("ec2", "describe-tags", "--filters", "Name=resource-id,Values="+odID)
		if tags, _ := path(out, "Tags").([]any); len(tags) != 1 || path(tags[0], "Key") != "team" || path(tags[0], "Value") != "red" || path(tags[0], "ResourceType") != "instance" {
			t.Errorf("describe-tags: %v", out)
		}
	})

	t.Run("describe-instance-status", func(t *testing.T) {
		out := cli.mustRun("ec2", "describe-instance-status", "--instance-ids", odID)
		if st, _ := path(out, "InstanceStatuses").([]any); len(st) != 0 {
			t.Errorf("pending instance listed without --include-all-instances: %v", out)
		}
		out = cli.mustRun("ec2", "describe-instance-status", "--instance-ids", odID, "--include-all-instances")
		if path(out, "InstanceStatuses", 0, "InstanceState", "Name") != "pending" {
			t.Errorf("--include-all-instances: %v", out)
		}
		w.clock.Advance(delay)
		out = cli.mustRun("ec2", "describe-instance-status", "--filters", "Name=instance-status.status,Values=ok")
		if st, _ := path(out, "InstanceStatuses").([]any); len(st) != 2 || path(st[0], "SystemStatus", "Details", 0, "Status") != "passed" {
			t.Errorf("running instances with passing checks: %v", out)
		}
	})

	t.Run("stop-instances and start-instances", func(t *testing.T) {
		cli.wantError("UnsupportedOperation", "ec2", "stop-instances", "--instance-ids", spID)
		cli.wantError("DryRunOperation", "ec2", "stop-instances", "--instance-ids", odID, "--dry-run")
		out := cli.mustRun("ec2", "stop-instances", "--instance-ids", odID)
		if path(out, "StoppingInstances", 0, "CurrentState", "Name") != "stopping" || path(out, "StoppingInstances", 0, "PreviousState", "Name") != "running" {
			t.Errorf("stop-instances: %v", out)
		}
		w.clock.Advance(delay)
		out = cli.mustRun("ec2", "start-instances", "--instance-ids", odID)
		if path(out, "StartingInstances", 0, "CurrentState", "Name") != "pending" || path(out, "StartingInstances", 0, "PreviousState", "Name") != "stopped" {
			t.Errorf("start-instances: %v", out)
		}
	})

	t.Run("pricing get-products", func(t *testing.T) {
		out := cli.mustRun("pricing", "get-products", "--service-code", "AmazonEC2", "--format-version", "aws_v1",
			"--filters", "Type=TERM_MATCH,Field=instanceType,Value=g6.xlarge", "Type=TERM_MATCH,Field=regionCode,Value=us-east-1",
			"Type=TERM_MATCH,Field=operatingSystem,Value=Linux")
		list, _ := path(out, "PriceList").([]any)
		if len(list) != 1 || path(out, "FormatVersion") != "aws_v1" {
			t.Fatalf("get-products: %v", out)
		}
		var doc any
		if s, _ := list[0].(string); json.Unmarshal([]byte(s), &doc) != nil {
			t.Fatalf("PriceList entry is not a JSON string: %v", list[0])
		}
		terms, _ := path(doc, "terms", "OnDemand").(map[string]any)
		for _, term := range terms {
			dims, _ := path(term, "priceDimensions").(map[string]any)
			for _, d := range dims {
				usd, _ := path(d, "pricePerUnit", "USD").(string)
				want, _ := w.sim.OnDemandPrice("us-east-1", "g6.xlarge")
				if got, err := strconv.ParseFloat(usd, 64); err != nil || got != want {
					t.Errorf("g6.xlarge costs %q; want %v", usd, want)
				}
				return
			}
		}
		t.Errorf("no on-demand price dimension in %v", doc)
	})

	t.Run("pricing get-products denied", func(t *testing.T) {
		if err := w.sim.InjectFault("GetProducts", "AccessDeniedException", 1, 1); err != nil {
			t.Fatal(err)
		}
		cli.wantError("AccessDeniedException", "pricing", "get-products", "--service-code", "AmazonEC2")
	})
}
