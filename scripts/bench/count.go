package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	vault "github.com/hashicorp/vault/api"
)

// actionCounter counts the EC2 and STS actions awssim answers, from the one
// debug line awssim logs per request. It counts only while on, so the load
// runs pay nothing for it.
type actionCounter struct {
	on atomic.Bool
	mu sync.Mutex
	n  map[string]int
}

func (c *actionCounter) logger() *slog.Logger { return slog.New(counterHandler{c}) }

func (c *actionCounter) start() {
	c.mu.Lock()
	c.n = map[string]int{}
	c.mu.Unlock()
	c.on.Store(true)
}

func (c *actionCounter) stop() map[string]int {
	c.on.Store(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type counterHandler struct{ c *actionCounter }

func (h counterHandler) Enabled(context.Context, slog.Level) bool { return h.c.on.Load() }
func (h counterHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h counterHandler) WithGroup(string) slog.Handler            { return h }

func (h counterHandler) Handle(_ context.Context, r slog.Record) error {
	var action, status, code string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "action":
			action = a.Value.String()
		case "status":
			status = a.Value.String()
		case "code":
			code = a.Value.String()
		}
		return true
	})
	if action == "" {
		return nil
	}
	key := "ec2:" + action
	if action == "GetSessionToken" || action == "AssumeRole" || action == "GetCallerIdentity" {
		key = "sts:" + action
	}
	if status != "" && status != "200" {
		key += " (" + status + " " + code + ")"
	}
	h.c.mu.Lock()
	h.c.n[key]++
	h.c.mu.Unlock()
	return nil
}

// vaultAudit counts the requests Vault serves, from a file audit device
// enabled only while calibrating: Vault's own record, so nothing spotter
// does on the wire can be missed.
type vaultAudit struct {
	c    *vault.Client
	path string
	mnt  string
	off  int64
}

func enableAudit(c *vault.Client, path string) (*vaultAudit, error) {
	a := &vaultAudit{c: c, path: path, mnt: "spotter-bench"}
	err := c.Sys().EnableAuditWithOptions(a.mnt, &vault.EnableAuditOptions{
		Type: "file", Options: map[string]string{"file_path": path},
	})
	if err != nil {
		return nil, fmt.Errorf("enable a Vault file audit device: %w", err)
	}
	return a, nil
}

func (a *vaultAudit) disable() { _ = a.c.Sys().DisableAudit(a.mnt) }

// mark remembers where the log ends; since counts what came after it.
func (a *vaultAudit) mark() {
	if fi, err := os.Stat(a.path); err == nil {
		a.off = fi.Size()
	}
}

var tokenIDRE = regexp.MustCompile(`tok_[a-z0-9]+`)

// since returns the requests logged after mark, as "operation path" with
// token ids replaced by <id>.
func (a *vaultAudit) since() (map[string]int, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(a.off, 0); err != nil {
		return nil, err
	}
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			Type    string `json:"type"`
			Request struct {
				Operation string `json:"operation"`
				Path      string `json:"path"`
			} `json:"request"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Type != "request" || strings.HasPrefix(e.Request.Path, "sys/audit") {
			continue
		}
		n["vault:"+e.Request.Operation+" "+tokenIDRE.ReplaceAllString(e.Request.Path, "<id>")]++
	}
	return n, sc.Err()
}

// callCount is the calls of one launch, by service.
type callCount map[string]int

func merge(ms ...map[string]int) callCount {
	out := callCount{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func (c callCount) String() string {
	keys := slices.Sorted(maps.Keys(c))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "×" + strconv.Itoa(c[k]))
	}
	return b.String()
}

func (c callCount) total() int {
	t := 0
	for _, v := range c {
		t += v
	}
	return t
}
