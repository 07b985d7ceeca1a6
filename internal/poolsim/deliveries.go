package poolsim

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/internal/fakeci/github"
)

// Delivery is one line of a recorded-deliveries file (JSONL): the headers
// GitHub sends and the raw workflow_job body, as a webhook receiver logs
// them.
type Delivery struct {
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// PoolLabels are the labels of the benchmark's pool in the GitHub mode: a
// self-hosted Linux runner that takes the trace's three job kinds.
var PoolLabels = []string{"self-hosted", "linux", "x64", "build", "test", "lint"}

// foreignLabels is a GitHub-hosted job the recording carries alongside the
// pool's (every fifth push runs one): a repository webhook delivers those
// too, and the replay must drop them as spotter does.
var foreignLabels = []string{"ubuntu-latest"}

const (
	recordRepo = "acme/app"
	jobIDBase  = 4_000_000_000 // GitHub's job ids are past 2^31 today
	runIDBase  = 1_000_000_000
)

// pickup is how long after queued a job's runner reports in_progress in a
// recording: 5–30 s, a function of the job so the file is reproducible.
// The replay must take the run time from completed − in_progress, not
// from queued.
func pickup(id int) time.Duration { return time.Duration(5+id*7%26) * time.Second }

// Record renders jobs (a trace starting at start) as the workflow_job
// deliveries a repository webhook would log for them, in the order they
// happen: queued, in_progress, completed per job, plus a GitHub-hosted job
// every fifth push and one redelivery (same X-GitHub-Delivery) every 50
// jobs. The body is the fake GitHub's WorkflowJobPayload; delivery GUIDs
// are derived from the job and action, so the same trace gives the same
// bytes.
func Record(w io.Writer, start time.Time, jobs []Job) error {
	fake := github.New("")
	fake.URL = "https://api.github.com"
	type event struct {
		at     time.Time
		action string
		job    github.Job
	}
	var events []event
	add := func(j github.Job, created, started time.Time, run time.Duration, redeliver bool) {
		j.Created, j.Status = created, "queued"
		events = append(events, event{at: created, action: "queued", job: j})
		j.Status, j.RunnerName, j.RunnerID, j.Started = "in_progress", fmt.Sprintf("bench-%d", j.ID%100000), j.ID%100000, started
		events = append(events, event{at: started, action: "in_progress", job: j})
		if redeliver {
			// The same job and action make the same GUID: a redelivery.
			events = append(events, event{at: started.Add(time.Second), action: "in_progress", job: j})
		}
		j.Status, j.Conclusion, j.Completed = "completed", "success", started.Add(run)
		events = append(events, event{at: j.Completed, action: "completed", job: j})
	}
	lastPush := -1
	for _, tj := range jobs {
		created := start.Add(tj.Arrive)
		started := created.Add(pickup(tj.ID))
		gj := github.Job{ID: jobIDBase + int64(tj.ID), RunID: runIDBase + int64(tj.Push), Repo: recordRepo,
			Name: fmt.Sprintf("%s (%d)", tj.Labels[len(tj.Labels)-1], tj.ID), Labels: tj.Labels}
		add(gj, created, started, tj.Run, tj.ID%50 == 49)
		if tj.Push != lastPush && tj.Push%5 == 0 {
			hosted := github.Job{ID: jobIDBase + 1_000_000 + int64(tj.Push), RunID: gj.RunID, Repo: recordRepo,
				Name: "docs", Labels: foreignLabels}
			add(hosted, created, created.Add(3*time.Second), 2*time.Minute, false)
		}
		lastPush = tj.Push
	}
	sort.SliceStable(events, func(a, b int) bool { return events[a].at.Before(events[b].at) })
	enc := json.NewEncoder(w)
	for _, e := range events {
		body, err := json.Marshal(fake.WorkflowJobPayload(e.action, e.job))
		if err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(fmt.Appendf(nil, "%d/%s", e.job.ID, e.action))
		h := hex.EncodeToString(sum[:16])
		github.SignRequest(req, "", "workflow_job", h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:], body)
		d := Delivery{Headers: map[string]string{}, Body: body}
		for k := range req.Header {
			// GitHub's spelling, as a receiver's log shows it (HTTP
			// header names are case-insensitive; Replay canonicalises).
			d.Headers[strings.Replace(k, "X-Github-", "X-GitHub-", 1)] = req.Header.Get(k)
		}
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return nil
}

// ReplayStats counts what Replay did with a file's deliveries.
type ReplayStats struct {
	Deliveries  int // lines read
	Duplicates  int // a delivery GUID seen before (a redelivery)
	OtherEvents int // not workflow_job (ping, …)
	Foreign     int // jobs whose labels the pool does not carry
	Open        int // jobs never completed, or completed without running
}

// workflowJob is what the replay reads of a workflow_job body.
type workflowJob struct {
	Action string `json:"action"`
	Job    struct {
		ID          int64     `json:"id"`
		RunID       int64     `json:"run_id"`
		Labels      []string  `json:"labels"`
		CreatedAt   time.Time `json:"created_at"`
		StartedAt   time.Time `json:"started_at"`
		CompletedAt time.Time `json:"completed_at"`
	} `json:"workflow_job"`
}

type replayed struct {
	runID                   int64
	labels                  []string
	created, started, ended time.Time
	running, finished       bool
}

// Replay reads a recorded-deliveries file back into a trace for a pool
// with labels: arrival at the job's created_at, run time completed −
// in_progress (started_at), pushes from run ids. Deliveries are keyed by
// X-GitHub-Delivery (redeliveries count once), jobs by workflow_job.id;
// a job whose labels are not all among the pool's is ignored, as spotter
// ignores it (GitHub's runs-on rule, case-insensitive). The trace starts
// at the local midnight, in loc, of the first arrival.
func Replay(r io.Reader, labels []string, loc *time.Location) (time.Time, []Job, ReplayStats, error) {
	var st ReplayStats
	byID, err := readDeliveries(r, &st)
	if err != nil {
		return time.Time{}, nil, st, err
	}
	ids := make([]int64, 0, len(byID))
	for id, j := range byID {
		switch {
		case !matches(j.labels, labels):
			st.Foreign++
		case !j.finished || !j.running || j.ended.Before(j.started):
			st.Open++
		default:
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(a, b int) bool {
		ja, jb := byID[ids[a]], byID[ids[b]]
		if !ja.created.Equal(jb.created) {
			return ja.created.Before(jb.created)
		}
		return ids[a] < ids[b]
	})
	if len(ids) == 0 {
		return time.Time{}, nil, st, fmt.Errorf("no completed job for labels %v in %d deliveries", labels, st.Deliveries)
	}
	first := byID[ids[0]].created.In(loc)
	start := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc)
	jobs := make([]Job, len(ids))
	pushes := map[int64]int{}
	for i, id := range ids {
		j := byID[id]
		if pushes[j.runID] == 0 {
			pushes[j.runID] = len(pushes) + 1
		}
		jobs[i] = Job{ID: i, Push: pushes[j.runID], Arrive: j.created.Sub(start), Run: j.ended.Sub(j.started), Labels: j.labels}
	}
	return start, jobs, st, nil
}

// matches is GitHub's runs-on rule: a runner takes a job when it carries
// every one of the job's labels (case-insensitive).
func matches(job, pool []string) bool {
	for _, l := range job {
		if !slices.ContainsFunc(pool, func(p string) bool { return strings.EqualFold(p, l) }) {
			return false
		}
	}
	return len(job) > 0
}

// readDeliveries collects a file's workflow_job deliveries by job id,
// each delivery GUID once.
func readDeliveries(r io.Reader, st *ReplayStats) (map[int64]*replayed, error) {
	seen := map[string]bool{}
	byID := map[int64]*replayed{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 25<<20) // GitHub's payload cap
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		st.Deliveries++
		var d Delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		h := http.Header{}
		for k, v := range d.Headers {
			h.Set(k, v)
		}
		id := h.Get("X-GitHub-Delivery")
		if id == "" {
			return nil, fmt.Errorf("line %d: no X-GitHub-Delivery header", line)
		}
		if seen[id] {
			st.Duplicates++
			continue
		}
		seen[id] = true
		if h.Get("X-GitHub-Event") != "workflow_job" {
			st.OtherEvents++
			continue
		}
		var wj workflowJob
		if err := json.Unmarshal(d.Body, &wj); err != nil {
			return nil, fmt.Errorf("line %d (delivery %s): %w", line, id, err)
		}
		j := byID[wj.Job.ID]
		if j == nil {
			j = &replayed{runID: wj.Job.RunID, labels: wj.Job.Labels, created: wj.Job.CreatedAt}
			byID[wj.Job.ID] = j
		}
		switch wj.Action {
		case "in_progress":
			j.running, j.started = true, wj.Job.StartedAt
		case "completed":
			j.finished, j.ended = true, wj.Job.CompletedAt
			if !wj.Job.StartedAt.IsZero() && wj.Job.StartedAt.After(j.created) {
				j.running, j.started = true, wj.Job.StartedAt
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return byID, nil
}
