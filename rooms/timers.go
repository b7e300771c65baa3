package rooms

import (
	"context"
	"errors"
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
//     participant for Options.IdleTTL (telling Options.OnExpire), and an
//     ended session Options.EndedTTL after its end. A later Join creates a
//     new session.
//
// It returns the ids of the sessions that changed (sorted): those with new
// events, whose routing may have changed, and those deleted, for which
// Snapshot now fails with ErrNotFound. Tick locks one session at a time,
// only while working on it.
func (h *Hub) Tick(now time.Time) (changed []string) {
	if h.storeDown.Load() {
		// The Store failed: ask whether it is back before any session is
		// locked. Writing to a Store that hangs would hold the session's
		// lock, and every command of the session behind it, for the whole
		// StoreTimeout; a ping holds nothing.
		ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
		_ = h.PingStore(ctx) // noted for StoreHealthy
		cancel()
	}
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

// tickSession is Tick for one session; it reports a change. With a Store,
// it also writes what the Store missed while it was unreachable, deletes
// an expired session from the Store too (only at the version it knows),
// and runs again on the stored state when another writer came first.
func (h *Hub) tickSession(s *session, now time.Time) bool {
	changed := false
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		var expired *SessionStats
		done, ch := h.tickOnce(s, now, &expired)
		changed = changed || ch
		if expired != nil && h.onExpire != nil {
			h.onExpire(*expired) // no lock held
		}
		if done {
			break
		}
	}
	return changed
}

// tickOnce is one attempt of tickSession: done is false when it must run
// again because s was reloaded from the Store. When it deletes a session
// nobody ended, it sets *expired to its statistics.
func (h *Hub) tickOnce(s *session, now time.Time, expired **SessionStats) (done, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return true, false
	}
	if s.version != s.stored && !h.storeDown.Load() {
		// Changes made while the Store was unreachable: it answers again
		// (Tick's ping, or another call, found it back).
		if again, _ := h.finishLocked(s); again {
			return false, true // reloaded: routing may differ
		}
		if s.dead {
			return true, true // another node owns it (ErrNotOwner): it left this Hub
		}
	}
	if s.expiredLocked(now, h.idleTTL, h.endedTTL) {
		if h.storeDown.Load() {
			return true, false // kept, and not waited on: deleted once the Store answers
		}
		if !h.deleteStoredLocked(s) {
			switch {
			case s.dead: // gone from the Store: another node deleted it
				return true, true
			case h.storeDown.Load(): // kept; the next Tick tries again
				return true, false
			}
			return false, true // reloaded: someone else changed it; look again
		}
		s.dead = true
		if !s.ended {
			st := s.statsLocked()
			st.Ended = now
			*expired = &st
		}
		h.participants.Add(-int64(s.present)) // 0 unless a Store reload brought records
		h.mu.Lock()                           // order: session.mu, then h.mu
		if h.sessions[s.id] == s {
			delete(h.sessions, s.id)
		}
		h.mu.Unlock()
		return true, true
	}
	before := s.version
	if !s.closeAllDueLocked(now) {
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
	}
	if s.version == before {
		return true, false
	}
	if again, _ := h.finishLocked(s); again {
		return false, true
	}
	return true, true // written, or dropped because another node owns s
}

// deleteStoredLocked deletes expired s from the Store, at the version
// the Store holds for it. It reports whether s may leave the Hub: true
// without a Store or when deleted; false when the Store is unreachable
// (s stays, Tick tries again) or another writer came first (s was
// reloaded, or marked dead when the Store no longer has it).
func (h *Hub) deleteStoredLocked(s *session) bool {
	if h.store == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
	defer cancel()
	err := h.store.Delete(ctx, s.id, s.stored)
	switch {
	case err == nil:
		h.storeUp()
		return true
	case errors.Is(err, ErrConflict):
		h.storeUp()
		h.reloadLocked(s)
	case errors.Is(err, ErrNotOwner):
		h.storeUp()
		h.dropLocked(s) // the owner deletes it
	default:
		h.storeFailed(s.id, err)
	}
	return false
}

// expiredLocked reports whether the session is due for deletion at now.
func (s *session) expiredLocked(now time.Time, idleTTL, endedTTL time.Duration) bool {
	if s.ended {
		return !now.Before(s.endedAt.Add(endedTTL))
	}
	return s.present == 0 && !now.Before(s.idleSince.Add(idleTTL))
}
