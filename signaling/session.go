package signaling

import (
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// session is the signaling side of one session: its router and the socket
// currently holding each participant record.
type session struct {
	id     string      // immutable
	router *sfu.Router // immutable; closed when the last holder releases
	refs   int         // holders; guarded by Server.mu

	joinLocks [joinLockShards]sync.Mutex // see lockUser

	mu      sync.Mutex
	members map[string]*member       // by participant id
	history []sentEvent              // the newest events, oldest first, for joiners
	created time.Time                // creation time of the rooms session incarnation
	clients map[string]clientAttempt // by user id: the newest join taken of the user's last client
	gen     uint64                   // bumped when the rooms session was recreated

	chat chatHub // chat delivery in seq order, and the sockets that had their replay (chat.go)

	// routeMu serialises syncAudiences: the router is fed changes relative
	// to the routing it was last given, so they must arrive in order.
	// Guarded by routeMu: the rooms cursor of the routing the router
	// accepted last, and the router version it accepted it at (routed
	// false: none, the next sync gives the router the whole routing).
	routeMu      sync.Mutex
	routeCursor  rooms.RoutingCursor
	routeVersion uint64
	routed       bool
}

// historyLen is how many recent events a session keeps so that a joiner
// gets every event newer than its welcome snapshot.
const historyLen = 256

// sentEvent is one encoded event. When redacted is set, only sockets whose
// role may receive alerts get msg; the others get redacted.
type sentEvent struct {
	version  uint64
	msg      []byte
	redacted []byte
}

// for returns the encoding of e that c may see.
func (e sentEvent) forConn(c *conn) []byte {
	if e.redacted != nil && !rooms.Allowed(c.role(), rooms.ActionReceiveAlerts) {
		return e.redacted
	}
	return e.msg
}

// member is the signaling side of one participant record: the socket
// holding it and its PeerConnection. The PeerConnection belongs to the
// record, not to a socket: it outlives a dropped socket for the reconnect
// grace period, so a client that resumes on a new socket keeps its media
// (a websocket cut is not an audio cut). mu serialises takeovers, so that
// an old PeerConnection is closed before a new one is added.
type member struct {
	mu   sync.Mutex           // held across a takeover
	conn atomic.Pointer[conn] // the socket holding the record; nil when none

	// Guarded by mu.
	epoch     uint64        // record epoch of the newest socket that took the record
	peer      *sfu.Peer     // nil when none
	link      *peerLink     // peer's callbacks go to link's socket
	resumeKey string        // a resuming client proves with it that peer is its own
	graceEnd  chan struct{} // closed to end the grace period of the last socket at once
}

// endGrace ends the grace period of the record's last socket, if one is
// running: a new socket took the record. mu held.
func (m *member) endGrace() {
	if m.graceEnd != nil {
		close(m.graceEnd)
		m.graceEnd = nil
	}
}

// dropMedia closes the record's PeerConnection if the socket of epoch still
// owns it (no newer socket took the record over). mu must not be held.
func (m *member) dropMedia(epoch uint64) {
	m.mu.Lock()
	if m.epoch != epoch || m.peer == nil {
		m.mu.Unlock()
		return
	}
	p := m.peer
	m.link.c.Store(nil)
	m.peer, m.link, m.resumeKey = nil, nil, ""
	m.mu.Unlock()
	_ = p.Close()
}

// peerLink routes a PeerConnection's callbacks to the socket that holds its
// record now: the one that created it, then each socket that resumes with
// it; nil while there is none (the callbacks are then dropped: a resuming
// socket is given the current state instead).
type peerLink struct {
	c atomic.Pointer[conn]
}

func (l *peerLink) handlers() sfu.PeerHandlers {
	return sfu.PeerHandlers{
		OnCandidate: func(ci *webrtc.ICECandidateInit) {
			if c := l.c.Load(); c != nil {
				c.onCandidate(ci)
			}
		},
		OnSlots: func(ids []string) {
			if c := l.c.Load(); c != nil {
				c.afterOffer(encode(Slots{Envelope: Envelope{Type: TypeSlots}, Slots: ids}))
			}
		},
		OnState: func(st webrtc.PeerConnectionState) {
			if c := l.c.Load(); c != nil {
				c.onPeerState(st)
			}
		},
	}
}

// clientAttempt is the newest join of one client that was taken.
type clientAttempt struct {
	client  string
	attempt uint64
}

// joinLocks serialise the joins of one user from the attempt check through
// the takeover, so that the record goes to the joins in the order the
// attempt check saw them. Sharded by user id: unrelated users rarely wait.
const joinLockShards = 64

// lockUser takes the join lock of user; the caller unlocks it.
func (s *session) lockUser(user string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(user))
	mu := &s.joinLocks[h.Sum32()%joinLockShards]
	mu.Lock()
	return mu
}

// newerJoin reports whether a join of user from client with attempt may be
// taken: from another client, or a later attempt of the same one. It
// records it when it may. The caller holds the user's join lock.
func (s *session) newerJoin(user, client string, attempt uint64) bool {
	if client == "" {
		return true // a client that does not number its joins
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.clients[user]
	if ok && last.client == client && attempt <= last.attempt {
		return false
	}
	if s.clients == nil {
		s.clients = make(map[string]clientAttempt)
	}
	s.clients[user] = clientAttempt{client: client, attempt: attempt}
	return true
}

func newSession(id string, r *sfu.Router) *session {
	return &session{id: id, router: r, members: make(map[string]*member)}
}

func (s *session) member(pid string) *member {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.members[pid]
	if m == nil {
		m = &member{}
		s.members[pid] = m
	}
	return m
}

// routingVersion orders audience updates across incarnations of the rooms
// session: rooms restarts versions at 0 when a session empties and is
// created again, while this router may live on.
func (s *session) routingVersion(version uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen<<40 | version
}

// observe records the incarnation a join landed in.
func (s *session) observe(created time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !created.Equal(s.created) {
		s.created = created
		s.gen++
		s.history = s.history[:0]
	}
}

// broadcast records an encoded event and offers it, without blocking, to
// every socket of the session. A socket not yet welcomed, or lagging,
// refuses it; its catch-up will include it from the history.
func (s *session) broadcast(e sentEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.history) == historyLen {
		s.history = append(s.history[:0], s.history[1:]...)
	}
	s.history = append(s.history, e)
	for _, m := range s.members {
		if c := m.conn.Load(); c != nil {
			c.out.putEvent(e.forConn(c))
		}
	}
}

// conn returns the socket holding participant pid's record, or nil.
func (s *session) conn(pid string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.members[pid]; m != nil {
		return m.conn.Load()
	}
	return nil
}

// conns returns every socket of the session.
func (s *session) conns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for _, m := range s.members {
		if c := m.conn.Load(); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// maxCatchUpTries bounds the attempts to catch a socket up from a
// snapshot: each retry takes a newer snapshot, so only a session changing
// faster than historyLen events per snapshot exhausts them.
const maxCatchUpTries = 5

// catchUp queues lead (a welcome or a snapshot message showing the session
// at version) on c, then every event after version, and lets c take events
// again. It runs under s.mu, so no event is broadcast in between: the
// client sees each version once and in order. It reports false, queuing
// nothing, when the history no longer holds every event after version (the
// caller takes a newer snapshot and tries again). A resume passes strict:
// its version comes from the client, and an empty history then proves
// nothing, while a join's own snapshot is never older than the history.
func (s *session) catchUp(c *conn, version uint64, lead []byte, strict bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strict && (len(s.history) == 0 || s.history[len(s.history)-1].version < version) {
		return false // nothing kept, or a version from the future
	}
	i := len(s.history)
	for i > 0 && s.history[i-1].version > version {
		i--
	}
	if i == 0 && len(s.history) > 0 && s.history[0].version > version+1 {
		return false // events between version and the oldest kept were dropped
	}
	after := make([][]byte, 0, len(s.history)-i)
	for _, e := range s.history[i:] {
		after = append(after, e.forConn(c))
	}
	c.out.catchUp(lead, after)
	return true
}

// toWireParticipant is the one conversion from a rooms record to what
// clients see.
func toWireParticipant(session string, p rooms.Participant) Participant {
	return Participant{
		ID: p.ID, Alias: p.Alias, Role: string(p.Role), Room: p.Room, State: string(p.State),
		Muted: p.Muted, Deafened: p.Deafened, HandRaised: p.HandRaised,
		AgoraChannel: AgoraChannel(session, p.Room),
	}
}

func toWireParticipants(session string, ps []rooms.Participant) []Participant {
	out := make([]Participant, 0, len(ps))
	for _, p := range ps {
		out = append(out, toWireParticipant(session, p))
	}
	return out
}

func toWireRooms(session string, rs []rooms.Room) []Room {
	out := make([]Room, 0, len(rs))
	for _, r := range rs {
		out = append(out, Room{
			ID: r.ID, Name: r.Name, Capacity: r.Capacity,
			EndsAt: unixMilli(r.EndsAt), WarnAt: unixMilli(r.WarnAt),
			AgoraChannel: AgoraChannel(session, r.ID),
		})
	}
	return out
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func toWireSnapshot(s rooms.Snapshot) Snapshot {
	return Snapshot{
		Session: s.Session, Version: s.Version,
		Participants: toWireParticipants(s.Session, s.Participants),
		Rooms:        toWireRooms(s.Session, s.Rooms),
		SelfSelect:   s.SelfSelect, Hands: append([]string{}, s.Hands...), Ended: s.Ended,
		ClosingAt: unixMilli(s.ClosingAt), MainChannel: AgoraChannel(s.Session, rooms.MainRoom),
	}
}

func toWireEvent(ev rooms.Event) Event {
	out := Event{
		Envelope: Envelope{Type: TypeEvent}, Event: ev.Kind, Version: ev.Version,
		Actor: ev.Actor, Change: ev.Change, FromRoom: ev.FromRoom, Room: ev.Room,
		Message: ev.Message, Reason: ev.Reason, ClosingAt: unixMilli(ev.ClosingAt),
	}
	if ev.Participant.ID != "" {
		p := toWireParticipant(ev.Session, ev.Participant)
		out.Participant = &p
	}
	if len(ev.Rooms) > 0 {
		out.Rooms = toWireRooms(ev.Session, ev.Rooms)
	}
	if len(ev.Moves) > 0 {
		out.Moves = toWireParticipants(ev.Session, ev.Moves)
	}
	if ev.Kind == rooms.EventSelfSelect {
		on := ev.SelfSelect
		out.SelfSelect = &on
	}
	return out
}
