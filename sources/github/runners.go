package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Scope is where a self-hosted runner registers: one repository
// ("repos/owner/name") or an organization ("orgs/org"), the path prefix
// of GitHub's runner endpoints.
type Scope string

// RepoScope and OrgScope make a Scope.
func RepoScope(repo string) Scope { return Scope("repos/" + repo) }
func OrgScope(org string) Scope   { return Scope("orgs/" + org) }

// Target is the owner/name or org the scope names.
func (s Scope) Target() string {
	_, t, _ := strings.Cut(string(s), "/")
	return t
}

// JITRequest is the body of generate-jitconfig as GitHub documents it:
// runner_group_id is required (there is no server-side default) and
// labels are 1 to 100.
type JITRequest struct {
	Name          string   `json:"name"`
	RunnerGroupID int64    `json:"runner_group_id"`
	Labels        []string `json:"labels"`
	WorkFolder    string   `json:"work_folder,omitempty"`
}

// JITConfig is what generate-jitconfig returns: the runner it registered
// and the config the runner starts with (a secret: it is the runner's
// credentials).
type JITConfig struct {
	RunnerID int64
	Encoded  string
}

// StatusError is a reply with a status the call did not expect. Message
// is GitHub's "message" field, cut short and printable only.
type StatusError struct {
	Code    int
	Method  string
	Path    string
	Message string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("github: HTTP %d on %s %s", e.Code, e.Method, e.Path)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg + " (check sources.github's token or App permissions and its repos or org)"
}

// StatusOf is the HTTP status of a *StatusError in err's chain, or 0.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// messageOf reads GitHub's error body {"message": …}: at most 200
// printable characters, so a reply cannot fill a log line with junk.
func messageOf(b []byte) string {
	var v struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	m := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, v.Message)
	if len(m) > 200 {
		m = m[:200]
	}
	return m
}

// GenerateJITConfig registers a just-in-time runner in scope and returns
// its config (POST /{scope}/actions/runners/generate-jitconfig, 201).
func (c *Client) GenerateJITConfig(ctx context.Context, scope Scope, req JITRequest) (JITConfig, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return JITConfig{}, err
	}
	b, _, err := c.do(ctx, http.MethodPost, c.url("/"+string(scope)+"/actions/runners/generate-jitconfig"), body, http.StatusCreated)
	if err != nil {
		return JITConfig{}, err
	}
	var v struct {
		Runner struct {
			ID int64 `json:"id"`
		} `json:"runner"`
		Encoded string `json:"encoded_jit_config"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Encoded == "" {
		return JITConfig{}, fmt.Errorf("github: the generate-jitconfig reply has no encoded_jit_config")
	}
	return JITConfig{RunnerID: v.Runner.ID, Encoded: v.Encoded}, nil
}

// RegistrationToken makes a token config.sh registers runners in scope
// with, good for an hour (POST /{scope}/actions/runners/registration-token, 201).
func (c *Client) RegistrationToken(ctx context.Context, scope Scope) (string, time.Time, error) {
	b, _, err := c.do(ctx, http.MethodPost, c.url("/"+string(scope)+"/actions/runners/registration-token"), nil, http.StatusCreated)
	if err != nil {
		return "", time.Time{}, err
	}
	var v struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Token == "" {
		return "", time.Time{}, fmt.Errorf("github: the registration-token reply has no token")
	}
	return v.Token, v.ExpiresAt, nil
}

// Runner is a registered self-hosted runner as the runners listing shows it.
type Runner struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // online, offline
	Busy   bool   `json:"busy"`
}

// RunnerByName finds scope's runner called name (GET
// /{scope}/actions/runners?name=…); found is false when there is none.
func (c *Client) RunnerByName(ctx context.Context, scope Scope, name string) (r Runner, found bool, err error) {
	b, _, err := c.get(ctx, c.url("/"+string(scope)+"/actions/runners?name="+url.QueryEscape(name)))
	if err != nil {
		return Runner{}, false, err
	}
	var v struct {
		Runners []Runner `json:"runners"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Runner{}, false, fmt.Errorf("github: the runners listing: %w", err)
	}
	for _, r := range v.Runners {
		if r.Name == name {
			return r, true, nil
		}
	}
	return Runner{}, false, nil
}

// RemoveRunner deletes one of scope's runners (DELETE
// /{scope}/actions/runners/{id}, 204).
func (c *Client) RemoveRunner(ctx context.Context, scope Scope, id int64) error {
	_, _, err := c.do(ctx, http.MethodDelete, c.url("/"+string(scope)+"/actions/runners/"+strconv.FormatInt(id, 10)), nil, http.StatusNoContent)
	return err
}

// WebURL is the github.com (or GHES) address of scope that config.sh
// takes as --url, derived from the API base: https://api.github.com →
// https://github.com; https://ghe.example.com/api/v3 → https://ghe.example.com.
func WebURL(apiBase string, scope Scope) string {
	base := strings.TrimRight(apiBase, "/")
	if u, err := url.Parse(base); err == nil {
		switch {
		case strings.HasSuffix(u.Path, "/api/v3"):
			u.Path = strings.TrimSuffix(u.Path, "/api/v3")
		case strings.HasPrefix(u.Host, "api."):
			u.Host = strings.TrimPrefix(u.Host, "api.")
		}
		base = strings.TrimRight(u.String(), "/")
	}
	return base + "/" + scope.Target()
}
