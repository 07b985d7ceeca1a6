// Package fakeci holds local stand-ins for the CI providers' APIs (GitHub
// Actions, Buildkite, Taskcluster), one sub-package each. They answer as the
// providers document (paths, auth headers, JSON shapes, pagination and
// rate-limit headers; ../../../shared notes ci-providers.md has the sources)
// and send signed webhooks, so tests can point spotter at them by base URL.
// Test-only: nothing in the server imports them.
package fakeci
