package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls the GitHub REST API (api.github.com or GHES's /api/v3).
// Make one per pass: once it reaches Floor it refuses further calls.
type Client struct {
	HTTP  *http.Client
	Base  string
	Token string
	// Floor stops a pass when X-RateLimit-Remaining falls to it, leaving
	// the rest of the hour's calls to the pool's other users of the token.
	Floor int

	stop time.Time // set once Floor is reached: later calls refuse
}

// Job is a workflow job as the reconcile reads it.
type Job struct {
	ID         int64
	Repo       string
	Status     string // queued, in_progress, completed, waiting
	Labels     []string
	RunnerName string
}

// RateLimited is GitHub's primary (X-RateLimit-Remaining 0, until Reset)
// or secondary (Retry-After) limit, or the client's own floor.
type RateLimited struct {
	Until time.Time
}

func (e *RateLimited) Error() string {
	return "github: rate limited until " + e.Until.UTC().Format(time.RFC3339)
}

// MaxPages bounds one listing (100 items a page).
const MaxPages = 10

// APIVersion is the REST API version sent, GitHub's X-GitHub-Api-Version.
const APIVersion = "2022-11-28"

type jobJSON struct {
	ID         int64    `json:"id"`
	Status     string   `json:"status"`
	Labels     []string `json:"labels"`
	RunnerName *string  `json:"runner_name"`
}

func (j jobJSON) job(repo string) Job {
	out := Job{ID: j.ID, Repo: repo, Status: j.Status, Labels: j.Labels}
	if j.RunnerName != nil {
		out.RunnerName = *j.RunnerName
	}
	return out
}

// OpenJobs lists the queued and in-progress jobs of repo: the jobs of its
// queued and in-progress runs (a run is in progress while later jobs of it
// still queue).
func (c *Client) OpenJobs(ctx context.Context, repo string) ([]Job, error) {
	var out []Job
	for _, status := range []string{"queued", "in_progress"} {
		var runIDs []int64
		err := c.list(ctx, "/repos/"+repo+"/actions/runs?status="+status, func(b []byte) error {
			var page struct {
				Runs []struct {
					ID int64 `json:"id"`
				} `json:"workflow_runs"`
			}
			if err := json.Unmarshal(b, &page); err != nil {
				return err
			}
			for _, r := range page.Runs {
				runIDs = append(runIDs, r.ID)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, id := range runIDs {
			err := c.list(ctx, "/repos/"+repo+"/actions/runs/"+strconv.FormatInt(id, 10)+"/jobs", func(b []byte) error {
				var page struct {
					Jobs []jobJSON `json:"jobs"`
				}
				if err := json.Unmarshal(b, &page); err != nil {
					return err
				}
				for _, j := range page.Jobs {
					if j.Status == "queued" || j.Status == "in_progress" {
						out = append(out, j.job(repo))
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// GetJob reads one job.
func (c *Client) GetJob(ctx context.Context, repo string, id int64) (Job, error) {
	var j jobJSON
	b, _, err := c.get(ctx, c.url("/repos/"+repo+"/actions/jobs/"+strconv.FormatInt(id, 10)))
	if err != nil {
		return Job{}, err
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("github: job %d: %w", id, err)
	}
	return j.job(repo), nil
}

// OrgRepos lists an organization's repositories (owner/name).
func (c *Client) OrgRepos(ctx context.Context, org string) ([]string, error) {
	var out []string
	err := c.list(ctx, "/orgs/"+org+"/repos", func(b []byte) error {
		var page []struct {
			FullName string `json:"full_name"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return err
		}
		for _, r := range page {
			if RepoRe.MatchString(r.FullName) {
				out = append(out, r.FullName)
			}
		}
		return nil
	})
	return out, err
}

func (c *Client) url(path string) string { return strings.TrimRight(c.Base, "/") + path }

// list follows rel="next" links, at most MaxPages, and only on the API's
// own host: the token is never sent where a Link header points elsewhere.
func (c *Client) list(ctx context.Context, path string, each func([]byte) error) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := c.url(path + sep + "per_page=100")
	base, err := url.Parse(c.Base)
	if err != nil {
		return err
	}
	for range MaxPages {
		b, h, err := c.get(ctx, next)
		if err != nil {
			return err
		}
		if err := each(b); err != nil {
			return fmt.Errorf("github: %s: %w", path, err)
		}
		next = nextLink(h.Get("Link"))
		if next == "" {
			return nil
		}
		u, err := url.Parse(next)
		if err != nil || u.Host != base.Host {
			return fmt.Errorf("github: a Link header points off the API host")
		}
	}
	return nil
}

// nextLink is the rel="next" URL of a Link header, or "".
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		u, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(u), "<>")
		}
	}
	return ""
}

func (c *Client) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	return c.do(ctx, http.MethodGet, u, nil, http.StatusOK)
}

// do makes one API call and returns the body of a reply with status want.
// A rate limit is a *RateLimited; another status a *StatusError.
func (c *Client) do(ctx context.Context, method, u string, body []byte, want int) ([]byte, http.Header, error) {
	if !c.stop.IsZero() {
		return nil, nil, &RateLimited{Until: c.stop}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("github: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("github: %w", err)
	}
	if rl := rateLimit(resp); rl != nil {
		return nil, nil, rl
	}
	if resp.StatusCode != want {
		return nil, nil, &StatusError{Code: resp.StatusCode, Method: method, Path: req.URL.Path, Message: messageOf(b)}
	}
	if rem, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining")); err == nil && rem <= c.Floor {
		c.stop = resetOf(resp.Header)
	}
	return b, resp.Header, nil
}

// rateLimit reads GitHub's refusals for rate: Retry-After (secondary
// limit) or X-RateLimit-Remaining 0 (primary, until X-RateLimit-Reset).
func rateLimit(resp *http.Response) error {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return nil
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil || secs < 0 {
			secs = 60
		}
		return &RateLimited{Until: time.Now().Add(time.Duration(secs) * time.Second)}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		return &RateLimited{Until: resetOf(resp.Header)}
	}
	return nil
}

// resetOf is X-RateLimit-Reset, or a minute from now without one.
func resetOf(h http.Header) time.Time {
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return time.Now().Add(time.Minute)
	}
	return time.Unix(reset, 0)
}

// IsRateLimited reports a RateLimited error.
func IsRateLimited(err error) (*RateLimited, bool) {
	var rl *RateLimited
	ok := errors.As(err, &rl)
	return rl, ok
}
