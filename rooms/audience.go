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
		e := m.route()
		if e.Hears {
			rt.Hear[m.p.ID] = e.Hear
		}
		if e.Speaks {
			rt.Speak[m.p.ID] = e.Speak
		}
	}
	return rt
}

// RouteChange is one participant's entries in Routing, as RoutingChanges
// reports them: the room it hears when Hears (it is in Routing.Hear), the
// room it is heard in when Speaks (in Routing.Speak). Neither: it is in
// neither map.
type RouteChange struct {
	ID     string // participant id
	Hear   string // "" unless Hears
	Speak  string // "" unless Speaks
	Hears  bool
	Speaks bool
}

// route returns m's entries in Routing: the one place of the rule.
func (m *member) route() RouteChange {
	e := RouteChange{ID: m.p.ID}
	if !m.present {
		return e
	}
	if !m.p.Deafened {
		e.Hear, e.Hears = m.p.Room, true
	}
	if !m.p.Muted {
		e.Speak, e.Speaks = m.p.Room, true
	}
	return e
}

// RoutingCursor is where a reader of RoutingChanges stands: the routing it
// read, as of one version of one session's state. The zero cursor has read
// nothing. A cursor is meaningful only to the Hub that returned it.
type RoutingCursor struct {
	epoch   *routingEpoch
	version uint64
}

// Version is the session version the cursor's routing was read at.
func (c RoutingCursor) Version() uint64 { return c.version }

// routingEpoch identifies one lineage of a session's routing scans: a new
// one begins when the session is created anew or its state replaced by the
// Store's, whose records know nothing of earlier scans. Only its address
// matters; it has a size so that two epochs never share one.
type routingEpoch struct{ _ byte }

// RoutingChanges tells a reader what changed in session's Routing since it
// read it at cursor since, and returns the cursor of what it has now read.
//
// When since is the zero cursor, or comes from another incarnation of the
// session or from before its state was replaced by the Store's, full is true
// and changes holds every participant that is in Routing: the reader starts
// over from them. Otherwise full is false and changes holds every
// participant whose entries may differ from those at since (one whose
// entries changed and changed back may be among them), with its entries now;
// a participant in neither map now has Hears and Speaks false.
//
// It costs nothing when the session's version is since's, and otherwise one
// pass over the session's records, building no map: much less than Routing
// in a large session, and the reader applies only the changes. ErrNotFound
// for an unknown session.
func (h *Hub) RoutingChanges(session string, since RoutingCursor) (next RoutingCursor, changes []RouteChange, full bool, err error) {
	s, err := h.lockSession(session)
	if err != nil {
		return RoutingCursor{}, nil, false, fmt.Errorf("rooms: routing changes: %w", err)
	}
	defer s.mu.Unlock()
	next, changes, full = s.routingChangesLocked(since)
	return next, changes, full, nil
}

// routingChangesLocked is RoutingChanges. Each member keeps the entries the
// last pass saw and the version of the pass that saw them change; every
// reader's cursor is the version of some pass (or of no change since one),
// so a member whose entries changed since a cursor was stamped after it.
func (s *session) routingChangesLocked(since RoutingCursor) (RoutingCursor, []RouteChange, bool) {
	next := RoutingCursor{epoch: s.routeEpoch, version: s.version}
	full := since.epoch != s.routeEpoch || since.version > s.version
	if !full && since.version == s.version {
		return next, nil, false // no change since: the same version is the same state
	}
	var changes []RouteChange
	for _, m := range s.users {
		e := m.route()
		if e != m.routed {
			m.routed, m.routedAt = e, s.version
		}
		if full && (e.Hears || e.Speaks) || !full && m.routedAt > since.version {
			changes = append(changes, e)
		}
	}
	return next, changes, full
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
