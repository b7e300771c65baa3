package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseOptionsEnvAndFlags(t *testing.T) {
	env := envOf(map[string]string{
		"SANCTUARY_BOTS_SECRET":      "s3cret",
		"SANCTUARY_BOTS_BOTS":        "50",
		"SANCTUARY_BOTS_DURATION":    "30s",
		"SANCTUARY_BOTS_METRICS_URL": "http://127.0.0.1:9/metrics",
		"SANCTUARY_BOTS_JSON":        "true",
		"SANCTUARY_BOTS_MOVE_EVERY":  "250ms",
	})
	var stderr bytes.Buffer
	o, err := parseOptions([]string{"-bots", "7", "-server-pid", "42", "-breakouts", "6"}, env, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.rc.Bots != 7 || o.rc.Duration != 30*time.Second || string(o.rc.Secret) != "s3cret" ||
		o.rc.MetricsURL != "http://127.0.0.1:9/metrics" || !o.jsonOut || o.rc.ServerPID != 42 ||
		o.rc.Speakers != 3 || o.rc.URL != "ws://127.0.0.1:8080/ws" || o.rc.Breakouts != 6 ||
		o.rc.MoveEvery != 250*time.Millisecond {
		t.Fatalf("%+v", o)
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{nil, nil}, // no secret
		{[]string{"-secret", "x", "extra"}, nil},
		{[]string{"-secret", "x"}, map[string]string{"SANCTUARY_BOTS_BOTS": "many"}},
		{[]string{"-secret", "x"}, map[string]string{"SANCTUARY_BOTS_MOVE_EVERY": "often"}},
	} {
		var stderr bytes.Buffer
		if _, err := parseOptions(tc.args, envOf(tc.env), &stderr); err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), nil, envOf(nil), &out, &errs); code != 2 {
		t.Fatalf("no secret: exit %d", code)
	}
	out.Reset()
	errs.Reset()
	args := []string{"-secret", "x", "-url", "ws://127.0.0.1:1/ws", "-bots", "1", "-speakers", "0",
		"-duration", "50ms", "-warmup", "10ms", "-json"}
	if code := run(context.Background(), args, envOf(nil), &out, &errs); code != 1 {
		t.Fatalf("unreachable server: exit %d\n%s", code, errs.String())
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 || !strings.HasPrefix(out.String(), "{") {
		t.Fatalf("stdout is not one JSON object:\n%s", out.String())
	}
	if !strings.Contains(errs.String(), "FAIL: 1 of 1 bots failed to join") {
		t.Fatalf("stderr:\n%s", errs.String())
	}
}

func TestVerdict(t *testing.T) {
	if v := verdict(bots.Report{Bots: 3, LossPct: 1}); len(v) != 0 {
		t.Fatalf("passing report failed: %v", v)
	}
	v := verdict(bots.Report{Bots: 3, Failed: 1, Failures: []string{"bot 2: x"}, LossPct: 1.5, ForeignPackets: 2})
	if len(v) != 4 {
		t.Fatalf("%q", v)
	}
	v = verdict(bots.Report{Bots: 3, Breakouts: 2, Moves: 5, MovesTimed: 4, MovesUnheard: 1,
		BreakoutFailures: []string{"move bot 2 to r-x: no answer"}})
	if len(v) != 2 || !strings.Contains(v[0], "1 of 5 moved bots") || !strings.HasPrefix(v[1], "breakouts: ") {
		t.Fatalf("%q", v)
	}
}

func TestPrintTable(t *testing.T) {
	var b bytes.Buffer
	printTable(&b, bots.Report{Bots: 2, ServerRSSMB: 12})
	if !strings.Contains(b.String(), "server RSS MB") || !strings.Contains(b.String(), "loss %") ||
		strings.Contains(b.String(), "moves") {
		t.Fatal(b.String())
	}
	b.Reset()
	printTable(&b, bots.Report{Bots: 2, Breakouts: 3, Moves: 7, MovesTimed: 6, MoveMsP50: 8.5, MoveMsP99: 12})
	for _, want := range []string{"breakout rooms", "7 (6 / 0)", "move ms p50 / p99",
		"8.50 / 12.00", "loss % (settled in rooms)"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("no %q in\n%s", want, b.String())
		}
	}
}
