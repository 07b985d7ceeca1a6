package api

// Task names: what a task request's "task" and a policy's "tasks" name.
const (
	TaskLaunch    = "launch"
	TaskTerminate = "terminate"
	TaskStatus    = "status"
	TaskPrice     = "price"
	TaskCancel    = "cancel"
)

// AllTasks returns every task a policy may name.
func AllTasks() []string {
	return []string{TaskLaunch, TaskTerminate, TaskStatus, TaskPrice, TaskCancel}
}

// DefaultTasks returns what a policy that names no tasks allows: every task
// but cancel.
func DefaultTasks() []string {
	return []string{TaskLaunch, TaskTerminate, TaskStatus, TaskPrice}
}
