package signaling_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// testSecret signs every token of these tests (HS256).
var testSecret = []byte("sanctuary-test-secret-0123456789abcdef")

// harness is a real server on 127.0.0.1: signaling over a real websocket,
// a real pion engine bound to loopback, and bots that are real pion peers.
type harness struct {
	t      *testing.T
	srv    *signaling.Server
	engine *sfu.Engine
	http   *httptest.Server
	url    string
	api    *webrtc.API
	runID  uint32

	mu   sync.Mutex
	bots []*bots.Bot
}

func newHarness(t *testing.T, slots int, tweak func(*signaling.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, slots, sfu.Config{LoopbackOnly: true}, tweak)
}

// newHarnessWith is newHarness with an engine configured by ec.
func newHarnessWith(t *testing.T, slots int, ec sfu.Config, tweak func(*signaling.Config)) *harness {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{HMACSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	e, err := sfu.NewEngine(ec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := signaling.Config{Verifier: v, Engine: e, Slots: slots}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := signaling.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	api, err := bots.NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, engine: e, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http"),
		api: api, runID: uint32(time.Now().UnixNano())}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.forgetBots()
	h.srv.Close()
	h.http.Close()
	_ = h.engine.Close()
}

// forgetBots closes the harness's bots and drops its references to them.
func (h *harness) forgetBots() {
	h.mu.Lock()
	bs := h.bots
	h.bots = nil
	h.mu.Unlock()
	for _, b := range bs {
		_ = b.Close()
	}
}

// token mints a token for user in session with role.
func (h *harness) token(user, role, session string, ttl time.Duration) string {
	h.t.Helper()
	tok, err := auth.Mint(testSecret, auth.MintOptions{UserID: user, Role: role, Session: session, TTL: ttl})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// dial joins bot index i as user "bot-i" of session; level is its loudness
// in -dBov when speak is set.
func (h *harness) dial(ctx context.Context, session string, i int, speak bool, level uint8) *bots.Bot {
	h.t.Helper()
	b, err := h.dialUser(ctx, session, fmt.Sprintf("bot-%d", i), i, speak, level)
	if err != nil {
		h.t.Fatalf("bot %d: %v", i, err)
	}
	return b
}

func (h *harness) dialUser(ctx context.Context, session, user string, i int, speak bool, level uint8) (*bots.Bot, error) {
	b, err := bots.Dial(ctx, bots.Config{
		URL: h.url, Token: h.token(user, auth.RoleParticipant, session, time.Hour), Session: session,
		Index: i, RunID: h.runID, Speak: speak, Level: level, API: h.api,
	})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.bots = append(h.bots, b)
	h.mu.Unlock()
	return b, nil
}

// waitConnected waits until every bot's PeerConnection is connected.
func waitConnected(ctx context.Context, t *testing.T, bs ...*bots.Bot) {
	t.Helper()
	for _, b := range bs {
		if err := b.WaitConnected(ctx); err != nil {
			t.Fatalf("bot %d: %v", b.Index(), err)
		}
	}
}

// eventually polls cond every 20 ms until it holds or ctx ends. It bounds a
// broken run; tests assert on counts, not on how fast they came.
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// received returns how many packets b got from each source since the
// counts in before.
func received(b *bots.Bot, before map[int]uint64) map[int]uint64 {
	now := b.Stats().ReceivedBySource
	out := make(map[int]uint64, len(now))
	for src, n := range now {
		out[src] = n - before[src]
	}
	return out
}

// usage is what a server holds for its clients: the leak check compares it
// before and after.
type usage struct {
	goroutines   int
	participants int   // present records over all sessions
	peers        int64 // open PeerConnections
}

func (h *harness) usage() usage {
	return usage{goroutines: runtime.NumGoroutine(), participants: h.srv.Hub().Participants(),
		peers: h.engine.Stats().Peers}
}

// waitBaseline waits until the server holds no more than it did at base:
// no records, PeerConnections or goroutines left behind by the test's
// clients. It fails the test with the difference when ctx ends first.
func (h *harness) waitBaseline(ctx context.Context, base usage) {
	h.t.Helper()
	http.DefaultClient.CloseIdleConnections()
	var now usage
	for {
		now = h.usage()
		if now.goroutines <= base.goroutines && now.participants <= base.participants && now.peers <= base.peers {
			return
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("leak: goroutines %d (baseline %d), records %d (%d), PeerConnections %d (%d)",
				now.goroutines, base.goroutines, now.participants, base.participants, now.peers, base.peers)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// apiURL serves the REST API of h's server and returns its base URL.
func (h *harness) apiURL() string {
	h.t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/v1/sessions/", h.srv.APIHandler())
	hs := httptest.NewServer(mux)
	h.t.Cleanup(hs.Close)
	return hs.URL + "/api/v1/sessions/"
}

// measure opens a send-time window of d on every bot, waits for it to pass
// and then for every packet each listener is owed from it to arrive (owed
// says which sources a listener hears), and returns the bots' stats. It
// asserts counts, not rates: a busy machine only makes it wait longer; a
// lost packet makes it wait until ctx ends and fail.
func measure(ctx context.Context, t *testing.T, bs []*bots.Bot, d time.Duration, owed func(listener, source int) bool) map[int]bots.Stats {
	t.Helper()
	from := time.Now().Add(100 * time.Millisecond)
	for _, b := range bs {
		b.SetWindow(from, from.Add(d))
	}
	time.Sleep(time.Until(from.Add(d))) // the window itself
	stats := func() map[int]bots.Stats {
		out := make(map[int]bots.Stats, len(bs))
		for _, b := range bs {
			out[b.Index()] = b.Stats()
		}
		return out
	}
	// A speaker counts a packet after sending it: one sent within the
	// window may be uncounted yet, but the second one counted from now on
	// was sent after the window.
	sent := stats()
	eventually(ctx, t, "every speaker sends past the window", func() bool {
		now := stats()
		for i, st := range sent {
			if st.Sent > 0 && now[i].Sent < st.Sent+2 {
				return false
			}
		}
		return true
	})
	var st map[int]bots.Stats
	eventually(ctx, t, "every packet owed from the window arrives", func() bool {
		st = stats()
		for l := range st {
			for s := range st {
				if l != s && owed(l, s) && st[l].ReceivedInWindowBySource[s] < st[s].SentInWindow {
					return false
				}
			}
		}
		return true
	})
	return st
}
