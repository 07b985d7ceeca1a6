package spot

import (
	"context"
	"testing"
)

// TestDescribe finds one of the token's instances with its tags and
// launch time, and answers found=false for another token's, an unknown id
// and a malformed one, with one DescribeInstances at most.
func TestDescribe(t *testing.T) {
	e := mustEnv(t)
	mine := e.mustLaunch(t, e.spec("tok_a", "one", 1)).Instances[0]
	theirs := e.mustLaunch(t, e.spec("tok_b", "two", 1)).Instances[0]
	ctx := context.Background()

	in, found, err := e.client.Describe(ctx, e.creds, region, "tok_a", mine.ID)
	tags := in.Tags
	if err != nil || !found {
		t.Fatalf("Describe(mine) = %v, %v", found, err)
	}
	if in.ID != mine.ID || in.LaunchTime.IsZero() || tags[TagToken] != "tok_a" || tags[TagClientToken] != ClientToken("tok_a", "one") || tags["team"] != "ci" {
		t.Errorf("instance %+v, tags %v", in, tags)
	}
	for name, id := range map[string]string{"another token's": theirs.ID, "unknown": "i-0000000000000000f", "malformed": "../etc"} {
		e.resetCalls()
		if _, found, err := e.client.Describe(ctx, e.creds, region, "tok_a", id); err != nil || found {
			t.Errorf("%s: found=%v err=%v; want not found", name, found, err)
		}
		if n := e.callCount("DescribeInstances"); n > 1 || (name == "malformed" && n != 0) {
			t.Errorf("%s: %d DescribeInstances", name, n)
		}
	}
}
