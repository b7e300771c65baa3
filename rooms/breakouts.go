package rooms

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of breakout rooms.
const (
	MaxRoomsPerCall = 50             // the most breakout rooms one CreateBreakouts call opens
	MaxOpenRooms    = 100            // the most breakout rooms open at once in a session
	MaxRoomCapacity = 10_000         // the largest Capacity a room may have
	MaxRoomDuration = 24 * time.Hour // the longest timer a room may have
)

// roomIDChars is the number of random characters in a room id: 8 × 5 bits.
const roomIDChars = 8

// RoomSpec describes one breakout room for CreateBreakouts.
type RoomSpec struct {
	Name     string        // trimmed of spaces; "" means "Room N"; at most MaxRoomNameRunes runes
	Capacity int           // the most present participants the room holds, staff included; 0: unlimited
	Duration time.Duration // the room's timer; 0: no timer
	// Members are participant ids to move into the room as it opens, as a
	// manual Assign would (a planned room opens with its people in it).
	Members []string
}

// Room is an open breakout room, as a value: the Hub hands out copies.
type Room struct {
	// ID is "r-" followed by 8 random lowercase base32 characters, unique
	// within the session's life; never MainRoom.
	ID        string
	Name      string    // 1..MaxRoomNameRunes runes, trimmed; default "Room N", N counting every room created in the session
	Capacity  int       // the most present participants in the room; 0: unlimited
	CreatedAt time.Time // when CreateBreakouts opened it
	EndsAt    time.Time // when Tick closes it; zero: no timer
	// WarnAt is when Tick warns that the room will close:
	// max(CreatedAt, EndsAt - Options.WarnBefore); zero: no timer.
	WarnAt time.Time
	Warned bool // the warning was sent
}

// CreateBreakouts opens 1..MaxRoomsPerCall breakout rooms, one per spec, in
// order, as one change: one version and one EventBreakoutsCreated carrying
// the new rooms. With no spec naming Members nobody moves (see Assign and
// Move); with Members, the call also needs ActionAssign and moves them in
// as a manual Assign would, checked the same way (ErrNotFound,
// ErrForbidden, ErrRoomFull; a participant named twice, ErrInvalid), in
// the same call: the created event is then followed by one EventAssigned,
// and if the moves cannot all be made no room is created. Needs
// ActionCreateBreakouts. A spec with a name over MaxRoomNameRunes runes or
// not UTF-8, a Capacity outside 0..MaxRoomCapacity or a Duration outside
// 0..MaxRoomDuration makes the whole call fail with ErrInvalid, as does a
// count of specs outside 1..MaxRoomsPerCall or more than MaxOpenRooms rooms
// open after it. It returns the rooms created and the version after the
// change.
func (h *Hub) CreateBreakouts(sessionID string, a Actor, specs []RoomSpec) ([]Room, uint64, error) {
	if len(specs) == 0 || len(specs) > MaxRoomsPerCall {
		return nil, 0, fmt.Errorf("rooms: create breakouts: %d rooms, want 1..%d: %w", len(specs), MaxRoomsPerCall, ErrInvalid)
	}
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = strings.TrimSpace(sp.Name)
		if err := checkText("room name", names[i], 0, MaxRoomNameRunes); err != nil {
			return nil, 0, fmt.Errorf("rooms: create breakouts: room %d: %w", i, err)
		}
		if sp.Capacity < 0 || sp.Capacity > MaxRoomCapacity || sp.Duration < 0 || sp.Duration > MaxRoomDuration {
			return nil, 0, fmt.Errorf("rooms: create breakouts: room %d: capacity %d or duration %v outside 0..%d and 0..%v: %w",
				i, sp.Capacity, sp.Duration, MaxRoomCapacity, MaxRoomDuration, ErrInvalid)
		}
	}
	members := 0
	for _, sp := range specs {
		members += len(sp.Members)
	}
	var created []Room
	v, err := h.mutate(sessionID, "create breakouts", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionCreateBreakouts); err != nil {
			return err
		}
		if members > 0 {
			if err := Check(act.role, ActionAssign); err != nil {
				return err
			}
		}
		if len(s.rooms)+len(specs) > MaxOpenRooms {
			return fmt.Errorf("%d rooms are open, %d more would pass the limit of %d: %w",
				len(s.rooms), len(specs), MaxOpenRooms, ErrInvalid)
		}
		now := h.now()
		created = make([]Room, len(specs))
		for i, sp := range specs {
			s.stats.breakouts++
			r := &Room{ID: s.newRoomIDLocked(), Name: names[i], Capacity: sp.Capacity, CreatedAt: now}
			if r.Name == "" {
				r.Name = fmt.Sprintf("Room %d", s.stats.breakouts)
			}
			if sp.Duration > 0 {
				r.EndsAt = now.Add(sp.Duration)
				r.WarnAt = r.EndsAt.Add(-h.warnBefore)
				if r.WarnAt.Before(now) {
					r.WarnAt = now
				}
			}
			s.rooms = append(s.rooms, r)
			created[i] = *r
		}
		plan, err := s.membersPlanLocked(act, specs, created)
		if err != nil {
			// Undo the rooms: the call changes nothing.
			s.rooms = s.rooms[:len(s.rooms)-len(created)]
			s.stats.breakouts -= len(created)
			return err
		}
		s.emitLocked(Event{Kind: EventBreakoutsCreated, Rooms: slices.Clone(created), Actor: act.id})
		if len(plan) > 0 {
			s.applyPlanLocked(plan, act.id)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return created, v, nil
}

// membersPlanLocked turns the Members of specs, whose rooms are created,
// into a checked manual plan (nil when nobody is named).
func (s *session) membersPlanLocked(act actor, specs []RoomSpec, created []Room) (map[string]string, error) {
	var manual map[string]string
	for i, sp := range specs {
		for _, pid := range sp.Members {
			if manual == nil {
				manual = make(map[string]string)
			}
			if _, twice := manual[pid]; twice {
				return nil, fmt.Errorf("participant %q is named for two rooms: %w", pid, ErrInvalid)
			}
			manual[pid] = created[i].ID
		}
	}
	if manual == nil {
		return nil, nil
	}
	return s.manualPlanLocked(act, manual)
}

// SetSelfSelect turns self-selection on or off: while on, a participant may
// Move itself to MainRoom or any open breakout room (within capacity).
// Needs ActionSelfSelect. Setting the value the session has is no change:
// no event, the current version. Otherwise one EventSelfSelect.
func (h *Hub) SetSelfSelect(sessionID string, a Actor, on bool) (uint64, error) {
	return h.mutate(sessionID, "set self-select", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionSelfSelect); err != nil {
			return err
		}
		if s.selfSelect == on {
			return nil
		}
		s.selfSelect = on
		s.emitLocked(Event{Kind: EventSelfSelect, SelfSelect: on, Actor: act.id})
		return nil
	})
}

// Move puts participant target in room (MainRoom or an open breakout room)
// with one EventMoved. Its role, mute, hand and connection stay as they
// are.
//
// Who may: moving someone else needs ActionMoveOthers and a target not
// above the actor (CheckTarget). Moving oneself (target is the actor's own
// id) is a visit for host and moderator (ActionMoveSelf), and is allowed to
// a participant only while self-selection is on (checkSelfMove in
// permissions.go, the one place of that rule).
//
// Errors: ErrNotFound for an unknown target or room, ErrRoomFull when the
// room holds Capacity present participants already (visits included),
// ErrForbidden as above. Moving someone into the room it is in already is a
// success that changes nothing: no event, and the current version is
// returned.
func (h *Hub) Move(sessionID string, a Actor, target, room string) (uint64, error) {
	return h.mutate(sessionID, "move", a, func(s *session, act actor) error {
		var m *member
		if act.id != "" && target == act.id {
			if err := checkSelfMove(act.role, s.selfSelect); err != nil {
				return err
			}
			m = act.m
		} else {
			var err error
			if m, err = s.targetLocked(act, target, ActionMoveOthers); err != nil {
				return err
			}
		}
		r, err := s.destLocked(room)
		if err != nil {
			return err
		}
		if m.p.Room == room {
			return nil
		}
		if !s.fitsLocked(r, 1) {
			return fmt.Errorf("room %q holds %d: %w", room, r.Capacity, ErrRoomFull)
		}
		from := s.moveLocked(m, room)
		s.emitLocked(Event{Kind: EventMoved, Participant: m.p, FromRoom: from, Actor: act.id})
		return nil
	})
}

// CloseRoom closes the open breakout room and moves its members back to
// MainRoom, as one change: one EventRoomsClosed with the room and the moved
// records. Needs ActionCloseBreakouts. ErrNotFound for a room that is not
// open; ErrInvalid for MainRoom, which never closes.
func (h *Hub) CloseRoom(sessionID string, a Actor, room string) (uint64, error) {
	return h.mutate(sessionID, "close room", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionCloseBreakouts); err != nil {
			return err
		}
		if room == MainRoom {
			return fmt.Errorf("the main room cannot be closed: %w", ErrInvalid)
		}
		r := s.roomLocked(room)
		if r == nil {
			return fmt.Errorf("room %q: %w", room, ErrNotFound)
		}
		s.closeRoomsLocked([]*Room{r}, act.id)
		return nil
	})
}

// CloseAllRooms closes every open breakout room and brings everyone back to
// MainRoom, as one change: one EventRoomsClosed with all the rooms and all
// the moved records; a pending close of all rooms (ScheduleCloseAll) is
// thereby done. Needs ActionCloseBreakouts. With no room open it changes
// nothing: no event, the current version.
func (h *Hub) CloseAllRooms(sessionID string, a Actor) (uint64, error) {
	return h.mutate(sessionID, "close all rooms", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionCloseBreakouts); err != nil {
			return err
		}
		if len(s.rooms) > 0 {
			s.closeRoomsLocked(slices.Clone(s.rooms), act.id)
		}
		return nil
	})
}

// closeRoomsLocked closes the open rooms rs (at least one): their present
// members go to MainRoom, and one EventRoomsClosed tells it. Closing the
// last open room clears a pending close of all rooms (ScheduleCloseAll).
func (s *session) closeRoomsLocked(rs []*Room, actorID string) {
	closed := make([]Room, len(rs))
	ids := make(map[string]bool, len(rs))
	for i, r := range rs {
		closed[i] = *r
		ids[r.ID] = true
	}
	s.rooms = slices.DeleteFunc(s.rooms, func(r *Room) bool { return ids[r.ID] })
	if len(s.rooms) == 0 {
		s.closingAt = time.Time{}
	}
	var moved []Participant
	for _, m := range s.membersLocked() {
		if ids[m.p.Room] {
			s.moveLocked(m, MainRoom)
			moved = append(moved, m.p)
		}
	}
	s.emitLocked(Event{Kind: EventRoomsClosed, Rooms: closed, Moves: moved, Actor: actorID})
}

// roomLocked returns the open breakout room id, or nil.
func (s *session) roomLocked(id string) *Room {
	for _, r := range s.rooms {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// destLocked resolves a destination: nil for MainRoom, the open breakout
// room id, or an error wrapping ErrNotFound.
func (s *session) destLocked(id string) (*Room, error) {
	if id == MainRoom {
		return nil, nil
	}
	if r := s.roomLocked(id); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("room %q: %w", id, ErrNotFound)
}

// countLocked returns the number of present members in room id.
func (s *session) countLocked(id string) int {
	n := 0
	for _, m := range s.users {
		if m.present && m.p.Room == id {
			n++
		}
	}
	return n
}

// fitsLocked reports whether n more present members fit in r (nil: the
// main room, which has no capacity).
func (s *session) fitsLocked(r *Room, n int) bool {
	return r == nil || r.Capacity == 0 || s.countLocked(r.ID)+n <= r.Capacity
}

// roomsLocked returns copies of the open rooms, in creation order.
func (s *session) roomsLocked() []Room {
	out := make([]Room, len(s.rooms))
	for i, r := range s.rooms {
		out[i] = *r
	}
	return out
}

// newRoomIDLocked returns a room id never issued in this session.
func (s *session) newRoomIDLocked() string {
	for {
		if id := randomID("r-", roomIDChars); !s.roomIDs[id] {
			s.roomIDs[id] = true
			return id
		}
	}
}
