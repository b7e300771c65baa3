package rooms

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// AssignMode is how Assign distributes people over rooms.
type AssignMode string

// The assignment modes. The string values are stable (wire and REST).
const (
	AssignManual   AssignMode = "manual"   // Assignment.Manual says who goes where
	AssignBalanced AssignMode = "balanced" // round-robin in join order
	AssignRandom   AssignMode = "random"   // shuffled, then round-robin
	AssignGroups   AssignMode = "groups"   // Assignment.Groups kept together, the rest balanced
)

// Assignment is one Assign request.
type Assignment struct {
	Mode AssignMode
	// Manual, for AssignManual only: participant id → room id (MainRoom
	// allowed). Must be non-empty.
	Manual map[string]string
	// Groups, for AssignGroups only: ids of present participants kept
	// together; an id may appear once. Everyone else of the pool is
	// balanced.
	Groups [][]string
	// Rooms, for the auto modes: the target breakout room ids (open, no
	// MainRoom, no duplicates); empty means every open breakout room.
	Rooms []string
	// IncludeStaff, for the auto modes: also assign hosts and moderators
	// (those not above the actor). By default they stay where they are.
	IncludeStaff bool
}

// Assign moves people between rooms as one change: one version and one
// EventAssigned listing every record that moved (after the move, in join
// order). It returns moves, participant id → new room for each participant
// whose room changed (a new map; empty when nobody moved, in which case
// nothing changed, no event is emitted and the current version is
// returned). Needs ActionAssign; roles never change.
//
// AssignManual: each entry of Manual must name a present participant
// (ErrNotFound), not above the actor (ErrForbidden), and MainRoom or an
// open breakout (ErrNotFound). If after all the moves any room would hold
// more present participants than its Capacity, nothing moves and the error
// wraps ErrRoomFull.
//
// Auto modes: the pool is the present records of role participant, plus,
// with IncludeStaff, the hosts and moderators not above the actor, in join
// order (reconnecting ones included: they keep the room when they return).
// Each is placed into the target room with the fewest members at that
// moment (ties: the first in Rooms order), which from equal rooms is
// round-robin: 12 people in 3 empty rooms make 4/4/4. AssignRandom
// shuffles the pool (math/rand/v2) first. AssignGroups first places each
// group whole into the target room with the fewest members that has room
// for all of it (unknown ids: ErrNotFound; members above the actor:
// ErrForbidden; duplicates or empty groups: ErrInvalid), then balances the
// rest. Members of a target room who are not in the pool count towards its
// size. Capacities are respected: a person or group that fits in no target
// room stays where it is, and is absent from moves; room sizes then differ
// by at most one wherever capacities allow.
func (h *Hub) Assign(sessionID string, a Actor, as Assignment) (moves map[string]string, version uint64, err error) {
	if err := as.check(); err != nil {
		return nil, 0, fmt.Errorf("rooms: assign: %w", err)
	}
	v, err := h.mutate(sessionID, "assign", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionAssign); err != nil {
			return err
		}
		var plan map[string]string
		var err error
		if as.Mode == AssignManual {
			plan, err = s.manualPlanLocked(act, as.Manual)
		} else {
			plan, err = s.autoPlanLocked(act, as)
		}
		if err != nil {
			return err
		}
		moves = s.applyPlanLocked(plan, act.id)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return moves, v, nil
}

// check validates the shape of an assignment, before any lock.
func (as Assignment) check() error {
	switch as.Mode {
	case AssignManual:
		if len(as.Manual) == 0 {
			return fmt.Errorf("manual assignment names nobody: %w", ErrInvalid)
		}
		if len(as.Groups) > 0 || len(as.Rooms) > 0 || as.IncludeStaff {
			return fmt.Errorf("manual assignment with groups, rooms or staff: %w", ErrInvalid)
		}
	case AssignBalanced, AssignRandom, AssignGroups:
		if len(as.Manual) > 0 {
			return fmt.Errorf("%s assignment with a manual map: %w", as.Mode, ErrInvalid)
		}
		if as.Mode != AssignGroups && len(as.Groups) > 0 {
			return fmt.Errorf("%s assignment with groups: %w", as.Mode, ErrInvalid)
		}
	default:
		return fmt.Errorf("assignment mode %q: %w", as.Mode, ErrInvalid)
	}
	return nil
}

// manualPlanLocked checks a manual assignment and returns it as a plan.
func (s *session) manualPlanLocked(act actor, manual map[string]string) (map[string]string, error) {
	pids := slices.Sorted(maps.Keys(manual)) // a deterministic first error
	final := make(map[string]int)            // room → present members after the moves
	for _, pid := range pids {
		m, err := s.targetLocked(act, pid, ActionAssign)
		if err != nil {
			return nil, err
		}
		room := manual[pid]
		if _, err := s.destLocked(room); err != nil {
			return nil, err
		}
		if m.p.Room == room {
			continue
		}
		for _, id := range []string{m.p.Room, room} {
			if _, ok := final[id]; !ok {
				final[id] = s.countLocked(id)
			}
		}
		final[m.p.Room]--
		final[room]++
	}
	for _, r := range s.rooms {
		if n, ok := final[r.ID]; ok && r.Capacity > 0 && n > r.Capacity {
			return nil, fmt.Errorf("room %q would hold %d, capacity %d: %w", r.ID, n, r.Capacity, ErrRoomFull)
		}
	}
	return manual, nil
}

// autoPlanLocked computes the plan of an auto mode: see Assign.
func (s *session) autoPlanLocked(act actor, as Assignment) (map[string]string, error) {
	slots, err := s.targetSlotsLocked(as.Rooms)
	if err != nil {
		return nil, err
	}
	var units []unit
	grouped := make(map[string]bool)
	for i, g := range as.Groups {
		if len(g) == 0 {
			return nil, fmt.Errorf("group %d is empty: %w", i, ErrInvalid)
		}
		u := unit{}
		for _, pid := range g {
			if grouped[pid] {
				return nil, fmt.Errorf("participant %q is in two groups: %w", pid, ErrInvalid)
			}
			grouped[pid] = true
			m, err := s.targetLocked(act, pid, ActionAssign)
			if err != nil {
				return nil, err
			}
			u.ids, u.homes = append(u.ids, pid), append(u.homes, m.p.Room)
		}
		units = append(units, u)
	}
	var singles []unit
	for _, m := range s.membersLocked() {
		staff := m.p.Role != RoleParticipant
		if grouped[m.p.ID] || (staff && (!as.IncludeStaff || rank(m.p.Role) > rank(act.role))) {
			continue
		}
		singles = append(singles, unit{ids: []string{m.p.ID}, homes: []string{m.p.Room}})
	}
	if as.Mode == AssignRandom {
		rand.Shuffle(len(singles), func(i, j int) { singles[i], singles[j] = singles[j], singles[i] })
	}
	units = append(units, singles...)

	pooled := make(map[string]bool)
	for _, u := range units {
		for _, pid := range u.ids {
			pooled[pid] = true
		}
	}
	for _, sl := range slots {
		for _, m := range s.users {
			if m.present && m.p.Room == sl.id {
				if pooled[m.p.ID] {
					sl.reserved++
				} else {
					sl.count++
				}
			}
		}
	}
	return placeUnits(slots, units), nil
}

// targetSlotsLocked resolves Assignment.Rooms into slots.
func (s *session) targetSlotsLocked(ids []string) ([]*slot, error) {
	if len(ids) == 0 {
		if len(s.rooms) == 0 {
			return nil, fmt.Errorf("no open breakout room to assign to: %w", ErrInvalid)
		}
		for _, r := range s.rooms {
			ids = append(ids, r.ID)
		}
	}
	slots := make([]*slot, 0, len(ids))
	seen := make(map[string]bool)
	for _, id := range ids {
		if id == MainRoom || seen[id] {
			return nil, fmt.Errorf("target room %q is the main room or repeated: %w", id, ErrInvalid)
		}
		seen[id] = true
		r := s.roomLocked(id)
		if r == nil {
			return nil, fmt.Errorf("room %q: %w", id, ErrNotFound)
		}
		slots = append(slots, &slot{id: id, capacity: r.Capacity})
	}
	return slots, nil
}

// applyPlanLocked moves every present participant of plan whose room
// differs, and emits one EventAssigned if anyone moved. It returns the
// moves, participant id → new room.
func (s *session) applyPlanLocked(plan map[string]string, actorID string) map[string]string {
	moves := make(map[string]string)
	var moved []Participant
	for _, m := range s.membersLocked() {
		room, ok := plan[m.p.ID]
		if !ok || room == m.p.Room {
			continue
		}
		s.moveLocked(m, room)
		moves[m.p.ID] = room
		moved = append(moved, m.p)
	}
	if len(moved) > 0 {
		s.emitLocked(Event{Kind: EventAssigned, Moves: moved, Actor: actorID})
	}
	return moves
}

// slot is a target room while an auto assignment is planned.
type slot struct {
	id       string
	capacity int // 0: unlimited
	count    int // members fixed there: not in the pool, or placed there
	reserved int // pool members who are there now and not placed yet
}

// unit is what is placed in one piece: one person, or one group.
type unit struct {
	ids   []string
	homes []string // the room each is in now
}

// placeUnits places units in order, each into the slot with the lowest
// count that has room for the whole unit (ties: slot order), and returns
// participant id → slot id for everyone placed.
//
// Capacity: every pool member now in a slot holds a reserved seat there
// until it is placed, so count+reserved never exceeds capacity. A unit that
// fits nowhere stays where it is: its reserved seats become fixed members.
// A single person now in a target room always fits (at least its own seat),
// so only people outside the target rooms, or groups, can be left over.
func placeUnits(slots []*slot, units []unit) map[string]string {
	byID := make(map[string]*slot, len(slots))
	for _, sl := range slots {
		byID[sl.id] = sl
	}
	plan := make(map[string]string)
	for _, u := range units {
		own := make(map[*slot]int)
		for _, home := range u.homes {
			if sl := byID[home]; sl != nil {
				own[sl]++
			}
		}
		var best *slot
		for _, sl := range slots {
			fits := sl.capacity == 0 || sl.capacity-sl.count-sl.reserved+own[sl] >= len(u.ids)
			if fits && (best == nil || sl.count < best.count) {
				best = sl
			}
		}
		for sl, n := range own {
			sl.reserved -= n
			if best == nil {
				sl.count += n // stays
			}
		}
		if best == nil {
			continue
		}
		best.count += len(u.ids)
		for _, pid := range u.ids {
			plan[pid] = best.id
		}
	}
	return plan
}
