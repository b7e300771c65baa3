package rooms

import "testing"

func TestParseRole(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Role
	}{
		{"host", RoleHost},
		{"moderator", RoleModerator},
		{"participant", RoleParticipant},
		{"", RoleParticipant},
		{"none", RoleParticipant},
		{"Host", RoleParticipant},
		{"HOST", RoleParticipant},
		{" host", RoleParticipant},
		{"admin", RoleParticipant},
	} {
		if got := ParseRole(c.in); got != c.want {
			t.Errorf("ParseRole(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRoleValid(t *testing.T) {
	for r, want := range map[Role]bool{RoleHost: true, RoleModerator: true, RoleParticipant: true, "": false, "none": false, "Host": false} {
		if r.Valid() != want {
			t.Errorf("Role(%q).Valid() = %v, want %v", r, !want, want)
		}
	}
}

func TestAssignRole(t *testing.T) {
	for _, c := range []struct {
		name            string
		host, user      string
		claimed         Role
		want            Role
		wantBecomesHost bool
	}{
		{"first host claim", "", "u1", RoleHost, RoleHost, true},
		{"second host claim", "u1", "u2", RoleHost, RoleModerator, false},
		{"host user claims host", "u1", "u1", RoleHost, RoleHost, false},
		{"host user claims participant", "u1", "u1", RoleParticipant, RoleHost, false},
		{"host user claims nothing", "u1", "u1", "", RoleHost, false},
		{"moderator without host", "", "u2", RoleModerator, RoleModerator, false},
		{"moderator with host", "u1", "u2", RoleModerator, RoleModerator, false},
		{"participant", "u1", "u2", RoleParticipant, RoleParticipant, false},
		{"empty claim", "", "u2", "", RoleParticipant, false},
		{"unknown claim", "", "u2", "admin", RoleParticipant, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, becomes := assignRole(c.host, c.user, c.claimed)
			if got != c.want || becomes != c.wantBecomesHost {
				t.Errorf("assignRole(%q, %q, %q) = %q, %v; want %q, %v",
					c.host, c.user, c.claimed, got, becomes, c.want, c.wantBecomesHost)
			}
		})
	}
}

// TestJoinRoles runs the role rules through the Hub, join by join.
func TestJoinRoles(t *testing.T) {
	type step struct {
		user   string
		claim  Role
		leave  bool // leave instead of join
		expire bool // let Tick delete the idle session instead of join
		want   Role // after a join
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"host first", []step{
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "p", claim: RoleParticipant, want: RoleParticipant},
			{user: "m", claim: RoleModerator, want: RoleModerator},
		}},
		{"second host token is moderator", []step{
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "h2", claim: RoleHost, want: RoleModerator},
		}},
		{"host arrives after others", []step{
			{user: "p", claim: RoleParticipant, want: RoleParticipant},
			{user: "m", claim: RoleModerator, want: RoleModerator},
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "h2", claim: RoleHost, want: RoleModerator},
		}},
		{"host keeps host on takeover", []step{
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "h", claim: RoleParticipant, want: RoleHost},
		}},
		{"host keeps host on rejoin", []step{
			{user: "p", claim: RoleParticipant, want: RoleParticipant},
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "h", leave: true},
			{user: "h2", claim: RoleHost, want: RoleModerator},
			{user: "h", claim: "", want: RoleHost},
		}},
		{"takeover keeps role despite new claim", []step{
			{user: "p", claim: RoleParticipant, want: RoleParticipant},
			{user: "p", claim: RoleModerator, want: RoleParticipant},
		}},
		{"idle session remembers host user", []step{
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "h", leave: true}, // session idle, not deleted
			{user: "h2", claim: RoleHost, want: RoleModerator},
			{user: "h", claim: RoleParticipant, want: RoleHost},
		}},
		{"never empty", []step{
			{user: "a", claim: "", want: RoleParticipant},
			{user: "b", claim: "none", want: RoleParticipant},
		}},
		{"new session forgets host user", []step{
			{user: "h", claim: RoleHost, want: RoleHost},
			{user: "h", leave: true}, // session idle
			{expire: true},           // and deleted
			{user: "h2", claim: RoleHost, want: RoleHost},
			{user: "h", claim: RoleHost, want: RoleModerator},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			live := map[string]Participant{}
			for i, s := range c.steps {
				if s.expire {
					h.expire()
					continue
				}
				if s.leave {
					p := live[s.user]
					if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					delete(live, s.user)
					continue
				}
				res := h.join("s", s.user, s.claim)
				live[s.user] = res.Participant
				if res.Participant.Role != s.want {
					t.Errorf("step %d: %s claiming %q got role %q, want %q", i, s.user, s.claim, res.Participant.Role, s.want)
				}
			}
		})
	}
}
