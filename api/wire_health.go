package api

// Health is the reply of GET /healthz ("ok") and GET /readyz ("ready").
type Health struct {
	Code   int    `json:"code"`
	Status string `json:"status"`
}
