package rooms

// SetHand raises (up) or lowers the hand of participant target, with one
// EventUpdated and Change "hand". Raising sets HandRaised and gives the
// next HandSeq of the session, so Snapshot.Hands lists raised hands in the
// order raised; lowering clears both.
//
// Who may: a participant raises or lowers its own hand (target is the
// actor's id; ActionRaiseHand). Lowering someone else's hand needs
// ActionLowerHands and a target not above the actor; nobody raises someone
// else's hand (ErrForbidden naming ActionRaiseHand). Setting the state the
// hand is in is no change: no event, the current version (a raised hand
// keeps its place). ErrNotFound for an unknown target.
func (h *Hub) SetHand(sessionID string, a Actor, target string, up bool) (uint64, error) {
	return h.mutate(sessionID, "set hand", a, func(s *session, act actor) error {
		self := act.id != "" && target == act.id
		action, err := handAction(self, up)
		if err != nil {
			return err
		}
		m := act.m
		if self {
			err = Check(act.role, action)
		} else {
			m, err = s.targetLocked(act, target, action)
		}
		if err != nil {
			return err
		}
		if m.p.HandRaised == up {
			return nil
		}
		m.p.HandRaised, m.p.HandSeq = up, 0
		if up {
			s.handSeq++
			m.p.HandSeq = s.handSeq
		}
		s.updatedLocked(m.p, ChangeHand, act.id)
		return nil
	})
}
