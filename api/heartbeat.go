package api

// HeartbeatRequest is the body of POST /v1/instances/heartbeat: the
// credential the instance's bootstrap grant carried, its instance id and,
// if it can tell, whether its agents are running a job.
type HeartbeatRequest struct {
	Credential string `json:"credential"`
	InstanceID string `json:"instanceId"`
	// State is "busy", "idle", or left out.
	State string `json:"state,omitempty"`
}

// HeartbeatReply says when to beat next, in seconds.
type HeartbeatReply struct {
	Code     int `json:"code,omitempty"`
	Interval int `json:"interval"`
}
