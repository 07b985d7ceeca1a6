package taskcluster

import (
	"context"
	"net/url"
	"strconv"
)

// Claim is one claimed task's run and the worker that holds it.
type Claim struct {
	TaskID      string
	RunID       int
	WorkerGroup string
	WorkerID    string
}

// MaxClaimedPages bounds one listing of a queue's claimed tasks (1000 a
// page).
const MaxClaimedPages = 20

// Claimed lists the task queue's claimed tasks with their workers
// (listClaimedTasks, GET /api/queue/v1/task-queues/<id>/claimed, scope
// queue:claimed-list:<id>). complete is false when the listing stopped at
// MaxClaimedPages: a task it does not show may still run. An error
// wrapping ErrForbidden means the client lacks the scope.
func (c *Client) Claimed(ctx context.Context, taskQueueID string) (claims []Claim, complete bool, err error) {
	token := ""
	for range MaxClaimedPages {
		q := url.Values{"limit": {"1000"}}
		if token != "" {
			q.Set("continuationToken", token)
		}
		var page struct {
			Tasks []struct {
				TaskID      string `json:"taskId"`
				RunID       int    `json:"runId"`
				WorkerGroup string `json:"workerGroup"`
				WorkerID    string `json:"workerId"`
			} `json:"tasks"`
			ContinuationToken string `json:"continuationToken"`
		}
		if err := c.get(ctx, "/api/queue/v1/task-queues/"+url.PathEscape(taskQueueID)+"/claimed?"+q.Encode(), &page); err != nil {
			return nil, false, err
		}
		for _, t := range page.Tasks {
			if t.TaskID == "" || len(t.TaskID) > 64 || len(t.WorkerID) > 128 {
				continue
			}
			claims = append(claims, Claim{TaskID: t.TaskID, RunID: t.RunID, WorkerGroup: t.WorkerGroup, WorkerID: t.WorkerID})
		}
		if token = page.ContinuationToken; token == "" {
			return claims, true, nil
		}
	}
	return claims, false, nil
}

// Key is a claimed run's id among a pool's tracked jobs.
func Key(c Claim) string { return "taskcluster:" + c.TaskID + "/" + strconv.Itoa(c.RunID) }
