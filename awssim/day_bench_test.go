package awssim_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// BenchmarkSimulatedDay runs one virtual day of a 200-instance spot fleet:
// EC2's 20–90 s boots, 5 % interruptions per instance-hour, the clock
// advanced in 10 s steps, each interrupted instance replaced at once, and
// a reconciler's DescribeInstances of the fleet's live instances every
// simulated minute (or, in "clock only", none: what the clock and its
// events cost alone). One op is the whole day; ns/op is its wall time.
func BenchmarkSimulatedDay(b *testing.B) {
	b.Run("clock only", func(b *testing.B) { simulateDay(b, false) })
	b.Run("describe every minute", func(b *testing.B) { simulateDay(b, true) })
}

func simulateDay(b *testing.B, describeEachMinute bool) {
	const fleet = 200
	day := 24 * time.Hour
	launch := func(sim *awssim.Sim, n int) {
		serveForm(b, sim, url.Values{
			"Action": {"RunInstances"}, "ImageId": {"ami-0123456789abcdef0"}, "InstanceType": {"t3.micro"},
			"MinCount": {"1"}, "MaxCount": {fmt.Sprint(n)}, "InstanceMarketOptions.MarketType": {"spot"},
			"TagSpecification.1.ResourceType": {"instance"},
			"TagSpecification.1.Tag.1.Key":    {"spotter:pool"}, "TagSpecification.1.Tag.1.Value": {"linux-ci"},
		})
	}
	describe := url.Values{
		"Action":        {"DescribeInstances"},
		"Filter.1.Name": {"tag:spotter:pool"}, "Filter.1.Value.1": {"linux-ci"},
		"Filter.2.Name": {"instance-state-name"}, "Filter.2.Value.1": {"pending"}, "Filter.2.Value.2": {"running"},
	}
	var interruptions, events int
	b.ReportAllocs()
	for b.Loop() {
		boot := awssim.EC2BootDelay()
		sim := awssim.New(awssim.Options{Seed: 1, Start: epoch, Boot: &boot, InterruptionRate: 0.05})
		if err := sim.SetCapacity("us-east-1", "", "t3.micro", false, 1<<20); err != nil {
			b.Fatal(err)
		}
		launch(sim, fleet)
		var since uint64
		interruptions, events = 0, 0
		for tick := 1; tick <= int(day/(10*time.Second)); tick++ {
			if _, err := sim.AdvanceClock(10 * time.Second); err != nil {
				b.Fatal(err)
			}
			gone := 0
			for _, e := range sim.Events(since) {
				since = e.Seq
				events++
				switch {
				case e.DetailType == "EC2 Spot Instance Interruption Warning":
					interruptions++
				case e.Detail.State == "shutting-down":
					gone++
				}
			}
			if gone > 0 {
				launch(sim, gone)
			}
			if describeEachMinute && tick%6 == 0 {
				if live := strings.Count(serveForm(b, sim, describe), "<instanceId>"); live != fleet {
					b.Fatalf("%d live instances at %v; want %d", live, sim.Now().Sub(epoch), fleet)
				}
			}
		}
	}
	b.ReportMetric(float64(interruptions), "interruptions/day")
	b.ReportMetric(float64(events), "events/day")
}
