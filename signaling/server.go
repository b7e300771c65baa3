// Package signaling is the websocket front of the SFU: it authenticates
// clients, joins them to sessions in rooms, negotiates their one
// PeerConnection with sfu, and keeps every router's audiences in step with
// the session state. It is the only package that knows both rooms and sfu.
//
// The wire protocol is described in PROTOCOL.md; its message types live in
// messages.go.
package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// Defaults for Config's zero fields.
const (
	DefaultAuthTimeout     = 5 * time.Second
	DefaultMaxMessageBytes = 64 << 10 // a K=16 offer is ~12 KiB
	DefaultHardLimitBytes  = 1 << 20  // frames over this close the socket
	DefaultSendQueue       = 256      // messages; see Config.SendQueue
	DefaultRate            = 20       // messages per second, sustained
	DefaultBurst           = 60       // messages at once
	DefaultReconnectGrace  = 20 * time.Second
	DefaultPingInterval    = 15 * time.Second
	DefaultReadTimeout     = 45 * time.Second // silent this long: dead
	DefaultTickInterval    = 200 * time.Millisecond
	DefaultConnectTimeout  = 60 * time.Second // join → PeerConnection connected
	DefaultEventPace       = 50 * time.Millisecond
	writeTimeout           = 10 * time.Second
)

// Config configures a Server. Verifier and Engine are required.
type Config struct {
	Verifier *auth.Verifier
	Engine   *sfu.Engine
	Slots    int // K for new sessions; 0 means sfu.DefaultSlots

	AuthTimeout     time.Duration // a new socket must join within this
	MaxMessageBytes int           // larger messages get message_too_large and are discarded
	HardLimitBytes  int           // larger frames close the socket
	SendQueue       int           // per connection: unread events before a resync, unread other messages before a close
	Rate            float64       // per-connection messages per second
	Burst           int           // per-connection burst
	ReconnectGrace  time.Duration // a dropped participant keeps its record this long
	PingInterval    time.Duration
	ReadTimeout     time.Duration // after join: silent this long (pongs count) closes the socket
	ConnectTimeout  time.Duration // after join: the PeerConnection must connect within this
	TickInterval    time.Duration // how often breakout timers are checked
	WarnBefore      time.Duration // breakout end warning lead; 0 means rooms' default (60 s)
	// EventPace is the shortest time between two frames of events only to
	// a client that takes batches: events that come sooner wait and go
	// together (see conn.writer). 0 means DefaultEventPace; negative, every
	// event at once.
	EventPace time.Duration

	// CheckOrigin decides websocket origins; nil allows all (tokens, not
	// cookies, authenticate). A refused origin gets 403 origin_not_allowed.
	CheckOrigin func(r *http.Request) bool
	// ICEServers, when set, gives the STUN/TURN servers (with short-lived
	// credentials) for participant id's welcome. It must not block.
	ICEServers func(participantID string) []ICEServer
	// OnJoined, when set, is given the time from websocket open to the
	// PeerConnection connecting, for every join.
	OnJoined func(time.Duration)
	// OnEvent, when set, is given every session event, in version order,
	// before the sockets are (webhooks, the operator's view). It is called
	// under the session's lock: it must not block nor call into the Hub.
	OnEvent func(rooms.Event)
	// OnExpire, when set, is told of each session deleted after nobody had
	// been in it for the idle time without anyone ending it, with its
	// statistics (rooms.Options.OnExpire): webhooks send session.ended.
	OnExpire func(rooms.SessionStats)

	// Bounds. MaxSocketsPerIP websockets may be open at once from one client
	// address, opened at SocketRate per second (bursts of SocketBurst);
	// beyond them the upgrade is refused with 429 too_many_connections.
	// MaxSessionParticipants, MaxParticipants and MaxSessions bound joins
	// (rooms.Options; session_full, server_full). 0 means the default, a
	// negative value no bound.
	MaxSocketsPerIP        int
	SocketRate             float64
	SocketBurst            int
	MaxSessionParticipants int
	MaxParticipants        int
	MaxSessions            int
	// ClientIP names a request's client address for the per-address
	// bounds; nil means RemoteIP (use ForwardedIP behind a trusted proxy).
	ClientIP func(r *http.Request) string
	// Store, when set, keeps the session state outside this process
	// (rooms.Options.Store): a restarted server, or several on one Store,
	// carry the sessions on. Nil keeps it in memory.
	Store rooms.Store
	// Cluster, when set, places sessions on the nodes sharing Store: a
	// join for a session another node owns is answered redirect (see
	// Cluster). Nil: this node serves every session.
	Cluster Cluster
	Logger  *slog.Logger
}

// Cluster is the ownership of sessions among the nodes sharing one Store
// (rooms/redisstore.Cluster). It must be safe for concurrent use.
type Cluster interface {
	// Claim says where session is served: "" when this node owns it now,
	// else the websocket URL of the node that does. It places a session
	// nobody owns. An error means the owner cannot be told now.
	Claim(ctx context.Context, session string) (url string, err error)
}

// readBufferBytes is a socket's read buffer. Frame headers are at most 14
// bytes and control frames 125; a larger message is read past the buffer,
// straight into the message's own.
const readBufferBytes = 512

// claimTimeout bounds a join's Claim.
const claimTimeout = 2 * time.Second

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.AuthTimeout, DefaultAuthTimeout)
	set(&c.ReconnectGrace, DefaultReconnectGrace)
	set(&c.PingInterval, DefaultPingInterval)
	set(&c.ReadTimeout, DefaultReadTimeout)
	set(&c.ConnectTimeout, DefaultConnectTimeout)
	set(&c.TickInterval, DefaultTickInterval)
	if c.EventPace == 0 {
		c.EventPace = DefaultEventPace
	}
	if c.Slots <= 0 {
		c.Slots = sfu.DefaultSlots
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.HardLimitBytes < c.MaxMessageBytes {
		c.HardLimitBytes = max(DefaultHardLimitBytes, c.MaxMessageBytes)
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CheckOrigin == nil {
		c.CheckOrigin = func(*http.Request) bool { return true }
	}
	if c.ClientIP == nil {
		c.ClientIP = RemoteIP
	}
	bound := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0 // no bound
		}
	}
	bound(&c.MaxSocketsPerIP, DefaultMaxSocketsPerIP)
	bound(&c.SocketBurst, DefaultSocketBurst)
	switch {
	case c.SocketRate == 0:
		c.SocketRate = DefaultSocketRate
	case c.SocketRate < 0:
		c.SocketRate = 0
	}
}

// Server serves the signaling websocket. Create it with NewServer; it is
// an http.Handler for the websocket endpoint.
type Server struct {
	cfg      Config
	log      *slog.Logger
	hub      *rooms.Hub
	upgrader websocket.Upgrader
	ips      *ipLimits

	mu       sync.Mutex
	sessions map[string]*session // live signaling sessions, by id
	conns    map[*conn]struct{}  // every open socket
	closed   bool                // no new socket or join is taken (Shutdown or Close began)
	stopped  bool                // Close began
	stopping chan struct{}       // closed by Close: grace periods end at once
	wg       sync.WaitGroup      // grace timers and connections

	messages atomic.Uint64 // messages written to sockets
	frames   atomic.Uint64 // websocket data frames written (a batch is one)
	resyncs  atomic.Uint64 // sockets caught up by a snapshot after falling behind
}

// Stats are the server's cumulative signaling counters.
type Stats struct {
	Messages uint64 // messages written to sockets, each message of a batch counted
	Frames   uint64 // websocket data frames written: messages less what batching saved
	Resyncs  uint64 // times a socket that fell behind on events was caught up by a snapshot
	// RefusedSockets counts upgrades refused by the per-address bounds.
	RefusedSockets uint64
}

// Stats returns the signaling counters since the server started.
func (s *Server) Stats() Stats {
	return Stats{Messages: s.messages.Load(), Frames: s.frames.Load(), Resyncs: s.resyncs.Load(),
		RefusedSockets: s.ips.refused()}
}

// NewServer returns a Server with its own rooms.Hub.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Verifier == nil || cfg.Engine == nil {
		return nil, errors.New("signaling: Config needs a Verifier and an Engine")
	}
	if cfg.Slots > sfu.MaxSlots {
		return nil, errors.New("signaling: Slots is over sfu.MaxSlots")
	}
	cfg.defaults()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: make(map[string]*session),
		conns:    make(map[*conn]struct{}),
		stopping: make(chan struct{}),
	}
	s.hub = rooms.NewHub(rooms.Options{OnEvent: s.onEvent, OnExpire: cfg.OnExpire, WarnBefore: cfg.WarnBefore,
		MaxSessionParticipants: cfg.MaxSessionParticipants, MaxParticipants: cfg.MaxParticipants,
		MaxSessions: cfg.MaxSessions, Store: cfg.Store,
		OnStoreError: func(session string, err error) {
			cfg.Logger.Warn("session store failed; working from memory", "session", session, "err", err)
		}})
	s.ips = newIPLimits(cfg.MaxSocketsPerIP, cfg.SocketRate, cfg.SocketBurst)
	s.upgrader = websocket.Upgrader{
		// A socket reads through a buffer of its own of readBufferBytes,
		// not the HTTP server's 4 kB one (which gorilla would keep for the
		// socket's life once the handler has returned), and writes through
		// buffers shared by every socket, each taken for one message: gorilla
		// holds 0.5 kB for an idle socket.
		ReadBufferSize: readBufferBytes, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(*http.Request) bool { return true }, // checked by ServeHTTP first, with a clear answer
	}
	s.wg.Add(1)
	go s.tick()
	return s, nil
}

// Hub is the session state the server keeps.
func (s *Server) Hub() *rooms.Hub { return s.hub }

// ServeHTTP upgrades the request to a websocket and starts serving it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.CheckOrigin(r) {
		s.log.Info("websocket origin refused", "origin", r.Header.Get("Origin"))
		WriteError(w, http.StatusForbidden, CodeOriginNotAllowed,
			"pages from "+r.Header.Get("Origin")+" may not open this server's websocket (see -allowed-origins)")
		return
	}
	ip := s.cfg.ClientIP(r)
	if ok, retry := s.ips.admit(ip, time.Now()); !ok {
		s.log.Warn("websocket refused: too many from one address", "ip", ip)
		w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, retry).Round(time.Second)/time.Second)))
		WriteError(w, http.StatusTooManyRequests, CodeTooManyConnections,
			"too many websockets from this address; try again later")
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.ips.release(ip)
		return // the upgrader has answered with an HTTP error
	}
	// The socket is served on a goroutine of its own, and this handler
	// returns: net/http then lets go of what it kept for the request (a
	// 4 kB write buffer among them) for the life of the socket.
	c := newConn(s, ws)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		defer s.ips.release(ip)
		c.fail("", CodeShuttingDown, "the server is shutting down")
		c.run()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.serve(c, ip)
}

// serve runs one upgraded socket, counted in s.conns and s.wg, until it
// closes.
func (s *Server) serve(c *conn, ip string) {
	defer s.wg.Done()
	defer s.ips.release(ip)
	c.run()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops the server gracefully. New sockets and joins are refused
// with shutting_down at once; every socket is told shutting_down (its
// client reconnects, to another server when there are several) and closed.
// The records stay for their reconnect grace period, and their
// PeerConnections keep carrying audio meanwhile, so a client moving to
// another server hears its room until its new PeerConnection is up.
// Shutdown waits until every record has left or ctx ends, then closes what
// is left as Close does. It returns ctx's error when it did not drain.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail("", CodeShuttingDown, "the server is restarting: reconnect")
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var err error
drain:
	for s.hub.Participants() > 0 || s.openSockets() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break drain
		case <-t.C:
		}
	}
	s.Close()
	return err
}

func (s *Server) openSockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close tells every client the server is stopping, closes every socket and
// PeerConnection at once and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.closed, s.stopped = true, true
	close(s.stopping)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail("", CodeShuttingDown, "the server is shutting down")
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		sess.router.Close()
		delete(s.sessions, id)
	}
}

// onEvent fans a session event out to the session's sockets. It runs under
// the rooms session lock, in version order: it encodes once, enqueues
// without blocking, and leaves anything slow to goroutines.
func (s *Server) onEvent(ev rooms.Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
	sess := s.lookup(ev.Session)
	if sess == nil {
		return
	}
	full := encode(toWireEvent(ev))
	var redacted []byte
	if ev.Kind == rooms.EventAlert {
		// Who raised an alert, and from where, is for hosts and moderators
		// only; everyone else sees that the version moved on.
		redacted = encode(Event{Envelope: Envelope{Type: TypeEvent}, Event: ev.Kind, Version: ev.Version})
	}
	sess.broadcast(sentEvent{version: ev.Version, msg: full, redacted: redacted})

	switch ev.Kind {
	case rooms.EventUpdated:
		if c := sess.conn(ev.Participant.ID); c != nil {
			c.setRole(ev.Participant.Role)
		}
	case rooms.EventRemoved:
		if c := sess.conn(ev.Participant.ID); c != nil {
			go c.removed(ev.Reason)
		}
	case rooms.EventSessionEnded:
		for _, c := range sess.conns() {
			go c.closeFor("session ended")
		}
	}
}

// lookup returns the live signaling session id, or nil.
func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// SessionMedia returns the media counters of session id's router, and
// false when the session has no router here (nobody holds it on this
// node). A router's counters start at zero when it is created.
func (s *Server) SessionMedia(id string) (sfu.RouterStats, bool) {
	sess := s.lookup(id)
	if sess == nil {
		return sfu.RouterStats{}, false
	}
	return sess.router.Stats(), true
}

// tick runs the session timers (breakout warnings and auto-close, expiry)
// and re-routes the sessions they changed.
func (s *Server) tick() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case now := <-t.C:
			for _, id := range s.hub.Tick(now) {
				if sess := s.lookup(id); sess != nil {
					s.syncAudiences(sess)
				}
			}
		}
	}
}

// acquire returns the signaling session id, creating it (and its router)
// if needed, and counts one more holder. Every acquire is paired with a
// release.
func (s *Server) acquire(id string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errShuttingDown
	}
	sess := s.sessions[id]
	if sess == nil {
		sess = newSession(id, s.cfg.Engine.NewRouter(s.cfg.Slots))
		s.sessions[id] = sess
		if s.cfg.Cluster != nil {
			s.wg.Add(1)
			go s.sweepOrphans(sess)
		}
	}
	sess.refs++
	return sess, nil
}

// release drops one holder of sess; the last one closes its router.
func (s *Server) release(sess *session) {
	s.mu.Lock()
	sess.refs--
	last := sess.refs == 0
	if last {
		delete(s.sessions, sess.id)
	}
	s.mu.Unlock()
	if last {
		sess.router.Close()
	}
}

// syncAudiences brings the session's router to the session's current
// routing. It reads what changed since the routing the router accepted last
// (rooms.Hub.RoutingChanges) and applies only that (sfu.Router.UpdateRouting),
// so a move costs in proportion to the rooms it touches, not to the session.
// The router gets the whole routing (SetRouting) the first time, when the
// rooms session was created anew or reloaded from the Store, and whenever it
// is not at the routing the changes start from. Calls are serialised per
// session, so changes arrive in order; the router still ignores a version
// older than the last it applied.
func (s *Server) syncAudiences(sess *session) {
	sess.routeMu.Lock()
	defer sess.routeMu.Unlock()
	since := sess.routeCursor
	if !sess.routed {
		since = rooms.RoutingCursor{}
	}
	next, changes, full, err := s.hub.RoutingChanges(sess.id, since)
	if err == nil && !full {
		version := sess.routingVersion(next.Version())
		if version == sess.routeVersion && len(changes) == 0 {
			return // nothing changed
		}
		if sess.router.UpdateRouting(sess.routeVersion, version, toSFURoutes(changes)) {
			sess.routeCursor, sess.routeVersion = next, version
			return
		}
		// The router is not where the changes start: give it everything.
		next, changes, _, err = s.hub.RoutingChanges(sess.id, rooms.RoutingCursor{})
	}
	rt := sfu.Routing{Hear: make(map[string]string, len(changes)), Speak: make(map[string]string, len(changes))}
	if err != nil {
		next, changes = rooms.RoutingCursor{}, nil // session gone: nobody hears anybody
	}
	for _, c := range changes {
		if c.Hears {
			rt.Hear[c.ID] = c.Hear
		}
		if c.Speaks {
			rt.Speak[c.ID] = c.Speak
		}
	}
	version := sess.routingVersion(next.Version())
	sess.routed = err == nil && sess.router.SetRouting(version, rt)
	sess.routeCursor, sess.routeVersion = next, version
}

// toSFURoutes converts rooms' routing changes to the SFU's.
func toSFURoutes(changes []rooms.RouteChange) []sfu.RouteChange {
	out := make([]sfu.RouteChange, len(changes))
	for i, c := range changes {
		out[i] = sfu.RouteChange{ID: c.ID, Hear: c.Hear, Speak: c.Speak, Hears: c.Hears, Speaks: c.Speaks}
	}
	return out
}

var errShuttingDown = errors.New("signaling: shutting down")
