// Package fakeci holds local stand-ins for the CI providers' APIs (GitHub
// Actions, Buildkite, Taskcluster), one sub-package each. They answer as the
// providers document (paths, auth headers, JSON shapes, pagination and
// rate-limit headers; each file names the provider document it follows)
// and send signed webhooks, so tests can point spotter at them by base URL.
// Test-only: nothing in the server imports them.
package fakeci
