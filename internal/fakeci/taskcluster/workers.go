package taskcluster

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Worker-manager lists a pool's workers two ways (services/worker-manager
// src/api.js): listWorkersForWorkerPool, GET /workers/<workerPoolId>, every
// worker, 404 for an unknown pool; and listWorkers, GET
// /provisioners/<p>/worker-types/<w>/workers, filtered by workerState and
// quarantined, with firstClaim and latestTask. Both need
// worker-manager:list-workers:<pool> and page with limit (default 1000)
// and continuationToken.

var workerStates = map[string]bool{"": true, "requested": true, "running": true, "stopping": true, "stopped": true}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request, pool string, queueView bool) {
	q := r.URL.Query()
	start, limit, ok := page(w, q)
	if !ok {
		return
	}
	state := ""
	if queueView {
		state = q.Get("workerState")
		if !workerStates[state] {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "workerState must be requested, running, stopping or stopped")
			return
		}
	}
	s.mu.Lock()
	known := s.pools[pool]
	var all []Worker
	for _, wk := range s.workers {
		if wk.WorkerPoolID == pool && (state == "" || state == wk.State) {
			all = append(all, *wk)
		}
	}
	s.mu.Unlock()
	if !known && !queueView {
		writeError(w, http.StatusNotFound, "ResourceNotFound", "Worker Pool does not exist")
		return
	}
	sort.Slice(all, func(a, b int) bool {
		return all[a].WorkerGroup+"/"+all[a].WorkerID < all[b].WorkerGroup+"/"+all[b].WorkerID
	})
	start = min(start, len(all))
	end := min(start+limit, len(all))
	out := []map[string]any{}
	for _, wk := range all[start:end] {
		out = append(out, workerJSON(wk, queueView))
	}
	resp := map[string]any{"workers": out}
	if end < len(all) {
		resp["continuationToken"] = strconv.Itoa(end)
	}
	writeJSON(w, resp)
}

func workerJSON(wk Worker, queueView bool) map[string]any {
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	m := map[string]any{"workerPoolId": wk.WorkerPoolID, "workerGroup": wk.WorkerGroup, "workerId": wk.WorkerID,
		"providerId": "spotter", "state": wk.State, "capacity": 1}
	if !queueView {
		m["created"], m["expires"] = stamp(wk.Created), stamp(wk.Created.Add(96*time.Hour))
		m["lastModified"], m["lastChecked"] = stamp(wk.Created), stamp(wk.Created)
		return m
	}
	m["quarantineUntil"] = stamp(wk.Created) // in the past: not quarantined
	if !wk.FirstClaim.IsZero() {
		m["firstClaim"], m["lastDateActive"] = stamp(wk.FirstClaim), stamp(wk.FirstClaim)
	}
	if wk.LatestTask != "" {
		m["latestTask"] = map[string]any{"taskId": wk.LatestTask, "runId": 0}
	}
	return m
}

// page reads the paging arguments Taskcluster's list endpoints take:
// limit (default and at most 1000) and continuationToken (here, the
// offset of the next item). A bad one is answered 400 and ok is false.
func page(w http.ResponseWriter, q url.Values) (start, limit int, ok bool) {
	limit = 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "limit must be a positive integer")
			return 0, 0, false
		}
		limit = min(n, 1000)
	}
	if v := q.Get("continuationToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "bad continuationToken")
			return 0, 0, false
		}
		start = n
	}
	return start, limit, true
}
