package bootstrap_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/pools"
)

// TestHostile: every way to present a credential that is not this
// instance's gets the same 401, an audit event with the reason, and no
// secret.
func TestHostile(t *testing.T) {
	const id = "i-0123456789abcdef0"
	type call struct {
		cred, id, doc, sig string
	}
	cases := map[string]struct {
		setup  func(t *testing.T, f *fixture, c *call)
		reason string
	}{
		"reused": {reason: "reused", setup: func(t *testing.T, f *fixture, c *call) {
			if _, err := f.svc.Redeem(bg, bootstrap.Request{Credential: c.cred, InstanceID: c.id, Document: c.doc, Signature: c.sig}); err != nil {
				t.Fatal(err)
			}
		}},
		"another instance, not the launch's": {reason: "wrong_tags", setup: func(t *testing.T, f *fixture, c *call) {
			c.id = "i-0fedcba987654321f"
			f.launched(c.id, "sp-another-launch", f.clk.Now())
			c.doc, c.sig = f.sig.sign(t, c.id, "us-east-1", f.clk.Now())
		}},
		"instance EC2 does not know": {reason: "no_instance", setup: func(t *testing.T, f *fixture, c *call) {
			c.id = "i-00000000000000001"
			c.doc, c.sig = f.sig.sign(t, c.id, "us-east-1", f.clk.Now())
		}},
		"late: at bootTimeout exactly": {reason: "expired", setup: func(t *testing.T, f *fixture, c *call) {
			f.clk.Add(10*time.Minute - 31*time.Second) // issued 31 s before now
		}},
		"late: past bootTimeout": {reason: "expired", setup: func(t *testing.T, f *fixture, c *call) { f.clk.Add(time.Hour) }},
		"launched after the window": {reason: "launch_window", setup: func(t *testing.T, f *fixture, c *call) {
			f.launched(c.id, launchCT, f.clk.Now().Add(10*time.Minute))
		}},
		"launched before the credential": {reason: "launch_window", setup: func(t *testing.T, f *fixture, c *call) {
			f.launched(c.id, launchCT, f.clk.Now().Add(-2*time.Minute))
		}},
		"wrong pool tag": {reason: "wrong_tags", setup: func(t *testing.T, f *fixture, c *call) {
			f.ec2.ins[c.id].Tags["spotter:pool"] = "other-pool"
		}},
		"wrong token tag": {reason: "wrong_tags", setup: func(t *testing.T, f *fixture, c *call) {
			f.ec2.ins[c.id].Tags["spotter:token"] = "tok_zzzzzzzzzzzzzzzzzzzz"
		}},
		"no client-token tag": {reason: "wrong_tags", setup: func(t *testing.T, f *fixture, c *call) {
			delete(f.ec2.ins[c.id].Tags, "spotter:client-token")
		}},
		"terminated instance": {reason: "not_running", setup: func(t *testing.T, f *fixture, c *call) {
			in := f.ec2.ins[c.id]
			in.State = "terminated"
			f.ec2.ins[c.id] = in
		}},
		"bad identity signature": {reason: "identity_signature", setup: func(t *testing.T, f *fixture, c *call) {
			c.doc, c.sig = newSigner(t).sign(t, c.id, "us-east-1", f.clk.Now())
		}},
		"document edited after signing": {reason: "identity_signature", setup: func(t *testing.T, f *fixture, c *call) {
			c.doc = strings.Replace(c.doc, "c6i.large", "c6i.xlarge", 1)
		}},
		"signature not base64": {reason: "identity_signature", setup: func(t *testing.T, f *fixture, c *call) { c.sig = "%%%" }},
		"another instance's document": {reason: "identity_mismatch", setup: func(t *testing.T, f *fixture, c *call) {
			c.doc, c.sig = f.sig.sign(t, "i-0fedcba987654321f", "us-east-1", f.clk.Now())
		}},
		"document of another region": {reason: "identity_mismatch", setup: func(t *testing.T, f *fixture, c *call) {
			c.doc, c.sig = f.sig.sign(t, c.id, "eu-west-1", f.clk.Now())
		}},
		"no document": {reason: "identity_missing", setup: func(t *testing.T, f *fixture, c *call) { c.doc, c.sig = "", "" }},
		"unknown credential": {reason: "unknown", setup: func(t *testing.T, f *fixture, c *call) {
			c.cred = "spb_" + strings.Repeat("a", 52)
		}},
		"malformed credential":  {reason: "", setup: func(t *testing.T, f *fixture, c *call) { c.cred = c.cred + "'; rm -rf /" }},
		"malformed instance id": {reason: "", setup: func(t *testing.T, f *fixture, c *call) { c.id = "../i-0123" }},
		"pool deleted": {reason: "pool_changed", setup: func(t *testing.T, f *fixture, c *call) {
			now := f.clk.Now()
			f.pools.recs[poolName] = pools.Record{Pool: ciPool(), DeletedAt: &now}
		}},
		"pool deleted and created again": {reason: "pool_changed", setup: func(t *testing.T, f *fixture, c *call) {
			f.pools.recs[poolName] = pools.Record{Pool: ciPool(), Incarnation: "reborn"}
		}},
		"pool moved to another token": {reason: "pool_changed", setup: func(t *testing.T, f *fixture, c *call) {
			p := ciPool()
			p.TokenID = "tok_zzzzzzzzzzzzzzzzzzzz"
			f.pools.recs[poolName] = pools.Record{Pool: p}
		}},
		"capacity used up by other instances": {reason: "exhausted", setup: func(t *testing.T, f *fixture, c *call) {
			for _, other := range []string{"i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"} {
				f.launched(other, launchCT, f.clk.Now())
				d, s := f.sig.sign(t, other, "us-east-1", f.clk.Now())
				if _, err := f.svc.Redeem(bg, bootstrap.Request{Credential: c.cred, InstanceID: other, Document: d, Signature: s}); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, backends()["embedded"], true)
			f.setCanaries(t)
			cred, _ := f.issue(t, ciPool(), launchCT, 2)
			f.clk.Add(30 * time.Second)
			f.launched(id, launchCT, f.clk.Now())
			c := call{cred: cred, id: id}
			c.doc, c.sig = f.sig.sign(t, id, "us-east-1", f.clk.Now())
			f.clk.Add(time.Second)
			tc.setup(t, f, &c)
			before := f.ec2.calls
			g, err := f.svc.Redeem(bg, bootstrap.Request{Credential: c.cred, InstanceID: c.id, Document: c.doc, Signature: c.sig, Remote: "198.51.100.7"})
			// What the store or the document refuses never reaches EC2.
			asked := f.ec2.calls - before
			if early := tc.reason == "" || !strings.Contains("no_instance not_running wrong_tags launch_window", tc.reason); early && asked != 0 || !early && asked != 1 {
				t.Errorf("%d DescribeInstances for a %s refusal", asked, tc.reason)
			}
			if apperr.Code(err) != apperr.Unauth {
				t.Fatalf("err = %v; want %s", err, apperr.Unauth)
			}
			if g.Secrets != nil || g.Scoped != nil {
				t.Errorf("a refusal returned secrets: %+v", g)
			}
			if want := `"reason":"` + tc.reason + `"`; tc.reason != "" && !strings.Contains(f.audit.String(), want) {
				t.Errorf("audit lacks %s:\n%s", want, f.audit.String())
			}
			if tc.reason == "" && strings.Contains(f.audit.String(), `"outcome":"refused"`) {
				t.Errorf("garbage was audited:\n%s", f.audit.String())
			}
			for _, cn := range allCanaries() {
				if strings.Contains(err.Error()+f.audit.String()+f.logs.String(), cn) {
					t.Errorf("secret %q leaked", cn)
				}
			}
		})
	}
}
