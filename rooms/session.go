package rooms

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// session is one session's state. Every field below mu is guarded by mu;
// the methods named *Locked must be called with mu held.
type session struct {
	id      string    // immutable; never ""
	created time.Time // immutable
	emit    func(Event)

	mu sync.Mutex
	// dead is set, under mu, when the last participant left and the session
	// was removed from the Hub. A dead session is never changed again: a
	// caller that finds one after locking looks the session up anew.
	dead       bool
	version    uint64 // 0 for a new session; +1 per change
	hostUserID string // the session's host user; "" until a host joins
	// users holds every user seen in this incarnation, present or not, so
	// that participant ids stay stable and epochs keep growing across a
	// leave and rejoin. byID indexes the same entries by participant id.
	users   map[string]*member
	byID    map[string]*member
	present int    // number of members with present set
	nextSeq uint64 // join-order counter
}

// member is one user's record in a session.
type member struct {
	p       Participant // the record; p.Epoch is the last epoch issued
	present bool        // false after leave: no record, only the memory of id and epoch
	seq     uint64      // join order of the current record
}

// newSession returns an empty session at version 0. emit receives every
// event with mu held; it is never nil.
func newSession(id string, created time.Time, emit func(Event)) *session {
	return &session{
		id:      id,
		created: created,
		emit:    emit,
		users:   make(map[string]*member),
		byID:    make(map[string]*member),
	}
}

// changedLocked records one change: it bumps the version and emits the event.
func (s *session) changedLocked(kind string, p Participant) {
	s.version++
	s.emit(Event{Session: s.id, Version: s.version, Kind: kind, Participant: p})
}

// joinLocked joins id to the session, or takes its record over when the
// user already has one. It returns the result with Snapshot filled in.
func (s *session) joinLocked(id Identity, now time.Time) JoinResult {
	m := s.users[id.UserID]
	if m != nil && m.present {
		// Takeover: same ID, role, room and join position; new epoch.
		prev := m.p.Epoch
		m.p.Epoch++
		m.p.State = StateJoining
		if id.Alias != "" {
			m.p.Alias = id.Alias
		}
		s.changedLocked(EventUpdated, m.p)
		return JoinResult{Participant: m.p, Replaced: true, PrevEpoch: prev, Snapshot: s.snapshotLocked()}
	}
	role, becomesHost := assignRole(s.hostUserID, id.UserID, id.Role)
	if becomesHost {
		s.hostUserID = id.UserID
	}
	if m == nil {
		m = &member{p: Participant{ID: s.newIDLocked(), UserID: id.UserID}}
		s.users[id.UserID] = m
		s.byID[m.p.ID] = m
	}
	m.present = true
	m.seq = s.nextSeq
	s.nextSeq++
	s.present++
	m.p.Alias = id.Alias
	m.p.Role = role
	m.p.Room = MainRoom
	m.p.State = StateJoining
	m.p.Epoch++ // continues after a leave, so the old connection stays stale
	m.p.JoinedAt = now
	s.changedLocked(EventJoined, m.p)
	return JoinResult{Participant: m.p, Snapshot: s.snapshotLocked()}
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
	m := s.byID[pid]
	if m == nil || !m.present {
		return nil, fmt.Errorf("participant %q: %w", pid, ErrNotFound)
	}
	if m.p.Epoch != epoch {
		return nil, fmt.Errorf("participant %q: epoch %d, current %d: %w", pid, epoch, m.p.Epoch, ErrStale)
	}
	return m, nil
}

// setStateLocked sets the state of record pid at epoch; no change, no event.
func (s *session) setStateLocked(pid string, epoch uint64, st State) error {
	m, err := s.currentLocked(pid, epoch)
	if err != nil {
		return err
	}
	if m.p.State == st {
		return nil
	}
	m.p.State = st
	s.changedLocked(EventUpdated, m.p)
	return nil
}

// leaveLocked removes record pid at epoch. It reports whether the session is
// now empty.
func (s *session) leaveLocked(pid string, epoch uint64) (empty bool, err error) {
	m, err := s.currentLocked(pid, epoch)
	if err != nil {
		return false, err
	}
	m.present = false
	s.present--
	s.changedLocked(EventLeft, m.p)
	return s.present == 0, nil
}

// participantLocked returns a copy of the present record pid.
func (s *session) participantLocked(pid string) (Participant, error) {
	m := s.byID[pid]
	if m == nil || !m.present {
		return Participant{}, fmt.Errorf("participant %q: %w", pid, ErrNotFound)
	}
	return m.p, nil
}

// snapshotLocked returns the session state at the current version, with the
// participants in join order.
func (s *session) snapshotLocked() Snapshot {
	ms := make([]*member, 0, s.present)
	for _, m := range s.users {
		if m.present {
			ms = append(ms, m)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	ps := make([]Participant, len(ms))
	for i, m := range ms {
		ps[i] = m.p
	}
	return Snapshot{Session: s.id, Version: s.version, Created: s.created, Participants: ps}
}

// audiencesLocked computes, for every listener (a present record that is
// joining or connected), the sorted ids of the records it may hear: the
// members of its room that are not reconnecting, minus itself. Every
// listener has an entry, with a non-nil (possibly empty) slice of its own.
func (s *session) audiencesLocked() map[string][]string {
	sources := make(map[string][]string) // room → audible ids
	var listeners []*member
	for _, m := range s.users {
		if !m.present || m.p.State == StateReconnecting {
			continue
		}
		sources[m.p.Room] = append(sources[m.p.Room], m.p.ID)
		listeners = append(listeners, m) // joining or connected
	}
	for _, ids := range sources {
		slices.Sort(ids)
	}
	aud := make(map[string][]string, len(listeners))
	for _, m := range listeners {
		room := sources[m.p.Room]
		out := make([]string, 0, len(room)-1)
		for _, id := range room {
			if id != m.p.ID {
				out = append(out, id)
			}
		}
		aud[m.p.ID] = out
	}
	return aud
}
