package main

import (
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the process's GC target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestGCTargetFollowsJoins: the steady target at once; Go's default while
// websockets open and for gcQuiet after the last; the steady one again
// after; the process's own on restore.
func TestGCTargetFollowsJoins(t *testing.T) {
	before := gcPercent()
	now := time.Unix(1000, 0)
	g := newGCTarget(25)
	g.now = func() time.Time { return now }
	if got := gcPercent(); got != 25 {
		t.Fatalf("target %d at start, want 25", got)
	}
	if g.tick() {
		t.Fatal("joining before any socket opened")
	}

	srv := httptest.NewServer(g.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := gcPercent(); got != joinGCPercent {
		t.Fatalf("target %d while a socket opens, want %d", got, joinGCPercent)
	}
	now = now.Add(gcQuiet / 2)
	g.opened() // another join, half way
	now = now.Add(gcQuiet - time.Second)
	if !g.tick() || gcPercent() != joinGCPercent {
		t.Fatalf("back to %d %v after the second socket, want %d until gcQuiet after it", gcPercent(), gcQuiet-time.Second, joinGCPercent)
	}
	now = now.Add(time.Second)
	if g.tick() || gcPercent() != 25 {
		t.Fatalf("target %d gcQuiet after the last socket, want 25", gcPercent())
	}

	g.restore()
	if got := gcPercent(); got != before {
		t.Fatalf("target %d after restore, want the process's %d", got, before)
	}
	if newGCTarget(-1) != nil || gcPercent() != before {
		t.Fatal("with GOGC set, the target must stay the runtime's")
	}
	var none *gcTarget
	none.restore()
	if none.wrap(http.NotFoundHandler()) == nil {
		t.Fatal("a nil tuner must pass the handler through")
	}
}

// TestGCTargetSteadyAboveDefault: an operator's steady target above Go's
// default is kept while people join too.
func TestGCTargetSteadyAboveDefault(t *testing.T) {
	g := newGCTarget(200)
	defer g.restore()
	g.opened()
	if got := gcPercent(); got != 200 {
		t.Fatalf("target %d while joining with -gc-percent 200, want 200", got)
	}
}

// TestGCPercent: the server's GC target is 25 % unless the operator says
// otherwise, with the flag (or its environment twin) or with Go's own GOGC.
func TestGCPercent(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		getenv map[string]string
		want   int // -1: the runtime's, from GOGC
		err    string
	}{
		{"default", nil, nil, defaultGCPercent, ""},
		{"flag", []string{"-gc-percent", "100"}, nil, 100, ""},
		{"environment twin", nil, map[string]string{"SANCTUARY_GC_PERCENT": "50"}, 50, ""},
		{"GOGC wins over the default", nil, map[string]string{"GOGC": "200"}, -1, ""},
		{"the flag wins over GOGC", []string{"-gc-percent", "40"}, map[string]string{"GOGC": "200"}, 40, ""},
		{"zero", []string{"-gc-percent", "0"}, nil, 0, "-gc-percent must be 1 or more"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseCase(t, tc.args, tc.getenv, tc.err)
			if !ok {
				return
			}
			if c.gcPercent != tc.want {
				t.Fatalf("gcPercent %d, want %d", c.gcPercent, tc.want)
			}
		})
	}
}
