package handlers

import "github.com/spotter-dev/spotter/task"

// replyBody is the JSON a task answers with: the task, where it ran, and
// what it did, with every warning a person should read.
func (d TaskDeps) replyBody(g task.Guarded, res task.Result) map[string]any {
	v := map[string]any{"task": g.Req.Task, "region": g.Region, "tokenId": g.Token.ID, "requestId": g.RequestID}
	var warnings []string
	switch {
	case res.Launch != nil:
		merge(v, res.Launch)
		warnings = res.Launch.Warnings
		if res.Launch.Instances == nil {
			v["instances"] = []any{}
		}
	case res.Terminate != nil:
		merge(v, res.Terminate)
		if res.Terminate.Terminated == nil {
			v["terminated"] = []any{}
		}
	case res.Status != nil:
		merge(v, res.Status)
		warnings = res.Status.Warnings
		if res.Status.Instances == nil {
			v["instances"] = []any{}
		}
	case res.Price != nil:
		merge(v, res.Price)
		warnings = res.Price.Warnings
	case res.Cancel != nil:
		merge(v, res.Cancel)
		if res.Cancel.Cancelled == nil {
			v["cancelled"] = []any{}
		}
	}
	if w := append(append([]string{}, g.Task.Warnings...), warnings...); len(w) > 0 {
		v["warnings"] = w
	}
	return v
}
