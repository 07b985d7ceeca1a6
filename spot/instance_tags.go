package spot

// Tag returns the value of one of the instance's tags, "" when absent.
// Handlers use it to tell a launch's own instances (spotter:client-token)
// from the rest of what a token runs.
func (i Instance) Tag(key string) string { return i.tags[key] }
