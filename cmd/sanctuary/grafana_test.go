package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboardPath is the committed Grafana dashboard (see README).
const dashboardPath = "grafana/sanctuary.json"

// selectorRE finds the metric names of a PromQL expression: a name right
// before its label matchers or range ({…} or […]), or the first argument of
// Grafana's label_values(). Every query of the dashboard names its metrics
// with a matcher ({instance=~"$instance"}), which the test checks.
var selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]|label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// dashboardQueries returns every "expr" of the dashboard's panels and the
// query of its template variables.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardPath, err)
	}
	var out []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, k)
			}
		case []any:
			for _, x := range v {
				walk(x, key)
			}
		case string:
			if key == "expr" || key == "definition" {
				out = append(out, v)
			}
		}
	}
	walk(doc, "")
	return out
}

// TestDashboardMetricsExist: every metric the Grafana dashboard queries is
// in the server's /metrics (a renamed metric breaks this, not a panel in
// production).
func TestDashboardMetricsExist(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("only %d queries found in %s", len(queries), dashboardPath)
	}
	want := map[string]bool{}
	for _, q := range queries {
		ms := selectorRE.FindAllStringSubmatch(q, -1)
		if len(ms) == 0 {
			t.Errorf("no metric found in %q", q)
		}
		for _, m := range ms {
			want[m[1]+m[2]] = true
		}
	}

	ts := startServer(t)
	resp, body := ts.do(t, "GET", "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		have[name] = true
	}
	var missing, found []string
	for name := range want {
		if have[name] {
			found = append(found, name)
		} else {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard queries metrics /metrics does not have: %q", missing)
	}
	// Every counter, gauge and histogram of the server is on the dashboard.
	for name := range have {
		if strings.HasPrefix(name, "sanctuary_") && !strings.HasSuffix(name, "_sum") && !want[name] &&
			!want[strings.TrimSuffix(name, "_bucket")+"_bucket"] {
			base := strings.TrimSuffix(name, "_count")
			if !want[base+"_bucket"] && !want[base+"_count"] {
				t.Errorf("%s is not on the dashboard", name)
			}
		}
	}
	t.Logf("%d metrics queried, all present", len(found))
}
