package rooms

import (
	"fmt"
	"slices"
	"time"
)

// MaxCloseAllDelay is the longest countdown ScheduleCloseAll accepts: an
// hour.
const MaxCloseAllDelay = time.Hour

// ScheduleCloseAll closes every open breakout room after delay, counted by
// the server: Tick closes them once the deadline has passed, as
// CloseAllRooms does but with Actor "" (one EventRoomsClosed with every room
// open at that moment and all their members, back in MainRoom), whether or
// not anyone, the actor included, is still connected. Needs
// ActionCloseBreakouts, as closing rooms does.
//
//   - delay 0 is CloseAllRooms: every room closes now (with no room open, no
//     change and no event); the deadline returned is zero.
//   - delay in (0, MaxCloseAllDelay] stores the deadline now+delay (whole
//     milliseconds, as clients see it) in the session, replacing any pending
//     one, with one EventRoomsClosing (ClosingAt, Actor). Snapshot.ClosingAt
//     carries it until the rooms close or CancelCloseAll cancels it.
//   - A delay outside 0..MaxCloseAllDelay fails with ErrInvalid; a delay over
//     0 with no breakout room open fails with ErrNotFound: there is nothing
//     to count down to.
//
// The deadline applies to the session, not to a list of rooms: a room
// created while it is pending closes at the same deadline (unless its own
// timer ends it first). Each room's effective end is thus the earlier of its
// EndsAt and the deadline. When no breakout room is open any more (closed one
// by one, by their own timers, or by CloseAllRooms) the deadline is cleared
// with the change that closed the last one, with no event of its own.
func (h *Hub) ScheduleCloseAll(sessionID string, a Actor, delay time.Duration) (time.Time, uint64, error) {
	if delay < 0 || delay > MaxCloseAllDelay {
		return time.Time{}, 0, fmt.Errorf("rooms: schedule close all: delay %v, want 0..%v: %w", delay, MaxCloseAllDelay, ErrInvalid)
	}
	if delay == 0 {
		v, err := h.CloseAllRooms(sessionID, a)
		return time.Time{}, v, err
	}
	var deadline time.Time
	v, err := h.mutate(sessionID, "schedule close all", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionCloseBreakouts); err != nil {
			return err
		}
		if len(s.rooms) == 0 {
			return fmt.Errorf("no breakout room is open: %w", ErrNotFound)
		}
		deadline = h.now().Add(delay).Truncate(time.Millisecond)
		s.closingAt = deadline
		s.emitLocked(Event{Kind: EventRoomsClosing, ClosingAt: deadline, Actor: act.id})
		return nil
	})
	if err != nil {
		return time.Time{}, 0, err
	}
	return deadline, v, nil
}

// CancelCloseAll cancels the pending close of all rooms (ScheduleCloseAll)
// with one EventRoomsClosingCancelled (Actor); the rooms stay open, each
// with its own timer. Needs ActionCloseBreakouts. With nothing pending (never
// scheduled, cancelled already, or the rooms closed already: a cancel that
// came too late) it fails with ErrNotFound and changes nothing.
func (h *Hub) CancelCloseAll(sessionID string, a Actor) (uint64, error) {
	return h.mutate(sessionID, "cancel close all", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionCloseBreakouts); err != nil {
			return err
		}
		if s.closingAt.IsZero() {
			return fmt.Errorf("no close of all rooms is pending: %w", ErrNotFound)
		}
		s.closingAt = time.Time{}
		s.emitLocked(Event{Kind: EventRoomsClosingCancelled, Actor: act.id})
		return nil
	})
}

// closeAllDueLocked closes every open room, with Actor "", when the pending
// close of all rooms is due at now. It reports whether it did.
func (s *session) closeAllDueLocked(now time.Time) bool {
	if s.closingAt.IsZero() || now.Before(s.closingAt) {
		return false
	}
	s.closeRoomsLocked(slices.Clone(s.rooms), "") // clears closingAt: no room is left
	return true
}
