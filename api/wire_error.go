package api

// ErrorBody is the JSON every error reply carries. Error is a stable
// snake_case code scripts switch on; Details says what a person can do,
// and never echoes a secret, a token or an expected signature.
type ErrorBody struct {
	Code    int    `json:"code"`
	Error   string `json:"error"`
	Details string `json:"details,omitempty"`
}
