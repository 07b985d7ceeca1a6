// Package taskcluster reads a Taskcluster deployment's queue for a pool:
// pending and claimed counts of a task queue and the running workers of
// its worker pool, with Hawk authentication as Taskcluster's clients send
// it (id = clientId, key = accessToken, SHA-256). It keeps no state.
package taskcluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// Client calls one deployment.
type Client struct {
	HTTP        *http.Client
	RootURL     string
	ClientID    string // "" calls anonymously
	AccessToken string
	Now         func() time.Time
}

// Counts are one task queue's numbers.
type Counts struct {
	Pending, Claimed, Idle int
	// Partial says a count needed a scope the client lacks (claimed
	// count, worker list) and is 0 for that reason.
	Partial string
}

// ErrForbidden is a 401 or 403 from the deployment.
var ErrForbidden = errors.New("taskcluster: not authorized")

// MaxWorkerPages bounds one listing of a pool's workers (1000 a page).
const MaxWorkerPages = 20

// Read returns the queue's counts: pendingTasks always; claimedTasks from
// taskQueueCounts, and idle workers (running workers less claimed tasks)
// from worker-manager's list, each when the client's scopes allow.
func (c *Client) Read(ctx context.Context, taskQueueID string) (Counts, error) {
	esc := url.PathEscape(taskQueueID)
	var pending struct {
		PendingTasks int `json:"pendingTasks"`
	}
	if err := c.get(ctx, "/api/queue/v1/pending/"+esc, &pending); err != nil {
		return Counts{}, err
	}
	out := Counts{Pending: pending.PendingTasks}
	var counts struct {
		ClaimedTasks int `json:"claimedTasks"`
	}
	switch err := c.get(ctx, "/api/queue/v1/task-queues/"+esc+"/counts", &counts); {
	case errors.Is(err, ErrForbidden):
		out.Partial = "claimed count: the client lacks queue:claimed-count:" + taskQueueID
		return out, nil
	case err != nil:
		return Counts{}, err
	}
	out.Claimed = counts.ClaimedTasks
	prov, wt, _ := strings.Cut(taskQueueID, "/")
	running := 0
	token := ""
	for range MaxWorkerPages {
		q := url.Values{"workerState": {"running"}}
		if token != "" {
			q.Set("continuationToken", token)
		}
		var page struct {
			Workers []struct {
				Capacity int `json:"capacity"`
			} `json:"workers"`
			ContinuationToken string `json:"continuationToken"`
		}
		err := c.get(ctx, "/api/worker-manager/v1/provisioners/"+url.PathEscape(prov)+"/worker-types/"+url.PathEscape(wt)+"/workers?"+q.Encode(), &page)
		if errors.Is(err, ErrForbidden) {
			out.Partial = "idle workers: the client lacks worker-manager:list-workers:" + taskQueueID
			return out, nil
		}
		if err != nil {
			return Counts{}, err
		}
		for _, w := range page.Workers {
			running += max(w.Capacity, 1)
		}
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	out.Idle = max(0, running-out.Claimed)
	return out, nil
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.RootURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.ClientID != "" {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		req.Header.Set("Authorization", Hawk(req, c.ClientID, c.AccessToken, now()))
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("taskcluster: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("taskcluster: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: HTTP %d on %s", ErrForbidden, resp.StatusCode, strings.SplitN(path, "?", 2)[0])
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("taskcluster: HTTP %d on %s", resp.StatusCode, strings.SplitN(path, "?", 2)[0])
	}
	return json.Unmarshal(b, v)
}

// Hawk is the Authorization header for req: Hawk's header scheme over
// "hawk.1.header\n<ts>\n<nonce>\n<METHOD>\n<resource>\n<host>\n<port>\n<hash>\n<ext>\n",
// HMAC-SHA256 keyed with the access token, without a payload hash (GETs).
func Hawk(req *http.Request, clientID, accessToken string, now time.Time) string {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	var nb [6]byte
	_, _ = rand.Read(nb[:])
	ts, nonce := strconv.FormatInt(now.Unix(), 10), hex.EncodeToString(nb[:])
	norm := "hawk.1.header\n" + ts + "\n" + nonce + "\n" + req.Method + "\n" + req.URL.RequestURI() + "\n" +
		strings.ToLower(host) + "\n" + port + "\n\n\n"
	m := hmac.New(sha256.New, []byte(accessToken))
	m.Write([]byte(norm))
	mac := base64.StdEncoding.EncodeToString(m.Sum(nil))
	return `Hawk id="` + clientID + `", ts="` + ts + `", nonce="` + nonce + `", mac="` + mac + `"`
}
