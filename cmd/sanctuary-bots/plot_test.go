package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The plot draws every shape that has figures, with its floor where one
// was measured, and says which shapes it left out.
func TestPlotDrawsEachShape(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"joined": 55, "server_cpu_us_per_packet": 6.5, "server_rss_kb_per_participant": 560}`)
	write("a.floor.json", `{"cpu_us_per_packet": 2.4}`)
	write("b.json", `{"joined": 110, "server_cpu_us_per_packet": 5.2, "server_rss_kb_per_participant": 580}`)
	write("c.json", `{"joined": 0}`) // a run that failed: no figures
	out := filepath.Join(dir, "p.svg")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"plot", "-dir", dir, "-out", out, "a", "b", "c"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	// a and b in the CPU panel and the RSS panel, with their names once
	// per panel; the floor of a only.
	if n := strings.Count(s, "<circle"); n != 2*2+2 { // the points, and one legend mark per circle series
		t.Errorf("%d circles, want 6", n)
	}
	if n := strings.Count(s, "<rect x="); n != 1+1 { // a's floor and the legend's mark
		t.Errorf("%d squares, want 2", n)
	}
	for _, name := range []string{">a<", ">b<"} {
		if strings.Count(s, name) != 2 {
			t.Errorf("shape %s not named once per panel", name)
		}
	}
	if !strings.Contains(stderr.String(), "c: ") {
		t.Errorf("stderr %q does not say c was left out", stderr.String())
	}
}
