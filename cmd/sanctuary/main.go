// Command sanctuary is the Sanctuary SFU server: the signaling websocket,
// the pion SFU, the web client, health and Prometheus metrics, in one
// binary. With no configuration it runs in dev mode on 127.0.0.1:8080 with
// a generated JWT secret and prints a ready host token.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
	"github.com/sanctuary-sfu/sanctuary/web"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if err := runToken(os.Args[2:], os.Getenv, os.Stdout, os.Stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "sanctuary:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sanctuary:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	gc := newGCTarget(cfg.gcPercent)
	defer gc.restore() // for tests that run the server in-process

	verifier, devSecret, err := cfg.verifier()
	if err != nil {
		return err
	}
	engine, err := sfu.NewEngine(sfu.Config{
		LoopbackOnly: cfg.loopbackOnly, UDPPort: cfg.udpPort, TCPPort: cfg.tcpPort, NAT1To1IPs: cfg.natIPs, Logger: log,
		NoBatchWrites: !cfg.udpBatch, NoDirectWrites: !cfg.directWrites, NoDTX: !cfg.dtx, FanoutCores: cfg.fanoutCores,
	})
	if err != nil {
		return err
	}
	defer engine.Close()
	turnServer, err := cfg.turn.start(cfg.natIPs, cfg.loopbackOnly, log)
	if err != nil {
		return err
	}
	if turnServer != nil {
		defer turnServer.Close()
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	stopPprof, err := startPprof(cfg.pprofListen, log)
	if err != nil {
		return err
	}
	defer stopPprof()
	store, cluster, closeStore, err := cfg.openStore(log, ln.Addr().String())
	if err != nil {
		return err
	}
	defer closeStore()

	m := newMetrics()
	var hub *rooms.Hub // set below; session.ended's statistics are asked for later
	hooks, err := cfg.webhooks.start(func(s string) (rooms.SessionStats, error) { return hub.Stats(s) }, m, log)
	if err != nil {
		return err
	}
	al := &alerts{} // the operator's view of open alerts
	var onHook func(rooms.Event)
	if hooks != nil {
		defer hooks.Close()
		onHook = hooks.OnEvent
	}
	clientIP := signaling.RemoteIP
	if cfg.trustProxy {
		clientIP = signaling.ForwardedIP
	}
	sig, err := signaling.NewServer(signaling.Config{
		Verifier: verifier, Engine: engine, Slots: cfg.slots, Logger: log,
		ReconnectGrace: cfg.reconnectGrace, OnJoined: m.observeJoin, CheckOrigin: cfg.origins.allows,
		ICEServers:             cfg.turn.iceServers(),
		MaxSessionParticipants: cfg.limits.sessionParticipants, MaxParticipants: cfg.limits.participants,
		MaxSessions: cfg.limits.sessions, MaxSocketsPerIP: cfg.limits.socketsPerIP,
		SocketRate: cfg.limits.socketRate, SocketBurst: cfg.limits.socketBurst, ClientIP: clientIP,
		Store: store, Cluster: clusterOf(cluster), OnEvent: observers(onHook, al.onEvent), OnExpire: onExpire(al, hooks),
	})
	if err != nil {
		return err
	}
	hub = sig.Hub()
	if store != nil {
		// A restart finds its sessions again: their records, rooms and timers.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := sig.Hub().LoadSessions(ctx)
		cancel()
		if err != nil {
			return err
		}
		log.Info("sessions loaded from redis", "sessions", n)
	}
	m.register(engine, sig)
	m.registerWebhooks(hooks)
	a := &app{cfg: cfg, sig: sig, engine: engine, alerts: al, metrics: m, devSecret: devSecret, gc: gc}

	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := cfg.http.server(a.handler(log), log)
	log.Info("listening", "addr", ln.Addr().String(), "dev", cfg.dev, "slots", cfg.slots,
		"loopback_only", cfg.loopbackOnly, "udp_port", cfg.udpPort, "tcp_port", cfg.tcpPort, "agora", cfg.agoraConfig() != nil,
		"tls", tlsCfg != nil, "turn_port", cfg.turn.port, "turn_urls", len(cfg.turn.urls))
	if devSecret != "" {
		printDevHelp(stdout, ln.Addr().String(), devSecret, tlsCfg != nil)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if gc != nil {
		gcStop, gcDone := make(chan struct{}), make(chan struct{})
		go func() { defer close(gcDone); gc.run(gcStop) }()
		defer func() { close(gcStop); <-gcDone }()
	}
	clusterDone := make(chan struct{})
	clusterCtx, stopCluster := context.WithCancel(context.Background())
	if cluster != nil {
		go func() {
			defer close(clusterDone)
			runCluster(clusterCtx, cluster, sig, engine, log)
		}()
	} else {
		close(clusterDone)
	}
	defer func() { stopCluster(); <-clusterDone }() // deregister, release the leases
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Graceful: /readyz turns 503 so a load balancer sends new joins
	// elsewhere; clients are told to reconnect; their media goes on until
	// they have, or until -shutdown-timeout.
	log.Info("shutting down", "timeout", cfg.drain)
	a.stopping.Store(true)
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), cfg.drain)
	defer cancelDrain()
	if err := sig.Shutdown(drainCtx); err != nil {
		log.Warn("participants still connected at the shutdown timeout; closed", "timeout", cfg.drain)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// clusterOf is c as a signaling.Cluster: nil without one.
func clusterOf(c *redisstore.Cluster) signaling.Cluster {
	if c == nil {
		return nil
	}
	return c
}

// app is what the server's HTTP routes serve.
type app struct {
	cfg       config
	sig       *signaling.Server
	engine    *sfu.Engine
	alerts    *alerts // open emergency alerts, for the operator's view
	metrics   *metrics
	devSecret string      // the generated dev secret, or ""
	gc        *gcTarget   // Go's GC target by what the server does; nil: GOGC decides
	stopping  atomic.Bool // set when shutdown starts: /readyz answers 503
}

// routes registers every route of the server on rt.
func (a *app) routes(rt *router) {
	rt.origins = &a.cfg.origins // CORS for the APIs
	rt.handleWebsocket("GET /ws", a.gc.wrap(a.sig))
	rt.handle("GET /metrics", a.metrics.handler())
	rt.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hub := a.sig.Hub()
		writeJSON(w, http.StatusOK, map[string]any{
			"status": "ok", "sessions": hub.Sessions(), "participants": hub.Participants(),
		})
	}))
	rt.handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.stopping.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "stopping"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyStoreTimeout)
		defer cancel()
		if err := a.sig.Hub().PingStore(ctx); err != nil {
			// Live sessions go on from memory; new joins belong elsewhere.
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "store unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	}))
	// Other methods get the API's JSON 405 with Allow: POST.
	agoraToken := a.sig.AgoraTokenHandler(a.cfg.agoraConfig()) // nil config: the endpoint answers 503
	rt.handle("POST /api/v1/agora/token", agoraToken)
	rt.handle("POST /api/agora/token", agoraToken) // the old product's path
	registerDevToken(rt, a.cfg, a.devSecret)       // GET /dev/token, dev mode only
	// The session REST API: snapshot, stats and every session command; it
	// routes methods itself.
	rt.handle("/api/v1/sessions/", a.sig.APIHandler())
	newAdminAPI(a.cfg.adminToken, a.sig, a.engine, a.alerts).routes(rt) // 404 admin_disabled without -admin-token
	rt.handle("GET /", web.Handler())
}

// handler is the server's handler: every route, recovered from panics
// (but the websocket), with JSON answers under /api/. Panics go to log.
func (a *app) handler(log *slog.Logger) http.Handler {
	rt := newRouter(log)
	a.routes(rt)
	return rt.handler()
}
