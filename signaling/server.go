// Package signaling is the websocket front of the SFU: it authenticates
// clients, joins them to sessions in rooms, negotiates their one
// PeerConnection with sfu, and keeps every router's audiences in step with
// the session state. It is the only package that knows both rooms and sfu.
//
// The wire protocol is described in PROTOCOL.md; its message types live in
// messages.go.
package signaling

import (
	"errors"
	"log/slog"
	"net/http"
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

	// CheckOrigin decides websocket origins; nil allows all (tokens, not
	// cookies, authenticate). A refused origin gets 403 origin_not_allowed.
	CheckOrigin func(r *http.Request) bool
	// ICEServers, when set, gives the STUN/TURN servers (with short-lived
	// credentials) for participant id's welcome. It must not block.
	ICEServers func(participantID string) []ICEServer
	// OnJoined, when set, is given the time from websocket open to the
	// PeerConnection connecting, for every join.
	OnJoined func(time.Duration)
	Logger   *slog.Logger
}

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
}

// Server serves the signaling websocket. Create it with NewServer; it is
// an http.Handler for the websocket endpoint.
type Server struct {
	cfg      Config
	log      *slog.Logger
	hub      *rooms.Hub
	upgrader websocket.Upgrader

	mu       sync.Mutex
	sessions map[string]*session // live signaling sessions, by id
	conns    map[*conn]struct{}  // every open socket
	closed   bool
	stopping chan struct{}  // closed by Close: grace periods end at once
	wg       sync.WaitGroup // grace timers and connections

	messages atomic.Uint64 // messages written to sockets
	frames   atomic.Uint64 // websocket data frames written (a batch is one)
	resyncs  atomic.Uint64 // sockets caught up by a snapshot after falling behind
}

// Stats are the server's cumulative signaling counters.
type Stats struct {
	Messages uint64 // messages written to sockets, each message of a batch counted
	Frames   uint64 // websocket data frames written: messages less what batching saved
	Resyncs  uint64 // times a socket that fell behind on events was caught up by a snapshot
}

// Stats returns the signaling counters since the server started.
func (s *Server) Stats() Stats {
	return Stats{Messages: s.messages.Load(), Frames: s.frames.Load(), Resyncs: s.resyncs.Load()}
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
	s.hub = rooms.NewHub(rooms.Options{OnEvent: s.onEvent, WarnBefore: cfg.WarnBefore})
	s.upgrader = websocket.Upgrader{
		ReadBufferSize: 4096, WriteBufferSize: 4096,
		CheckOrigin: func(*http.Request) bool { return true }, // checked by ServeHTTP first, with a clear answer
	}
	s.wg.Add(1)
	go s.tick()
	return s, nil
}

// Hub is the session state the server keeps.
func (s *Server) Hub() *rooms.Hub { return s.hub }

// ServeHTTP upgrades the request to a websocket and serves it until it
// closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.CheckOrigin(r) {
		s.log.Info("websocket origin refused", "origin", r.Header.Get("Origin"))
		WriteError(w, http.StatusForbidden, CodeOriginNotAllowed,
			"pages from "+r.Header.Get("Origin")+" may not open this server's websocket (see -allowed-origins)")
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	c := newConn(s, ws)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.fail("", CodeShuttingDown, "the server is shutting down")
		c.run()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c.run()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close tells every client the server is stopping, closes every socket and
// PeerConnection and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
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
			go c.close()
		}
	}
}

// lookup returns the live signaling session id, or nil.
func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
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

// syncAudiences pushes the session's current routing to its router. The
// router ignores versions older than the last it applied, so concurrent
// callers cannot leave a stale routing in place. It costs time linear in
// the session's size.
func (s *Server) syncAudiences(sess *session) {
	version, rt, err := s.hub.Routing(sess.id)
	if err != nil {
		rt = rooms.Routing{} // session gone: nobody hears anybody
	}
	sess.router.SetRouting(sess.routingVersion(version), sfu.Routing{Hear: rt.Hear, Speak: rt.Speak})
}

var errShuttingDown = errors.New("signaling: shutting down")
