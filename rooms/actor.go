package rooms

import "fmt"

// Actor identifies who asks for an operation.
//
// For a participant, ParticipantID is its record in the session, and its
// CURRENT role, read under the session lock at the time of the operation,
// is what the permission checks use: a role changed a moment ago counts at
// once, and a stale role held by the caller does not. The record must be
// present (any connection state), or the operation fails with ErrNotFound.
// Actor carries no epoch: the layer above vouches that the request comes
// from that participant's connection.
//
// For a server-side integration, ParticipantID is "" and Role is the role
// its verified token carries; an integration with Role host acts as host.
// An integration has no record, so it has no room, hand or hearing of its
// own, and it appears as "" in Event.Actor.
type Actor struct {
	ParticipantID string // the actor's record in the session; "" for an integration
	Role          Role   // used only when ParticipantID == ""
}

// actor is an Actor resolved under the session lock.
type actor struct {
	m    *member // the actor's record; nil for an integration
	id   string  // the actor's participant id; "" for an integration
	role Role    // the role that counts
}

// actorLocked resolves a: the present record of a participant with its
// current role, or an integration with the role it claims.
func (s *session) actorLocked(a Actor) (actor, error) {
	if a.ParticipantID == "" {
		return actor{role: a.Role}, nil
	}
	m, err := s.presentLocked(a.ParticipantID)
	if err != nil {
		return actor{}, fmt.Errorf("actor: %w", err)
	}
	return actor{m: m, id: m.p.ID, role: m.p.Role}, nil
}

// Authorize reports whether a may perform action in session right now: nil,
// or an error wrapping ErrNotFound (no such session or actor), ErrEnded or
// ErrForbidden. It changes nothing. Every operation checks its permission
// again under its own lock; Authorize lets a caller refuse a request before
// doing any work for it. Actions whose rule depends on the target (moving
// oneself, hands) are decided by their operations only.
func (h *Hub) Authorize(sessionID string, a Actor, action Action) error {
	s, err := h.lockSession(sessionID)
	if err != nil {
		return fmt.Errorf("rooms: authorize %q: %w", action, err)
	}
	defer s.mu.Unlock()
	if s.ended {
		return fmt.Errorf("rooms: authorize %q in session %q: %w", action, sessionID, ErrEnded)
	}
	act, err := s.actorLocked(a)
	if err == nil {
		err = Check(act.role, action)
	}
	if err != nil {
		return fmt.Errorf("rooms: authorize in session %q: %w", sessionID, err)
	}
	return nil
}

// isSelf reports whether the actor is the participant m.
func (act actor) isSelf(m *member) bool { return act.m != nil && act.m == m }

// mutate runs one operation on session: it locks the session, refuses an
// ended one with ErrEnded, resolves the actor, and runs f, which makes at
// most one change (one emitLocked) or none. It returns the session version
// after f, or 0 and f's error wrapped with the operation and session. op
// names the operation in errors.
func (h *Hub) mutate(sessionID, op string, a Actor, f func(s *session, act actor) error) (uint64, error) {
	var version uint64
	err := h.update(sessionID, false, func(s *session) error {
		if s.ended {
			return fmt.Errorf("session %q: %w", sessionID, ErrEnded)
		}
		act, err := s.actorLocked(a)
		if err == nil {
			err = f(s, act)
		}
		if err != nil {
			return fmt.Errorf("session %q: %w", sessionID, err)
		}
		version = s.version
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rooms: %s: %w", op, err)
	}
	return version, nil
}

// targetLocked returns the present record pid that act wants to perform
// action on, after checking act's role, then the target's existence, then
// the hierarchy (CheckTarget). The role is checked first, so that a
// forbidden caller learns nothing about who is present.
func (s *session) targetLocked(act actor, pid string, action Action) (*member, error) {
	if err := Check(act.role, action); err != nil {
		return nil, err
	}
	m, err := s.presentLocked(pid)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if err := CheckTarget(act.role, m.p.Role, action); err != nil {
		return nil, err
	}
	return m, nil
}
