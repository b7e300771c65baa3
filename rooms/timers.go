package rooms

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Tick runs the session timers as of now; the caller calls it
// periodically (every second or so) with the current time.
//
//   - For each open breakout room with a timer, once now ≥ WarnAt it emits
//     one EventRoomWarning (the room, Warned true), and once now ≥ EndsAt it
//     closes the room as CloseRoom does, with Actor "": one
//     EventRoomsClosed per room, its members back in MainRoom. A room whose
//     end has come is closed without a warning first.
//   - Once now ≥ the deadline of ScheduleCloseAll, it closes every open
//     room as CloseAllRooms does, with Actor "": one EventRoomsClosed with
//     them all. A room's own warning is not sent while that deadline comes
//     no later than the room's end: everyone was told the earlier end by
//     EventRoomsClosing. (Cancelled, the room warns at the next Tick past
//     its WarnAt.)
//   - It deletes, with no event, a session that has had no present
//     participant for Options.IdleTTL, and an ended session
//     Options.EndedTTL after its end. A later Join creates a new session.
//
// It returns the ids of the sessions that changed (sorted): those with new
// events, whose routing may have changed, and those deleted, for which
// Snapshot now fails with ErrNotFound. Tick locks one session at a time,
// only while working on it.
func (h *Hub) Tick(now time.Time) (changed []string) {
	h.mu.Lock()
	all := slices.Collect(maps.Values(h.sessions))
	h.mu.Unlock()
	slices.SortFunc(all, func(a, b *session) int { return strings.Compare(a.id, b.id) })
	for _, s := range all {
		if h.tickSession(s, now) {
			changed = append(changed, s.id)
		}
	}
	return changed
}

// tickSession is Tick for one session; it reports a change.
func (h *Hub) tickSession(s *session, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return false
	}
	if s.expiredLocked(now, h.idleTTL, h.endedTTL) {
		s.dead = true
		h.mu.Lock() // order: session.mu, then h.mu
		if h.sessions[s.id] == s {
			delete(h.sessions, s.id)
		}
		h.mu.Unlock()
		return true
	}
	before := s.version
	if s.closeAllDueLocked(now) {
		return true
	}
	for _, r := range slices.Clone(s.rooms) {
		switch {
		case r.EndsAt.IsZero():
		case !now.Before(r.EndsAt):
			s.closeRoomsLocked([]*Room{r}, "")
		case !r.Warned && !now.Before(r.WarnAt) && (s.closingAt.IsZero() || s.closingAt.After(r.EndsAt)):
			r.Warned = true
			s.emitLocked(Event{Kind: EventRoomWarning, Rooms: []Room{*r}})
		}
	}
	return s.version != before
}

// expiredLocked reports whether the session is due for deletion at now.
func (s *session) expiredLocked(now time.Time, idleTTL, endedTTL time.Duration) bool {
	if s.ended {
		return !now.Before(s.endedAt.Add(endedTTL))
	}
	return s.present == 0 && !now.Before(s.idleSince.Add(idleTTL))
}
