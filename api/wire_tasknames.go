package api

// Task names: what a task request's "task" and a policy's "tasks" name.
const (
	TaskLaunch    = "launch"
	TaskTerminate = "terminate"
	TaskStatus    = "status"
	TaskPrice     = "price"
	TaskCancel    = "cancel"
	// TaskExtend sets live instances' TTL (from launch) within maxTTL. A
	// policy names it to allow it; its launches then arm each instance's
	// own guard at maxTTL, since an extension cannot reach the guard.
	TaskExtend = "extend"
)

// AllTasks returns every task a policy may name.
func AllTasks() []string {
	return []string{TaskLaunch, TaskTerminate, TaskStatus, TaskPrice, TaskCancel, TaskExtend}
}

// DefaultTasks returns what a policy that names no tasks allows: every task
// but cancel and extend.
func DefaultTasks() []string {
	return []string{TaskLaunch, TaskTerminate, TaskStatus, TaskPrice}
}
