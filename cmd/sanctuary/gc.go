package main

import (
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// joinGCPercent is Go's GC target while people are joining: Go's own
// default. A join allocates 0.6–0.9 MB (its handshakes, SDP), and at a low target
// a join storm spends its CPU collecting (with 25 % throughout, first audio
// was slower in most rounds measured; cmd/sanctuary-bots/BENCHMARKS.md).
const joinGCPercent = 100

// gcQuiet is how long after the last websocket opened the server goes back
// to its steady GC target.
const gcQuiet = 10 * time.Second

// gcTarget sets Go's GC target by what the server is doing. Forwarding
// allocates almost nothing, so once everyone has joined a low target costs
// little CPU and keeps the heap near its live data; while sockets open,
// the handshakes allocate, and Go's default keeps them fast.
type gcTarget struct {
	steady int              // % once quiet (-gc-percent)
	before int              // the process's target before newGCTarget
	now    func() time.Time // time.Now; tests move it

	mu       sync.Mutex
	joining  bool      // the target is joinGCPercent
	lastOpen time.Time // when the last websocket opened
}

// newGCTarget sets the steady target at once and returns the tuner; nil
// when percent is not positive (GOGC in the environment decides).
func newGCTarget(percent int) *gcTarget {
	if percent <= 0 {
		return nil
	}
	return &gcTarget{steady: percent, before: debug.SetGCPercent(percent), now: time.Now}
}

// restore gives the process back the target it had before newGCTarget.
func (g *gcTarget) restore() {
	if g != nil {
		debug.SetGCPercent(g.before)
	}
}

// opened notes a websocket opening: joins are coming.
func (g *gcTarget) opened() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastOpen = g.now()
	if !g.joining && joinGCPercent > g.steady {
		g.joining = true
		debug.SetGCPercent(joinGCPercent)
	}
}

// tick goes back to the steady target once no websocket has opened for
// gcQuiet. It reports whether the target is the joining one.
func (g *gcTarget) tick() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.joining && g.now().Sub(g.lastOpen) >= gcQuiet {
		g.joining = false
		debug.SetGCPercent(g.steady)
		// Collect now and give the system back what the joins left free:
		// Go would otherwise return it a little at a time.
		debug.FreeOSMemory()
	}
	return g.joining
}

// run ticks every second until stop is closed.
func (g *gcTarget) run(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			g.tick()
		}
	}
}

// wrap tells g of every request to h (the websocket route) before h
// serves it. A nil g wraps nothing.
func (g *gcTarget) wrap(h http.Handler) http.Handler {
	if g == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.opened()
		h.ServeHTTP(w, r)
	})
}
