package rooms

import (
	"maps"
	"slices"
	"testing"
)

func TestAudiences(t *testing.T) {
	type member struct {
		user  string
		room  string // "" means MainRoom
		state State  // "" means joining
	}
	for _, c := range []struct {
		name    string
		members []member
		want    map[string][]string // by user id
	}{
		{
			name:    "alone hears no one",
			members: []member{{user: "a"}},
			want:    map[string][]string{"a": {}},
		},
		{
			name:    "everyone hears the others, not itself",
			members: []member{{user: "a", state: StateConnected}, {user: "b"}, {user: "c", state: StateConnected}},
			want:    map[string][]string{"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}},
		},
		{
			name: "reconnecting still hears and is heard (its media outlives its socket)",
			members: []member{
				{user: "a", state: StateConnected},
				{user: "b", state: StateReconnecting},
				{user: "c", state: StateConnected},
			},
			want: map[string][]string{"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}},
		},
		{
			name: "rooms are separate",
			members: []member{
				{user: "a", state: StateConnected},
				{user: "b", room: "r1", state: StateConnected},
				{user: "c", room: "r1"},
				{user: "d", state: StateConnected},
				{user: "e", room: "r2", state: StateConnected},
				{user: "f", room: "r1", state: StateReconnecting},
			},
			want: map[string][]string{"a": {"d"}, "d": {"a"}, "b": {"c", "f"}, "c": {"b", "f"}, "e": {}, "f": {"b", "c"}},
		},
		{
			name:    "all reconnecting",
			members: []member{{user: "a", state: StateReconnecting}, {user: "b", state: StateReconnecting}},
			want:    map[string][]string{"a": {"b"}, "b": {"a"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			idOf := map[string]string{}
			for _, m := range c.members {
				p := h.join("s", m.user, RoleParticipant).Participant
				idOf[m.user] = p.ID
				if m.room != "" {
					h.setRoom("s", p.ID, m.room)
				}
				if m.state != "" && m.state != StateJoining {
					h.setState("s", p, m.state)
				}
			}
			want := map[string][]string{}
			for u, hears := range c.want {
				ids := []string{}
				for _, v := range hears {
					ids = append(ids, idOf[v])
				}
				slices.Sort(ids)
				want[idOf[u]] = ids
			}

			v, got, err := h.hub.audiences("s")
			if err != nil {
				t.Fatal(err)
			}
			if v != h.version("s") {
				t.Errorf("version = %d, want %d", v, h.version("s"))
			}
			if !maps.EqualFunc(got, want, slices.Equal[[]string]) {
				t.Errorf("audiences = %v\nwant        %v", got, want)
			}
			for id, ids := range got {
				if ids == nil {
					t.Errorf("audience of %s is nil, want empty", id)
				}
				if !slices.IsSorted(ids) {
					t.Errorf("audience of %s not sorted: %v", id, ids)
				}
			}
		})
	}
}

// TestRoutingOwned: the caller may change the maps it got.
func TestRoutingOwned(t *testing.T) {
	h := newHarness(t)
	a := h.join("s", "a", RoleParticipant).Participant
	h.join("s", "b", RoleParticipant)
	_, rt, _ := h.hub.Routing("s")
	rt.Hear[a.ID] = "elsewhere"
	delete(rt.Speak, a.ID)
	_, again, _ := h.hub.Routing("s")
	if again.Hear[a.ID] != MainRoom || again.Speak[a.ID] != MainRoom {
		t.Fatal("the routing shares its maps with the caller")
	}
}

// audiences expands the routing of session into who hears whom, by the
// rule the SFU applies (same room, itself excepted): the sorted ids each
// listener hears. Deafened and reconnecting participants have no entry.
func (h *Hub) audiences(session string) (uint64, map[string][]string, error) {
	v, rt, err := h.Routing(session)
	if err != nil {
		return 0, nil, err
	}
	aud := make(map[string][]string, len(rt.Hear))
	for sub, room := range rt.Hear {
		ids := []string{}
		for src, r := range rt.Speak {
			if r == room && src != sub {
				ids = append(ids, src)
			}
		}
		slices.Sort(ids)
		aud[sub] = ids
	}
	return v, aud, nil
}
