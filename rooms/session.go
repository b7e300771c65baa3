package rooms

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// session is one session's state. Every field below mu is guarded by mu;
// the methods named *Locked must be called with mu held.
type session struct {
	id   string      // immutable; never ""
	emit func(Event) // immutable; delivers an event to the Hub's OnEvent
	// buffered is set (immutable) when the Hub has a Store: events wait in
	// pending until the change is written, and are then delivered.
	buffered bool

	mu sync.Mutex
	// dead is set, under mu, when Tick deleted the session from the Hub. A
	// dead session is never changed again: a caller that finds one after
	// locking looks the session up anew.
	dead       bool
	created    time.Time // when this incarnation was created
	version    uint64    // 0 for a new session; +1 per change
	hostUserID string    // the session's host user; "" until a host joins
	// users holds every user seen in this incarnation, present or not, so
	// that participant ids stay stable and epochs keep growing across a
	// leave and rejoin. byID indexes the same entries by participant id.
	users   map[string]*member
	byID    map[string]*member
	present int    // number of members with present set
	nextSeq uint64 // join-order counter

	rooms      []*Room         // open breakout rooms, in creation order
	roomIDs    map[string]bool // every breakout id issued in this incarnation
	selfSelect bool            // participants may move themselves
	closingAt  time.Time       // when Tick closes every open room (ScheduleCloseAll); zero when none, and while no room is open
	handSeq    uint64          // last HandSeq issued
	banned     map[string]bool // user ids removed: they may not join again
	ended      bool            // EndSession was called; nothing changes any more
	endedAt    time.Time       // when ended; zero while not ended
	idleSince  time.Time       // when present last dropped to 0; zero while someone is present
	stats      counters
	chat       chatState     // chat streams, de-duplication and rate limits (chat.go)
	routeEpoch *routingEpoch // the lineage of RoutingChanges passes; new with the session and each restore

	// With a Store only (store.go, persist.go):
	stored  uint64                  // the version the Store holds; 0 before the first write
	saved   map[string]MemberRecord // by user id: member records as last written
	unsaved []Event                 // events after stored, not yet written (at most maxUnsaved)
	pending []Event                 // events of the operation in progress, delivered once it is written
}

// counters are the statistics of one incarnation; see SessionStats.
type counters struct {
	peak, joins, breakouts, moves, removals int
}

// member is one user's record in a session.
type member struct {
	p       Participant // the record; p.Epoch is the last epoch issued
	present bool        // false after leave: no record, only the memory of id, epoch, mute and set role
	seq     uint64      // join order of the current record
	roleSet Role        // the role SetRole gave this user; "" when none. Survives a leave.

	// For RoutingChanges (audience.go): the entries the last pass over the
	// records saw, and the session version of the pass that saw them change.
	routed   RouteChange
	routedAt uint64
}

// newSession returns an empty session at version 0. emit receives every
// event with mu held; it is never nil.
func newSession(id string, created time.Time, emit func(Event), buffered bool) *session {
	return &session{
		buffered:   buffered,
		saved:      make(map[string]MemberRecord),
		id:         id,
		created:    created,
		emit:       emit,
		idleSince:  created, // idle until the first join
		routeEpoch: new(routingEpoch),
		users:      make(map[string]*member),
		byID:       make(map[string]*member),
		roomIDs:    make(map[string]bool),
		banned:     make(map[string]bool),
	}
}

// emitLocked records one change: it bumps the version, stamps e with the
// session id and the new version, and emits it (with a Store: keeps it for
// the write and for delivery after it; see Hub.finishLocked).
func (s *session) emitLocked(e Event) {
	s.version++
	e.Session, e.Version = s.id, s.version
	if !s.buffered {
		s.emit(e)
		return
	}
	s.pending = append(s.pending, e)
	if len(s.unsaved) == maxUnsaved {
		s.unsaved = slices.Delete(s.unsaved, 0, 1)
	}
	s.unsaved = append(s.unsaved, e)
}

// updatedLocked emits EventUpdated for p with the given change and actor.
func (s *session) updatedLocked(p Participant, change, actor string) {
	s.emitLocked(Event{Kind: EventUpdated, Participant: p, Change: change, Actor: actor})
}

// joinLocked joins id to the session, or takes its record over when the
// user already has one. It returns the result with Snapshot filled in, or
// ErrEnded or ErrRemoved.
// admit is asked before a join creates a present record (not for a
// takeover): it counts it, or refuses it with ErrSessionFull or
// ErrServerFull.
func (s *session) joinLocked(id Identity, now time.Time, admit func(*session) error) (JoinResult, error) {
	if s.ended {
		return JoinResult{}, fmt.Errorf("session %q: %w", s.id, ErrEnded)
	}
	if s.banned[id.UserID] {
		return JoinResult{}, fmt.Errorf("user %q in session %q: %w", id.UserID, s.id, ErrRemoved)
	}
	m := s.users[id.UserID]
	if m != nil && m.present {
		// Takeover: same ID, role, room, mute, hand and join position; new epoch.
		prev := m.p.Epoch
		m.p.Epoch++
		m.p.State = StateJoining
		if id.Alias != "" {
			m.p.Alias = id.Alias
		}
		s.updatedLocked(m.p, ChangeTakeover, "")
		return JoinResult{Participant: m.p, Replaced: true, PrevEpoch: prev, Snapshot: s.snapshotLocked()}, nil
	}
	if err := admit(s); err != nil {
		return JoinResult{}, err
	}
	role, becomesHost := assignRole(s.hostUserID, id.UserID, id.Role)
	if becomesHost {
		s.hostUserID = id.UserID
	}
	if m == nil {
		m = &member{p: Participant{ID: s.newIDLocked(), UserID: id.UserID}}
		s.users[id.UserID] = m
		s.byID[m.p.ID] = m
	} else if m.roleSet != "" && role != RoleHost {
		role = m.roleSet // a role set by SetRole outlives a leave
	}
	m.present = true
	m.seq = s.nextSeq
	s.nextSeq++
	s.present++
	s.idleSince = time.Time{}
	s.stats.joins++
	s.stats.peak = max(s.stats.peak, s.present)
	m.p.Alias = id.Alias
	m.p.Role = role
	m.p.Room = MainRoom
	s.joinedChatLocked(m)
	m.p.State = StateJoining
	m.p.Epoch++ // continues after a leave, so the old connection stays stale
	m.p.JoinedAt = now
	m.p.Deafened, m.p.HandRaised, m.p.HandSeq = false, false, 0 // Muted stays
	s.emitLocked(Event{Kind: EventJoined, Participant: m.p})
	return JoinResult{Participant: m.p, Snapshot: s.snapshotLocked()}, nil
}

// newIDLocked returns a participant id not yet used in this session.
func (s *session) newIDLocked() string {
	for {
		if id := newParticipantID(); s.byID[id] == nil {
			return id
		}
	}
}

// currentLocked returns the present record pid if epoch is its current
// epoch; otherwise an error wrapping ErrNotFound or ErrStale.
func (s *session) currentLocked(pid string, epoch uint64) (*member, error) {
	m, err := s.presentLocked(pid)
	if err != nil {
		return nil, err
	}
	if m.p.Epoch != epoch {
		return nil, fmt.Errorf("participant %q: epoch %d, current %d: %w", pid, epoch, m.p.Epoch, ErrStale)
	}
	return m, nil
}

// presentLocked returns the present record pid, or an error wrapping
// ErrNotFound.
func (s *session) presentLocked(pid string) (*member, error) {
	m := s.byID[pid]
	if m == nil || !m.present {
		return nil, fmt.Errorf("participant %q: %w", pid, ErrNotFound)
	}
	return m, nil
}

// setStateLocked sets the state of record pid at epoch; no change, no event.
func (s *session) setStateLocked(pid string, epoch uint64, st State) error {
	if s.ended {
		return ErrEnded
	}
	m, err := s.currentLocked(pid, epoch)
	if err != nil {
		return err
	}
	if m.p.State == st {
		return nil
	}
	m.p.State = st
	s.updatedLocked(m.p, ChangeState, "")
	return nil
}

// leaveLocked removes record pid at epoch with EventLeft.
func (s *session) leaveLocked(pid string, epoch uint64, now time.Time) error {
	if s.ended {
		return ErrEnded
	}
	m, err := s.currentLocked(pid, epoch)
	if err != nil {
		return err
	}
	s.dropLocked(m, now)
	s.emitLocked(Event{Kind: EventLeft, Participant: m.p})
	return nil
}

// moveLocked puts m in room, counts the move, and tells the chat
// (movedChatLocked). It returns the room m was in.
func (s *session) moveLocked(m *member, room string) (from string) {
	from = m.p.Room
	m.p.Room = room
	s.movedChatLocked(m, from)
	s.stats.moves++
	return from
}

// dropLocked marks m not present (leave or removal) and starts the idle
// clock when it was the last one.
func (s *session) dropLocked(m *member, now time.Time) {
	m.present = false
	s.present--
	delete(s.chat.left, m.p.ID) // a record that comes back is owed nothing of this one (joinedChatLocked)
	if s.present == 0 {
		s.idleSince = now
	}
}

// participantLocked returns a copy of the present record pid.
func (s *session) participantLocked(pid string) (Participant, error) {
	m, err := s.presentLocked(pid)
	if err != nil {
		return Participant{}, err
	}
	return m.p, nil
}

// membersLocked returns the present members in join order.
func (s *session) membersLocked() []*member {
	ms := make([]*member, 0, s.present)
	for _, m := range s.users {
		if m.present {
			ms = append(ms, m)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	return ms
}

// snapshotLocked returns the session state at the current version, with the
// participants in join order.
func (s *session) snapshotLocked() Snapshot {
	ms := s.membersLocked()
	ps := make([]Participant, len(ms))
	var raised []Participant
	for i, m := range ms {
		ps[i] = m.p
		if m.p.HandRaised {
			raised = append(raised, m.p)
		}
	}
	slices.SortFunc(raised, func(a, b Participant) int { return cmp.Compare(a.HandSeq, b.HandSeq) })
	hands := make([]string, len(raised))
	for i, p := range raised {
		hands[i] = p.ID
	}
	return Snapshot{
		Session: s.id, Version: s.version, Created: s.created, Participants: ps,
		Rooms: s.roomsLocked(), SelfSelect: s.selfSelect, Ended: s.ended, Hands: hands,
		ClosingAt: s.closingAt,
	}
}
