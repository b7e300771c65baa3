package rooms

import "fmt"

// ParticipantByUser returns a copy of the record of user userID in session:
// the record that user's latest Join created or took over, whatever its
// state (a reconnecting participant still has its record, role and room).
// It is read under the session's lock, so Room is the room the participant
// is in at that instant. It returns an error wrapping ErrNotFound when the
// session does not exist or the user has no record in it (never joined, or
// left and not back).
func (h *Hub) ParticipantByUser(session, userID string) (Participant, error) {
	s, err := h.lockSession(session)
	if err != nil {
		return Participant{}, fmt.Errorf("rooms: participant of user %q: %w", userID, err)
	}
	defer s.mu.Unlock()
	p, err := s.userLocked(userID)
	if err != nil {
		return Participant{}, fmt.Errorf("rooms: session %q: %w", session, err)
	}
	return p, nil
}

// userLocked returns a copy of the present record of user userID.
func (s *session) userLocked(userID string) (Participant, error) {
	m := s.users[userID]
	if m == nil || !m.present {
		return Participant{}, fmt.Errorf("user %q: %w", userID, ErrNotFound)
	}
	return m.p, nil
}
