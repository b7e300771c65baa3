package rooms

import (
	"fmt"
	"time"
)

// EndSession ends the session for everyone, with one EventSessionEnded
// (Actor): every record is removed and every breakout room closed, with no
// event of their own; the layer above closes every connection. From then on
// Join and every change fail with ErrEnded, while Snapshot (Ended true),
// Routing (empty), Stats and the other reads still answer, until Tick
// deletes the session Options.EndedTTL later. Needs ActionEndSession (host
// only).
func (h *Hub) EndSession(sessionID string, a Actor) (uint64, error) {
	return h.mutate(sessionID, "end session", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionEndSession); err != nil {
			return err
		}
		now := h.now()
		for _, m := range s.membersLocked() {
			s.dropLocked(m, now)
			h.participants.Add(-1)
		}
		s.rooms, s.closingAt = nil, time.Time{}
		s.ended, s.endedAt = true, now
		s.emitLocked(Event{Kind: EventSessionEnded, Actor: act.id})
		return nil
	})
}

// SessionStats are the statistics of one session (one incarnation: they
// start afresh when a deleted session is created again).
type SessionStats struct {
	Session string
	Created time.Time // when the session was created
	Ended   time.Time // when EndSession ended it; zero while not ended
	// PeakParticipants is the most present records at any one time.
	PeakParticipants int
	// TotalJoins counts records created by Join: first joins and rejoins
	// after a leave. Takeovers (the same user's new connection replacing
	// the old) are not joins and are not counted.
	TotalJoins int
	// BreakoutsCreated counts rooms opened by CreateBreakouts.
	BreakoutsCreated int
	// Moves counts room changes of participants, one per participant moved:
	// by Move, by Assign, and back to MainRoom when a room closed.
	Moves int
	// Removals counts Remove calls that removed someone.
	Removals int
	Version  uint64 // the session version now
}

// Stats returns the statistics of session, or an error wrapping
// ErrNotFound. An ended session keeps its statistics until Tick deletes
// it, Options.EndedTTL after the end; an idle one until IdleTTL.
func (h *Hub) Stats(sessionID string) (SessionStats, error) {
	s, err := h.lockSession(sessionID)
	if err != nil {
		return SessionStats{}, fmt.Errorf("rooms: stats: %w", err)
	}
	defer s.mu.Unlock()
	return s.statsLocked(), nil
}

// statsLocked is the session's statistics.
func (s *session) statsLocked() SessionStats {
	return SessionStats{
		Session: s.id, Created: s.created, Ended: s.endedAt,
		PeakParticipants: s.stats.peak, TotalJoins: s.stats.joins,
		BreakoutsCreated: s.stats.breakouts, Moves: s.stats.moves, Removals: s.stats.removals,
		Version: s.version,
	}
}
