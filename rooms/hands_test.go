package rooms

import (
	"slices"
	"testing"
)

func TestHands(t *testing.T) {
	h := newHarness(t)
	hp, ps := h.crowd(3)
	mod := h.join("s", "mod", RoleModerator).Participant
	a, b, c := ps[0], ps[1], ps[2]
	hands := func() []string { return ok(h.hub.Snapshot("s"))(t).Hands }

	for _, p := range []Participant{b, a, c} {
		ok(h.hub.SetHand("s", actorOf(p), p.ID, true))(t)
		e := h.Last()
		if e.Kind != EventUpdated || e.Change != ChangeHand || e.Actor != p.ID || !e.Participant.HandRaised || e.Participant.HandSeq == 0 {
			t.Fatalf("raise event = %+v", e)
		}
	}
	if got := hands(); !slices.Equal(got, []string{b.ID, a.ID, c.ID}) {
		t.Errorf("hands = %v, want b, a, c", got)
	}
	// Raising again keeps the place: no change.
	v := h.version("s")
	if got := ok(h.hub.SetHand("s", actorOf(b), b.ID, true))(t); got != v {
		t.Error("raising a raised hand was a change")
	}
	// Lowering one's own; raising again goes to the back.
	ok(h.hub.SetHand("s", actorOf(b), b.ID, false))(t)
	if p := h.Last().Participant; p.HandRaised || p.HandSeq != 0 {
		t.Errorf("lowered: %+v", p)
	}
	ok(h.hub.SetHand("s", actorOf(b), b.ID, true))(t)
	if got := hands(); !slices.Equal(got, []string{a.ID, c.ID, b.ID}) {
		t.Errorf("hands = %v, want a, c, b", got)
	}
	// A takeover keeps the hand; a leave drops it.
	h.join("s", a.UserID, RoleParticipant)
	if got := hands(); !slices.Equal(got, []string{a.ID, c.ID, b.ID}) {
		t.Errorf("after takeover hands = %v", got)
	}
	cur := h.mustByUser("s", c.UserID)
	if err := h.hub.Leave("s", cur.ID, cur.Epoch); err != nil {
		t.Fatal(err)
	}
	if p := h.join("s", c.UserID, RoleParticipant).Participant; p.HandRaised || p.HandSeq != 0 {
		t.Errorf("rejoined with a hand: %+v", p)
	}

	// Others' hands: staff lower them, nobody raises them.
	_, err := h.hub.SetHand("s", actorOf(c), a.ID, false)
	wantForbidden(t, err, ActionLowerHands)
	_, err = h.hub.SetHand("s", actorOf(hp), c.ID, true)
	wantForbidden(t, err, ActionRaiseHand)
	_, err = h.hub.SetHand("s", Actor{Role: RoleHost}, c.ID, true)
	wantForbidden(t, err, ActionRaiseHand)
	ok(h.hub.SetHand("s", actorOf(mod), a.ID, false))(t)
	if e := h.Last(); e.Actor != mod.ID || e.Participant.ID != a.ID || e.Participant.HandRaised {
		t.Errorf("lowered by moderator: %+v", e)
	}
	ok(h.hub.SetHand("s", Actor{Role: RoleModerator}, b.ID, false))(t)
	if got := hands(); len(got) != 0 {
		t.Errorf("hands = %v, want none", got)
	}
	_, err = h.hub.SetHand("s", actorOf(hp), "p-nobody", false)
	wantErr(t, err, ErrNotFound)
}
