package rooms

import "fmt"

// Routing is who may hear whom in a session, by room: a participant hears
// exactly the participants whose Speak room is its Hear room, itself
// excepted. Its size is linear in the session's, however full a room is.
type Routing struct {
	// Hear maps every listener (a present record, not deafened) to the
	// room it hears.
	Hear map[string]string
	// Speak maps every audible participant (a present record, not muted by
	// a moderator) to the room it is heard in.
	Speak map[string]string
	// A reconnecting record is in both: its websocket is gone, but its
	// PeerConnection may still carry audio through the grace period (a
	// websocket cut is not an audio cut). Whether media flows is the SFU's
	// business: a record without a live PeerConnection has nothing to send.
}

// routingLocked computes the session's routing. The maps are new: the
// caller owns them.
func (s *session) routingLocked() Routing {
	rt := Routing{Hear: make(map[string]string, len(s.users)), Speak: make(map[string]string, len(s.users))}
	for _, m := range s.users {
		if !m.present {
			continue
		}
		if !m.p.Deafened {
			rt.Hear[m.p.ID] = m.p.Room
		}
		if !m.p.Muted {
			rt.Speak[m.p.ID] = m.p.Room
		}
	}
	return rt
}

// SetDeafened makes the actor itself stop (on) or resume (off) hearing the
// others: a deafened participant hears nobody (it is not in Routing.Hear),
// while the others still hear it. Needs ActionDeafen; an integration Actor (no ParticipantID) has
// nothing to deafen and gets ErrInvalid. Setting the value the record has is
// no change: no event, the current version. Otherwise one EventUpdated with
// Change "deafened". The setting survives a takeover and is cleared by a
// leave. It returns the session version after the call.
func (h *Hub) SetDeafened(sessionID string, a Actor, on bool) (uint64, error) {
	return h.mutate(sessionID, "set deafened", a, func(s *session, act actor) error {
		if act.m == nil {
			return fmt.Errorf("an integration cannot deafen itself: %w", ErrInvalid)
		}
		if err := Check(act.role, ActionDeafen); err != nil {
			return err
		}
		if act.m.p.Deafened == on {
			return nil
		}
		act.m.p.Deafened = on
		s.updatedLocked(act.m.p, ChangeDeafened, act.id)
		return nil
	})
}
