package taskcluster

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// claim is one claimed task's run: the queue's listClaimedTasks names its
// worker (services/queue/schemas/v1/list-claimed-tasks-response.yml).
type claim struct {
	queue         string
	group, worker string
	at            time.Time
	seq           int // claim order: the listing is oldest claim first
}

// listClaimed answers listClaimedTasks: the queue's claimed tasks, oldest
// claim first, paged by limit (default 1000) and continuationToken.
func (s *Server) listClaimed(w http.ResponseWriter, r *http.Request, queue string) {
	start, limit, ok := page(w, r.URL.Query())
	if !ok {
		return
	}
	type entry struct {
		id string
		c  claim
	}
	s.mu.Lock()
	var all []entry
	for id, c := range s.claimed {
		if c.queue == queue {
			all = append(all, entry{id, c})
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(a, b int) bool { return all[a].c.seq < all[b].c.seq })
	start = min(start, len(all))
	end := min(start+limit, len(all))
	tasks := []map[string]any{}
	for _, e := range all[start:end] {
		tasks = append(tasks, map[string]any{"taskId": e.id, "runId": 0, "workerGroup": e.c.group, "workerId": e.c.worker,
			"claimed": e.c.at.Format("2006-01-02T15:04:05.000Z"), "task": map[string]any{"taskQueueId": queue}})
	}
	resp := map[string]any{"tasks": tasks}
	if end < len(all) {
		resp["continuationToken"] = strconv.Itoa(end)
	}
	writeJSON(w, resp)
}
