package bootstrap_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/bootstrap"
)

// BenchmarkHandOff is one launch's credential issued and redeemed by one
// instance, identity signature checked, on the embedded store with EC2
// faked: spotter's own cost of a boot (EC2's DescribeInstances comes on
// top; the document's signing, AWS's part, is not timed).
func BenchmarkHandOff(b *testing.B) {
	f := newFixture(b, backends()["embedded"], true)
	f.setCanaries(b)
	for i := range b.N {
		b.StopTimer()
		ct, id := fmt.Sprintf("sp-bench-%d", i), fmt.Sprintf("i-%017x", i)
		f.launched(id, ct, f.clk.Now())
		doc, sig := f.sig.sign(b, id, "us-east-1", f.clk.Now())
		b.StartTimer()
		cred, _ := f.issue(b, ciPool(), ct, 1)
		if _, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: id, Document: doc, Signature: sig}); err != nil {
			b.Fatal(err)
		}
		f.clk.Add(time.Second) // under the default rate, whatever b.N
	}
}
