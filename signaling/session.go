package signaling

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// session is the signaling side of one session: its router and the socket
// currently holding each participant record.
type session struct {
	id     string      // immutable
	router *sfu.Router // immutable; closed when the last holder releases
	refs   int         // holders; guarded by Server.mu

	mu      sync.Mutex
	members map[string]*member // by participant id
	history []sentEvent        // the newest events, oldest first, for joiners
	created time.Time          // creation time of the rooms session incarnation
	gen     uint64             // bumped when the rooms session was recreated
}

// historyLen is how many recent events a session keeps so that a joiner
// gets every event newer than its welcome snapshot.
const historyLen = 256

type sentEvent struct {
	version uint64
	msg     []byte
}

// member serialises the sockets of one participant record, so that a
// takeover closes the old PeerConnection before the new one is added.
type member struct {
	mu   sync.Mutex           // held across a takeover
	conn atomic.Pointer[conn] // the socket holding the record; nil when none
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

// broadcast records an encoded event and enqueues it, without blocking, on
// every socket of the session that has been welcomed.
func (s *session) broadcast(version uint64, msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.history) == historyLen {
		s.history = append(s.history[:0], s.history[1:]...)
	}
	s.history = append(s.history, sentEvent{version, msg})
	for _, m := range s.members {
		if c := m.conn.Load(); c != nil && c.welcomed {
			c.enqueue(msg)
		}
	}
}

// welcome enqueues c's welcome and then every event newer than the
// welcome's snapshot, atomically with respect to broadcast: the client sees
// each version once and in order.
func (s *session) welcome(c *conn, w Welcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.enqueue(encode(w))
	c.welcomed = true
	for _, e := range s.history {
		if e.version > w.Snapshot.Version {
			c.enqueue(e.msg)
		}
	}
}

// toWireParticipant is the one conversion from a rooms record to what
// clients see.
func toWireParticipant(p rooms.Participant) Participant {
	return Participant{ID: p.ID, Alias: p.Alias, Role: string(p.Role), Room: p.Room, State: string(p.State)}
}

func toWireSnapshot(s rooms.Snapshot) Snapshot {
	out := Snapshot{Session: s.Session, Version: s.Version, Participants: make([]Participant, 0, len(s.Participants))}
	for _, p := range s.Participants {
		out.Participants = append(out.Participants, toWireParticipant(p))
	}
	return out
}
