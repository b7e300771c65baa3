package rooms

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestPermissionTable pins the whole table: every action × every role,
// written out. A change in permissions.go must be made here too.
func TestPermissionTable(t *testing.T) {
	want := []struct {
		action                       Action
		name                         string
		host, moderator, participant bool
	}{
		{ActionCreateBreakouts, "breakouts.create", true, true, false},
		{ActionCloseBreakouts, "breakouts.close", true, true, false},
		{ActionAssign, "breakouts.assign", true, true, false},
		{ActionMoveOthers, "participant.move", true, true, false},
		{ActionMuteOthers, "participant.mute", true, true, false},
		{ActionRemove, "participant.remove", true, true, false},
		{ActionBroadcast, "broadcast", true, true, false},
		{ActionPromote, "participant.promote", true, false, false},
		{ActionEndSession, "session.end", true, false, false},
		{ActionMoveSelf, "self.move", true, true, false},
		{ActionRaiseHand, "hand.raise", true, true, true},
		{ActionSelfSelect, "breakouts.selfselect", true, true, false},
		{ActionLowerHands, "hand.lower_others", true, true, false},
		{ActionDeafen, "self.deafen", true, true, true},
		{ActionAlert, "alert.raise", true, true, true},
		{ActionReact, "react", true, true, true},
		{ActionReceiveAlerts, "alert.receive", true, true, false},
		{ActionRequestUnmute, "participant.unmute_request", true, true, false},
		{ActionChat, "chat.send", true, true, true},
		{ActionChatStaff, "chat.staff", true, true, false},
		{ActionChatDelete, "chat.delete", true, true, false},
		{ActionViewStats, "session.stats", true, true, false},
	}

	var listed []Action
	for _, w := range want {
		listed = append(listed, w.action)
		if string(w.action) != w.name {
			t.Errorf("action constant %q, want value %q", w.action, w.name)
		}
		for _, c := range []struct {
			role Role
			ok   bool
		}{{RoleHost, w.host}, {RoleModerator, w.moderator}, {RoleParticipant, w.participant}} {
			if got := Allowed(c.role, w.action); got != c.ok {
				t.Errorf("Allowed(%s, %s) = %v, want %v", c.role, w.action, got, c.ok)
			}
			err := Check(c.role, w.action)
			if c.ok {
				if err != nil {
					t.Errorf("Check(%s, %s) = %v, want nil", c.role, w.action, err)
				}
				continue
			}
			if !errors.Is(err, ErrForbidden) {
				t.Errorf("Check(%s, %s) = %v, want ErrForbidden", c.role, w.action, err)
			} else if msg := err.Error(); !strings.Contains(msg, string(w.action)) || !strings.Contains(msg, string(c.role)) {
				t.Errorf("Check(%s, %s) message %q does not name the action and the role", c.role, w.action, msg)
			}
		}
	}
	if got := Actions(); !slices.Equal(got, listed) {
		t.Errorf("Actions() = %v\nwant        %v", got, listed)
	}
}

// TestPermissionUnknown: an unknown role or action is never allowed.
func TestPermissionUnknown(t *testing.T) {
	for _, r := range []Role{"", "none", "admin", "HOST"} {
		for _, a := range Actions() {
			if Allowed(r, a) {
				t.Errorf("Allowed(%q, %s) = true for an unknown role", r, a)
			}
			wantErr(t, Check(r, a), ErrForbidden)
		}
	}
	for _, r := range []Role{RoleHost, RoleModerator, RoleParticipant} {
		if Allowed(r, "session.nuke") {
			t.Errorf("Allowed(%s, unknown action) = true", r)
		}
	}
}

// TestActionsIsACopy: changing the slice Actions returns changes nothing.
func TestActionsIsACopy(t *testing.T) {
	a := Actions()
	a[0] = "mutated"
	if Actions()[0] == "mutated" {
		t.Fatal("Actions returned the table's own storage")
	}
}

// TestCheckTarget pins the hierarchy: every targeted action × actor role ×
// target role, written out.
func TestCheckTarget(t *testing.T) {
	const (
		H = RoleHost
		M = RoleModerator
		P = RoleParticipant
	)
	type row struct {
		action Action
		// ok[actor][target] for actor, target in host, moderator, participant
		ok [3][3]bool
	}
	roles := [3]Role{H, M, P}
	for _, r := range []row{
		{ActionMoveOthers, [3][3]bool{{true, true, true}, {false, true, true}, {false, false, false}}},
		{ActionAssign, [3][3]bool{{true, true, true}, {false, true, true}, {false, false, false}}},
		{ActionMuteOthers, [3][3]bool{{true, true, true}, {false, true, true}, {false, false, false}}},
		{ActionRemove, [3][3]bool{{false, true, true}, {false, true, true}, {false, false, false}}},
		{ActionPromote, [3][3]bool{{false, true, true}, {false, false, false}, {false, false, false}}},
		{ActionLowerHands, [3][3]bool{{true, true, true}, {false, true, true}, {false, false, false}}},
	} {
		for i, actor := range roles {
			for j, target := range roles {
				err := CheckTarget(actor, target, r.action)
				if r.ok[i][j] {
					if err != nil {
						t.Errorf("CheckTarget(%s, %s, %s) = %v, want nil", actor, target, r.action, err)
					}
					continue
				}
				if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), string(r.action)) {
					t.Errorf("CheckTarget(%s, %s, %s) = %v, want ErrForbidden naming the action", actor, target, r.action, err)
				}
			}
		}
	}
}

// TestSelfMoveAndHandRules pins the two rules kept beside the table.
func TestSelfMoveAndHandRules(t *testing.T) {
	for _, c := range []struct {
		role       Role
		selfSelect bool
		ok         bool
	}{
		{RoleHost, false, true}, {RoleModerator, false, true}, {RoleParticipant, false, false},
		{RoleHost, true, true}, {RoleModerator, true, true}, {RoleParticipant, true, true},
		{"", true, false}, {"none", false, false},
	} {
		err := checkSelfMove(c.role, c.selfSelect)
		if (err == nil) != c.ok || (err != nil && (!errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), string(ActionMoveSelf)))) {
			t.Errorf("checkSelfMove(%q, %v) = %v, want ok %v", c.role, c.selfSelect, err, c.ok)
		}
	}
	for _, c := range []struct {
		self, up bool
		want     Action
	}{
		{true, true, ActionRaiseHand}, {true, false, ActionRaiseHand}, {false, false, ActionLowerHands}, {false, true, ""},
	} {
		got, err := handAction(c.self, c.up)
		if got != c.want || (c.want == "") != errors.Is(err, ErrForbidden) {
			t.Errorf("handAction(%v, %v) = %q, %v; want %q", c.self, c.up, got, err, c.want)
		}
	}
}
