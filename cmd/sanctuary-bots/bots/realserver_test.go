package bots

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// testSecret signs the tokens of these tests (HS256).
var testSecret = []byte("bots-test-secret-0123456789abcdef")

// testServer is a real Sanctuary server on 127.0.0.1, wired as
// cmd/sanctuary wires it: the signaling websocket at /ws over an sfu.Engine
// whose ICE is bound to loopback, tokens verified with an HS256 secret, and
// a Prometheus /metrics page whose forwarded-packets counter reads the
// engine's Stats, as cmd/sanctuary/metrics.go does. Nothing in it is fake.
type testServer struct {
	engine *sfu.Engine
	sig    *signaling.Server
	hs     *httptest.Server
}

// newTestServer starts a real server whose sessions have k slots. The
// caller closes it, after its bots.
func newTestServer(tb testing.TB, k int, opts ...serverOpt) *testServer {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	v, err := auth.NewVerifier(auth.Config{HMACSecret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := sfu.Config{LoopbackOnly: true, Logger: quiet}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := sfu.NewEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := signaling.NewServer(signaling.Config{Verifier: v, Engine: e, Slots: k, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	// The name is spelled out, not taken from forwardedMetric: a typo there
	// must fail the run tests, not be copied into the server.
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sanctuary_rtp_packets_forwarded_total", Help: "RTP packets sent to participants' slots.",
	}, func() float64 { return float64(e.Stats().PacketsForwarded) }))
	mux := http.NewServeMux()
	mux.Handle("GET /ws", sig)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &testServer{engine: e, sig: sig, hs: httptest.NewServer(mux)}
}

// serverOpt changes the test server's engine configuration.
type serverOpt func(*sfu.Config)

// withoutDTX: the offer does not ask for Opus DTX (sfu.Config.NoDTX).
func withoutDTX(c *sfu.Config) { c.NoDTX = true }

func (s *testServer) wsURL() string      { return "ws" + strings.TrimPrefix(s.hs.URL, "http") + "/ws" }
func (s *testServer) metricsURL() string { return s.hs.URL + "/metrics" }

// token mints a one-hour token for user in session.
func (s *testServer) token(tb testing.TB, user, role, session string) string {
	tb.Helper()
	tok, err := auth.Mint(testSecret, auth.MintOptions{UserID: user, Role: role, Session: session, TTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// Close stops the server: every socket and PeerConnection, then the
// listener and the engine.
func (s *testServer) Close() {
	s.sig.Close()
	s.hs.Close()
	_ = s.engine.Close()
}

// runOnTestServer runs rc against a fresh real server of k slots in this
// process, within the given time, and returns the report; an error fails
// the test. It fills in the server's URL and secret, and its /metrics when
// rc samples a server (ServerPID).
func runOnTestServer(t *testing.T, k int, within time.Duration, rc RunConfig, opts ...serverOpt) Report {
	t.Helper()
	srv := newTestServer(t, k, opts...)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	rc.URL, rc.Secret = srv.wsURL(), testSecret
	if rc.ServerPID != 0 {
		rc.MetricsURL = srv.metricsURL()
	}
	rep, err := Run(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	return rep
}
