package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

const (
	testSecret = "http-test-secret"
	// testPingInterval is the signaling server's websocket ping period in
	// these tests: short, so that a test can wait for several pings.
	testPingInterval = 50 * time.Millisecond
	// patience bounds every wait of these tests. It is only reached when
	// the server fails (holds a connection it should close), so it is
	// generous for a busy machine.
	patience = 20 * time.Second
)

// testServer is the server's real handler served on 127.0.0.1 with the
// HTTP limits of some flags.
type testServer struct {
	addr string       // host:port
	url  string       // http://host:port
	logs *syncBuffer  // everything the server logged
	cfg  config       // the parsed flags
	app  *app         // what the routes serve
	srv  *http.Server // closed by the test's cleanup
	cl   *http.Client // a client of its own, closed by the cleanup
	sig  *signaling.Server
}

// startServer parses flags (after -jwt-secret testSecret) and serves the
// server's handler with them until the test ends. The signaling server
// pings every testPingInterval and waits a minute for a join, so that a
// websocket stays open without one.
func startServer(t *testing.T, flags ...string) *testServer {
	t.Helper()
	return startServerWith(t, nil, flags...)
}

// startServerWith is startServer with extra routes registered after the
// server's own.
func startServerWith(t *testing.T, extra func(*router), flags ...string) *testServer {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-jwt-secret", testSecret}, flags...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	verifier, _, err := cfg.verifier()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := sfu.NewEngine(sfu.Config{LoopbackOnly: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	store, cluster, closeStore, err := cfg.openStore(log, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	var hub *rooms.Hub
	hooks, err := cfg.webhooks.start(func(s string) (rooms.SessionStats, error) { return hub.Stats(s) }, m, log)
	if err != nil {
		t.Fatal(err)
	}
	al := &alerts{}
	var onHook func(rooms.Event)
	if hooks != nil {
		onHook = hooks.OnEvent
	}
	sig, err := signaling.NewServer(signaling.Config{
		Verifier: verifier, Engine: engine, Logger: log, CheckOrigin: cfg.origins.allows,
		PingInterval: testPingInterval, AuthTimeout: time.Minute, Store: store, Cluster: clusterOf(cluster),
		OnEvent: observers(onHook, al.onEvent), OnExpire: onExpire(al, hooks),
	})
	if err != nil {
		t.Fatal(err)
	}
	hub = sig.Hub()
	if _, err := sig.Hub().LoadSessions(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.register(engine, sig)
	m.registerWebhooks(hooks)
	a := &app{cfg: cfg, sig: sig, engine: engine, alerts: al, metrics: m}
	clusterDone := make(chan struct{})
	clusterCtx, stopCluster := context.WithCancel(context.Background())
	if cluster != nil {
		if err := cluster.Heartbeat(context.Background(), redisstore.Load{}); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(clusterDone)
			runCluster(clusterCtx, cluster, sig, engine, log)
		}()
	} else {
		close(clusterDone)
	}
	scheme := "http"
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	ts := &testServer{
		addr: ln.Addr().String(), url: scheme + "://" + ln.Addr().String(), logs: logs, cfg: cfg, app: a,
		sig: sig,
		cl: &http.Client{
			Transport: &http.Transport{}, Timeout: patience,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	rt := newRouter(log)
	a.routes(rt)
	if extra != nil {
		extra(rt)
	}
	ts.srv = cfg.http.server(rt.handler(), log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ts.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		ts.cl.CloseIdleConnections()
		_ = ts.srv.Close()
		<-done
		sig.Close()
		stopCluster()
		<-clusterDone
		if hooks != nil {
			hooks.Close()
		}
		_ = engine.Close()
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	return ts
}

// token is a host token of testSecret scoped to session.
func token(t *testing.T, session string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.MintOptions{
		UserID: "integration", Role: auth.RoleHost, Session: session, TTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// syncBuffer is a bytes.Buffer safe for concurrent use: the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestHTTPLimitsConfig checks that the HTTP limits come from the flags or
// their SANCTUARY_* twins, have production defaults, refuse non-positive
// values, and reach the http.Server.
func TestHTTPLimitsConfig(t *testing.T) {
	defaults := httpLimits{
		readHeaderTimeout: defaultReadHeaderTimeout, readTimeout: defaultReadTimeout,
		writeTimeout: defaultWriteTimeout, idleTimeout: defaultIdleTimeout, maxHeaderBytes: defaultMaxHeaderBytes,
	}
	tests := []struct {
		name   string
		args   []string
		getenv map[string]string
		want   httpLimits
		err    string // "" for success
	}{
		{"defaults", nil, nil, defaults, ""},
		{"flags", []string{"-http-read-header-timeout", "1s", "-http-read-timeout", "2s",
			"-http-write-timeout", "3s", "-http-idle-timeout", "4s", "-http-max-header-bytes", "5000"}, nil,
			httpLimits{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5000}, ""},
		{"environment", nil, map[string]string{
			"SANCTUARY_HTTP_READ_HEADER_TIMEOUT": "1s", "SANCTUARY_HTTP_READ_TIMEOUT": "2s",
			"SANCTUARY_HTTP_WRITE_TIMEOUT": "3s", "SANCTUARY_HTTP_IDLE_TIMEOUT": "4s",
			"SANCTUARY_HTTP_MAX_HEADER_BYTES": "5000"},
			httpLimits{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5000}, ""},
		{"flag wins", []string{"-http-idle-timeout", "9s"}, map[string]string{"SANCTUARY_HTTP_IDLE_TIMEOUT": "4s"},
			func() httpLimits { l := defaults; l.idleTimeout = 9 * time.Second; return l }(), ""},
		{"zero timeout", []string{"-http-read-timeout", "0"}, nil, httpLimits{}, "-http-read-timeout must be positive"},
		{"negative timeout", []string{"-http-write-timeout", "-1s"}, nil, httpLimits{}, "-http-write-timeout must be positive"},
		{"zero idle", nil, map[string]string{"SANCTUARY_HTTP_IDLE_TIMEOUT": "0s"}, httpLimits{}, "-http-idle-timeout must be positive"},
		{"zero header timeout", []string{"-http-read-header-timeout", "0s"}, nil, httpLimits{}, "-http-read-header-timeout must be positive"},
		{"zero header bytes", []string{"-http-max-header-bytes", "0"}, nil, httpLimits{}, "-http-max-header-bytes must be positive"},
		{"not a duration", []string{"-http-idle-timeout", "soon"}, nil, httpLimits{}, "invalid value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseCase(t, tc.args, tc.getenv, tc.err)
			if !ok {
				return
			}
			if c.http != tc.want {
				t.Fatalf("limits %+v, want %+v", c.http, tc.want)
			}
			srv := c.http.server(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
			got := httpLimits{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes}
			if got != tc.want {
				t.Fatalf("http.Server has %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestSlowClientsAreClosed plays clients that hold a connection without
// finishing a request (the findings of the attack on the server): each
// must be closed by the server, by the limit named in the case, while the
// other limits keep their long defaults. The client reads until the server
// closes (EOF); it gives up only after patience.
func TestSlowClientsAreClosed(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		send  func(t *testing.T) string // what the client sends, then it waits
		want  string                    // the answer's status line starts so; "" for no answer
	}{
		{"idle keep-alive connection", []string{"-http-idle-timeout", "100ms"},
			func(*testing.T) string { return "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" }, "HTTP/1.1 200 "},
		{"connection that sends nothing", []string{"-http-read-header-timeout", "100ms"},
			func(*testing.T) string { return "" }, ""},
		{"headers that never end", []string{"-http-read-header-timeout", "100ms"},
			func(*testing.T) string { return "GET /healthz HTTP/1.1\r\nHost: t\r\n" }, ""},
		{"declared body never comes, unauthenticated REST", []string{"-http-read-timeout", "100ms"},
			func(*testing.T) string {
				return "POST /api/v1/sessions/s1/broadcast HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
			}, "HTTP/1.1 401 "},
		{"declared body never comes, unauthenticated Agora token", []string{"-http-read-timeout", "100ms"},
			func(*testing.T) string {
				return "POST /api/v1/agora/token HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
			}, "HTTP/1.1 503 "},
		{"declared body never comes, authenticated REST", []string{"-http-read-timeout", "100ms"},
			func(t *testing.T) string {
				return "POST /api/v1/sessions/s1/broadcast HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n" +
					"Authorization: Bearer " + token(t, "s1") + "\r\n\r\n"
			}, "HTTP/1.1 4"},
		{"declared body never comes, web client", []string{"-http-read-timeout", "100ms"},
			func(*testing.T) string { return "POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" },
			"HTTP/1.1 405 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, tc.flags...)
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if req := tc.send(t); req != "" {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(patience))
			got, err := io.ReadAll(c)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatalf("the server still holds the connection after %v; it answered %q", patience, got)
			}
			// A reset instead of a FIN is a close too (the server may
			// close with unread bytes in its buffer).
			if !strings.HasPrefix(string(got), tc.want) {
				t.Fatalf("answer %q, want one starting %q", got, tc.want)
			}
		})
	}
}

// TestHeadersOverLimit checks -http-max-header-bytes: headers over it are
// refused with 431.
func TestHeadersOverLimit(t *testing.T) {
	ts := startServer(t, "-http-max-header-bytes", "1024")
	req, err := http.NewRequest(http.MethodGet, ts.url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("x", 16<<10)) // net/http allows 4 KiB over the limit
	resp, err := ts.cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// TestWebsocketOutlivesHTTPTimeouts checks that the HTTP limits end at the
// websocket upgrade. With every HTTP limit at 200 ms, a socket keeps
// receiving the server's pings (every 50 ms) well past them, and then still
// answers a message. It holds twice over: gorilla's Upgrade clears the
// deadlines net/http set (websocket v1.5.3 server.go, "Clear deadlines set
// by HTTP server"), and signaling sets its own read deadline (auth timeout,
// then read timeout) and a write deadline before every write. Either alone
// keeps this test passing.
func TestWebsocketOutlivesHTTPTimeouts(t *testing.T) {
	const limit = 200 * time.Millisecond
	// Tickers never fire early, so wantPings pings took at least
	// wantPings × testPingInterval: over twice every HTTP limit.
	const wantPings = 10
	if wantPings*testPingInterval <= 2*limit {
		t.Fatal("the test waits too few pings to outlive the HTTP limits")
	}
	ts := startServer(t, "-http-read-header-timeout", limit.String(), "-http-read-timeout", limit.String(),
		"-http-write-timeout", limit.String(), "-http-idle-timeout", limit.String())
	ws := dialWebsocket(t, "ws://"+ts.addr+"/ws")
	defer ws.Close()

	// The ping handler runs in the reading goroutine (inside ReadJSON),
	// which alone touches pings and writes.
	pings := 0
	ws.SetPingHandler(func(data string) error {
		pings++
		if err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(patience)); err != nil {
			return err
		}
		if pings == wantPings {
			// The server's reader and writer must both still work.
			return ws.WriteJSON(signaling.Envelope{Type: signaling.TypePing, ID: "after-pings"})
		}
		return nil
	})
	_ = ws.SetReadDeadline(time.Now().Add(patience))
	for {
		var msg signaling.Envelope
		if err := ws.ReadJSON(&msg); err != nil {
			t.Fatalf("the websocket failed after %d pings: %v", pings, err)
		}
		if msg.ID == "after-pings" {
			if msg.Type != signaling.TypePong {
				t.Fatalf("answer %+v, want a pong", msg)
			}
			return
		}
	}
}

// dialWebsocket dials url. A handshake can miss tiny HTTP limits on a busy
// machine (they apply until the upgrade), so it retries a few times.
func dialWebsocket(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: patience}
	var err error
	for range 5 {
		var ws *websocket.Conn
		var resp *http.Response
		ws, resp, err = d.Dial(url, nil)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err == nil {
			return ws
		}
	}
	t.Fatalf("dial %s: %v", url, err)
	return nil
}
