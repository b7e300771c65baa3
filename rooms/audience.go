package rooms

import (
	"fmt"
	"slices"
)

// audiencesLocked computes, for every listener (a present record that is
// joining or connected), the sorted ids of the records it may hear: the
// members of its room that are not reconnecting and not muted, minus
// itself; nobody for a deafened listener. Every listener has an entry, with
// a non-nil (possibly empty) slice of its own.
func (s *session) audiencesLocked() map[string][]string {
	sources := make(map[string][]string) // room → audible ids
	var listeners []*member
	for _, m := range s.users {
		if !m.present || m.p.State == StateReconnecting {
			continue
		}
		if !m.p.Muted {
			sources[m.p.Room] = append(sources[m.p.Room], m.p.ID)
		}
		listeners = append(listeners, m) // joining or connected
	}
	for _, ids := range sources {
		slices.Sort(ids)
	}
	aud := make(map[string][]string, len(listeners))
	for _, m := range listeners {
		if m.p.Deafened {
			aud[m.p.ID] = []string{}
			continue
		}
		room := sources[m.p.Room]
		out := make([]string, 0, len(room))
		for _, id := range room {
			if id != m.p.ID {
				out = append(out, id)
			}
		}
		aud[m.p.ID] = out
	}
	return aud
}

// SetDeafened makes the actor itself stop (on) or resume (off) hearing the
// others: a deafened participant's audience is empty, while the others still
// hear it. Needs ActionDeafen; an integration Actor (no ParticipantID) has
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
