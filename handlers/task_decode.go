package handlers

import (
	"encoding/json"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/task"
)

// decodeTask reads the native body or, when it has the wt-spotter shape
// (construct/attributes), the body of the system spotter descends from.
func decodeTask(body []byte) (task.Task, error) {
	// Both shapes are checked as a Task: the wt-spotter body has no maps, so
	// its keys are all held to one spelling either way.
	if err := checkKeys(body, &task.Task{}); err != nil {
		return task.Task{}, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return task.Task{}, apperr.New(apperr.Invalid, "%s", describeJSONError(err))
	}
	_, hasConstruct := probe["construct"]
	_, hasAttributes := probe["attributes"]
	if _, native := probe["task"]; !native && (hasConstruct || hasAttributes) {
		return decodeWTSpotter(body)
	}
	var t task.Task
	if err := decodeJSON(body, &t); err != nil {
		return task.Task{}, err
	}
	return t, t.Validate()
}
