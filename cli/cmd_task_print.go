package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spotter-dev/spotter/client"
)

// How task replies are shown: tables for lists of objects, warnings on stderr.

// printWarnings prints a reply's warnings on stderr.
func printWarnings(stderr io.Writer, raw json.RawMessage) {
	var r struct {
		Warnings []any `json:"warnings"`
	}
	if json.Unmarshal(raw, &r) == nil {
		for _, w := range r.Warnings {
			fmt.Fprintf(stderr, "spotter: warning: %s\n", cell(w))
		}
	}
}

// taskColumns is the column order for task tables; other fields follow,
// sorted.
func taskColumns() []string {
	return []string{"id", "type", "az", "availabilityZone", "lifecycle", "state", "price", "spot", "onDemand", "savingPct", "vcpu", "perVcpu",
		"expiresAt", "ttlLeftSeconds", "launchTime", "costSoFar", "privateIp", "publicIp", "reason"}
}

// printTaskReply prints a reply: --json as the server sent it; otherwise
// each list of objects as a table, other lists and values as lines, and
// warnings on stderr. It reads the raw reply rather than fixed types so
// whatever a task returns is shown.
func printTaskReply(stdout, stderr io.Writer, r client.TaskReply, asJSON bool) error {
	var m map[string]any
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	if asJSON {
		return writeJSON(stdout, m)
	}
	delete(m, "code")
	printWarnings(stderr, r.Raw)
	delete(m, "warnings")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var tables []string
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		if _, ok := objectList(m[k]); ok {
			tables = append(tables, k)
			continue
		}
		v := cell(m[k])
		if l, ok := m[k].([]any); ok && len(l) == 0 {
			v = "none"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, v)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range tables {
		rows, _ := objectList(m[k])
		fmt.Fprintf(stdout, "\n%s (%d):\n", k, len(rows))
		printTable(stdout, rows)
	}
	return nil
}

// objectList reports whether v is a non-empty JSON list of objects. An
// empty list prints as "none": it could have held strings or objects.
func objectList(v any) ([]map[string]any, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	rows := make([]map[string]any, 0, len(list))
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		rows = append(rows, o)
	}
	return rows, true
}

func printTable(w io.Writer, rows []map[string]any) {
	seen := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			seen[k] = true
		}
	}
	var cols []string
	for _, c := range taskColumns() {
		if seen[c] {
			cols = append(cols, c)
			delete(seen, c)
		}
	}
	var rest []string
	for c := range seen {
		rest = append(rest, c)
	}
	sort.Strings(rest)
	cols = append(cols, rest...)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = cell(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	tw.Flush()
}
