package rooms

import "fmt"

// SetMuted mutes (or unmutes) participant target server-side: while muted,
// nobody's audience holds it, whatever its client does. Needs
// ActionMuteOthers and a target not above the actor (CheckTarget): a
// moderator cannot mute the host. The mute is kept across takeovers and
// across a leave and rejoin. Setting the value the record has is no
// change: no event, the current version. Otherwise one EventUpdated with
// Change "muted". ErrNotFound for an unknown target.
func (h *Hub) SetMuted(sessionID string, a Actor, target string, muted bool) (uint64, error) {
	return h.mutate(sessionID, "set muted", a, func(s *session, act actor) error {
		m, err := s.targetLocked(act, target, ActionMuteOthers)
		if err != nil {
			return err
		}
		if m.p.Muted == muted {
			return nil
		}
		m.p.Muted = muted
		s.updatedLocked(m.p, ChangeMuted, act.id)
		return nil
	})
}

// RequestUnmute asks participant target to unmute itself, with one
// EventUnmuteRequested (Participant: the target, Actor). It changes no
// record: the target decides, and a moderator's own mute is lifted only by
// SetMuted. Needs ActionRequestUnmute; any present target (asking is not
// acting on someone, so the hierarchy does not apply). ErrNotFound for an
// unknown target.
func (h *Hub) RequestUnmute(sessionID string, a Actor, target string) (uint64, error) {
	return h.mutate(sessionID, "request unmute", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionRequestUnmute); err != nil {
			return err
		}
		m, err := s.presentLocked(target)
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		s.emitLocked(Event{Kind: EventUnmuteRequested, Participant: m.p, Actor: act.id})
		return nil
	})
}

// Remove removes participant target from the session, with one
// EventRemoved (Participant: the record as it was, Reason, Actor), and bans
// its user: a later Join of the same user id fails with ErrRemoved for as
// long as this session lives (until Tick deletes it). The layer above
// closes the target's connection. Needs ActionRemove and a target not above
// the actor; the host can never be removed, and an actor cannot remove
// itself (ErrInvalid: that is Leave). reason is at most MaxReasonRunes
// runes of UTF-8, may be "" (ErrInvalid otherwise). ErrNotFound for an
// unknown target.
func (h *Hub) Remove(sessionID string, a Actor, target, reason string) (uint64, error) {
	if err := checkText("reason", reason, 0, MaxReasonRunes); err != nil {
		return 0, fmt.Errorf("rooms: remove: %w", err)
	}
	return h.mutate(sessionID, "remove", a, func(s *session, act actor) error {
		m, err := s.targetLocked(act, target, ActionRemove)
		if err != nil {
			return err
		}
		if act.isSelf(m) {
			return fmt.Errorf("an actor cannot remove itself: %w", ErrInvalid)
		}
		s.banned[m.p.UserID] = true
		s.dropLocked(m, h.now())
		h.participants.Add(-1)
		s.stats.removals++
		s.emitLocked(Event{Kind: EventRemoved, Participant: m.p, Reason: reason, Actor: act.id})
		return nil
	})
}

// SetRole makes participant target a moderator (promote) or a participant
// (demote), with one EventUpdated and Change "role". role must be
// RoleModerator or RoleParticipant (ErrInvalid otherwise: there is one host,
// and it is the session's host user). Needs ActionPromote (host only) and a
// target that is not the host. The role set sticks to the user for the
// session's life: a rejoin after a leave gets it back, whatever the token
// claims. Setting the role the target has is no change: no event, the
// current version. ErrNotFound for an unknown target.
func (h *Hub) SetRole(sessionID string, a Actor, target string, role Role) (uint64, error) {
	if role != RoleModerator && role != RoleParticipant {
		return 0, fmt.Errorf("rooms: set role: role %q, want moderator or participant: %w", role, ErrInvalid)
	}
	return h.mutate(sessionID, "set role", a, func(s *session, act actor) error {
		m, err := s.targetLocked(act, target, ActionPromote)
		if err != nil {
			return err
		}
		if m.p.Role == role {
			return nil
		}
		m.p.Role, m.roleSet = role, role
		s.updatedLocked(m.p, ChangeRole, act.id)
		return nil
	})
}
