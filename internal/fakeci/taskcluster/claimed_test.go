package taskcluster_test

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/fakeci/taskcluster"
)

// TestListClaimed: listClaimedTasks names each claimed task's worker,
// oldest claim first, pages, drops a resolved task, and needs
// queue:claimed-list:<queue>.
func TestListClaimed(t *testing.T) {
	at := time.Unix(1764547200, 0)
	s := taskcluster.Start(t)
	s.SetClock(func() time.Time { return at })
	s.AddClient(client, secret, "queue:claimed-list:"+queue)
	var ids []string
	for _, w := range []string{"i-0aaa", "i-0bbb", "i-0ccc"} {
		if _, err := s.CreateTask(queue); err != nil {
			t.Fatal(err)
		}
		id, err := s.ClaimTask(queue, "us-east-1", w)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.ResolveTask(ids[1]); err != nil {
		t.Fatal(err)
	}
	c := caller{t: t, s: s, now: at, sign: true, key: secret}
	var workers []string
	next := "/api/queue/v1/task-queues/" + queue + "/claimed?limit=1"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		code, b := c.get(next)
		if code != 200 {
			t.Fatalf("%d %v", code, b)
		}
		for _, x := range b["tasks"].([]any) {
			m := x.(map[string]any)
			workers = append(workers, m["workerId"].(string))
		}
		next = ""
		if tok, ok := b["continuationToken"].(string); ok {
			next = "/api/queue/v1/task-queues/" + queue + "/claimed?limit=1&continuationToken=" + tok
		}
	}
	if len(workers) != 2 || workers[0] != "i-0aaa" || workers[1] != "i-0ccc" {
		t.Fatalf("claimed by %v; want i-0aaa then i-0ccc", workers)
	}
	if code, _ := (caller{t: t, s: s, now: at}).get("/api/queue/v1/task-queues/" + queue + "/claimed"); code != 403 {
		t.Fatalf("anonymous: %d, want 403", code)
	}
}
