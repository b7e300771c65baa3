package rooms

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var idPattern = regexp.MustCompile(`^p-[a-z2-7]{12}$`)

func TestJoinCreatesRecord(t *testing.T) {
	h := newHarness(t)
	res := h.join("s", "u1", RoleHost)
	p := res.Participant
	if !idPattern.MatchString(p.ID) {
		t.Errorf("ID %q does not match %s", p.ID, idPattern)
	}
	want := Participant{ID: p.ID, UserID: "u1", Alias: "alias-u1", Role: RoleHost, Room: MainRoom,
		State: StateJoining, Epoch: 1, JoinedAt: t0.Add(2 * time.Second)} // tick 1: session created
	if p != want {
		t.Errorf("participant = %+v\nwant          %+v", p, want)
	}
	if res.Replaced || res.PrevEpoch != 0 {
		t.Errorf("Replaced, PrevEpoch = %v, %d; want false, 0", res.Replaced, res.PrevEpoch)
	}
	wantSnap := Snapshot{Session: "s", Version: 1, Created: t0.Add(time.Second), Participants: []Participant{want}}
	if !snapEqual(res.Snapshot, wantSnap) {
		t.Errorf("snapshot = %+v\nwant       %+v", res.Snapshot, wantSnap)
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: 1, Kind: EventJoined, Participant: want}) {
		t.Errorf("event = %+v", e)
	}
	if h.hub.Sessions() != 1 || h.hub.Participants() != 1 {
		t.Errorf("Sessions, Participants = %d, %d; want 1, 1", h.hub.Sessions(), h.hub.Participants())
	}
}

func TestJoinInvalid(t *testing.T) {
	long := strings.Repeat("x", MaxIDBytes+1)
	for _, c := range []struct {
		name, session, user string
	}{
		{"empty session", "", "u"},
		{"empty user", "s", ""},
		{"long session", long, "u"},
		{"long user", "s", long},
		{"bad utf8 user", "s", "\xff"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.hub.Join(c.session, Identity{UserID: c.user})
			wantErr(t, err, ErrInvalid)
			if h.hub.Sessions() != 0 || len(h.Events()) != 0 {
				t.Error("an invalid join changed the hub")
			}
		})
	}
}

// TestTakeover: a second join of the same user keeps ID, role, room, join
// time and position; bumps the epoch; resets the state; replaces the alias.
func TestTakeover(t *testing.T) {
	h := newHarness(t)
	h.join("s", "other", RoleParticipant)
	first := h.join("s", "u1", RoleModerator).Participant
	h.setState("s", first, StateConnected)
	h.setRoom("s", first.ID, "breakout-1")
	v := h.version("s")

	res, err := h.hub.Join("s", Identity{UserID: "u1", Alias: "new alias", Role: RoleParticipant})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Participant
	want := first
	want.Alias, want.Room, want.State, want.Epoch = "new alias", "breakout-1", StateJoining, 2
	if p != want {
		t.Errorf("after takeover = %+v\nwant            %+v", p, want)
	}
	if !res.Replaced || res.PrevEpoch != 1 {
		t.Errorf("Replaced, PrevEpoch = %v, %d; want true, 1", res.Replaced, res.PrevEpoch)
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventUpdated, Participant: want, Change: ChangeTakeover}) {
		t.Errorf("event = %+v", e)
	}
	if n := len(res.Snapshot.Participants); n != 2 || res.Snapshot.Participants[1] != want || res.Snapshot.Version != v+1 {
		t.Errorf("snapshot = %+v", res.Snapshot)
	}
	if h.hub.Participants() != 2 {
		t.Errorf("Participants() = %d, want 2", h.hub.Participants())
	}

	// An empty alias on takeover keeps the one the record has.
	res = h.join("s", "u1", RoleParticipant)
	res2, _ := h.hub.Join("s", Identity{UserID: "u1"})
	if res2.Participant.Alias != res.Participant.Alias || res2.Participant.Epoch != 4 || res2.PrevEpoch != 3 {
		t.Errorf("second takeover = %+v", res2)
	}
}

// TestStaleEpoch: calls from a replaced connection change nothing.
func TestStaleEpoch(t *testing.T) {
	h := newHarness(t)
	old := h.join("s", "u1", RoleParticipant).Participant
	cur := h.join("s", "u1", RoleParticipant).Participant
	v, n := h.version("s"), len(h.Events())

	for _, epoch := range []uint64{0, old.Epoch, cur.Epoch + 1} {
		wantErr(t, h.hub.SetState("s", old.ID, epoch, StateConnected), ErrStale)
		wantErr(t, h.hub.Leave("s", old.ID, epoch), ErrStale)
	}
	if h.version("s") != v || len(h.Events()) != n {
		t.Fatal("a stale call changed the session")
	}
	got, err := h.hub.Participant("s", cur.ID)
	if err != nil || got != cur {
		t.Fatalf("Participant = %+v, %v; want %+v", got, err, cur)
	}
	// The current connection still works.
	h.setState("s", cur, StateConnected)
	if err := h.hub.Leave("s", cur.ID, cur.Epoch); err != nil {
		t.Fatal(err)
	}
}

func TestSetState(t *testing.T) {
	h := newHarness(t)
	p := h.join("s", "u1", RoleParticipant).Participant

	for _, st := range []State{StateConnected, StateReconnecting, StateConnected} {
		v := h.version("s")
		h.setState("s", p, st)
		want := p
		want.State = st
		if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: v + 1, Kind: EventUpdated, Participant: want, Change: ChangeState}) {
			t.Errorf("event = %+v", e)
		}
	}
	// Unchanged: no event, no version.
	v, n := h.version("s"), len(h.Events())
	h.setState("s", p, StateConnected)
	if h.version("s") != v || len(h.Events()) != n {
		t.Error("setting the same state was a change")
	}

	wantErr(t, h.hub.SetState("s", p.ID, p.Epoch, "gone"), ErrInvalid)
	wantErr(t, h.hub.SetState("s", p.ID, p.Epoch, ""), ErrInvalid)
	wantErr(t, h.hub.SetState("s", "p-nobody", 1, StateConnected), ErrNotFound)
	wantErr(t, h.hub.SetState("nope", p.ID, p.Epoch, StateConnected), ErrNotFound)
}

func TestLeave(t *testing.T) {
	h := newHarness(t)
	a := h.join("s", "a", RoleHost).Participant
	b := h.join("s", "b", RoleParticipant).Participant
	h.setState("s", b, StateConnected)
	b.State = StateConnected

	if err := h.hub.Leave("s", b.ID, b.Epoch); err != nil {
		t.Fatal(err)
	}
	if e := h.Last(); !reflect.DeepEqual(e, Event{Session: "s", Version: 4, Kind: EventLeft, Participant: b}) {
		t.Errorf("left event = %+v", e)
	}
	wantErr(t, h.hub.Leave("s", b.ID, b.Epoch), ErrNotFound)
	_, err := h.hub.Participant("s", b.ID)
	wantErr(t, err, ErrNotFound)
	if h.hub.Participants() != 1 {
		t.Errorf("Participants() = %d, want 1", h.hub.Participants())
	}

	// A rejoin gets the same ID, a later epoch, a new join time, the end of
	// the join order, and the main room; the old epoch stays stale.
	rb := h.join("s", "b", RoleParticipant).Participant
	if rb.ID != b.ID || rb.Epoch != b.Epoch+1 || rb.State != StateJoining || !rb.JoinedAt.After(b.JoinedAt) {
		t.Errorf("rejoin = %+v, was %+v", rb, b)
	}
	if e := h.Last(); e.Kind != EventJoined || e.Version != 5 {
		t.Errorf("rejoin event = %+v", e)
	}
	wantErr(t, h.hub.SetState("s", b.ID, b.Epoch, StateConnected), ErrStale)

	// The last leave leaves the session idle, not deleted: it keeps its
	// version, until Tick finds it idle for IdleTTL.
	for _, p := range []Participant{a, rb} {
		if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	if h.hub.Sessions() != 1 || h.hub.Participants() != 0 {
		t.Errorf("Sessions, Participants = %d, %d; want 1, 0", h.hub.Sessions(), h.hub.Participants())
	}
	snap, err := h.hub.Snapshot("s")
	if err != nil || snap.Version != 7 || len(snap.Participants) != 0 {
		t.Errorf("idle snapshot = %+v, %v", snap, err)
	}
	_, aud, err := h.hub.audiences("s")
	if err != nil || len(aud) != 0 {
		t.Errorf("idle audiences = %v, %v", aud, err)
	}
	if changed := h.hub.Tick(h.now().Add(DefaultIdleTTL - 2*time.Second)); len(changed) != 0 {
		t.Errorf("Tick before IdleTTL changed %v", changed)
	}
	if changed := h.hub.Tick(h.now().Add(DefaultIdleTTL)); !slices.Equal(changed, []string{"s"}) {
		t.Errorf("Tick after IdleTTL changed %v, want [s]", changed)
	}
	if h.hub.Sessions() != 0 {
		t.Errorf("Sessions = %d after expiry, want 0", h.hub.Sessions())
	}
	_, err = h.hub.Snapshot("s")
	wantErr(t, err, ErrNotFound)
	wantErr(t, h.hub.Leave("s", a.ID, a.Epoch), ErrNotFound)
	_, _, err = h.hub.audiences("s")
	wantErr(t, err, ErrNotFound)
}

// TestSessionRecreated: a session created again after being deleted is a
// new incarnation: version from 0, new Created, new ids, no host user.
func TestSessionRecreated(t *testing.T) {
	h := newHarness(t)
	first := h.join("s", "u", RoleHost)
	if err := h.hub.Leave("s", first.Participant.ID, first.Participant.Epoch); err != nil {
		t.Fatal(err)
	}
	h.expire()
	again := h.join("s", "u", RoleHost)
	if again.Snapshot.Version != 1 || !again.Snapshot.Created.After(first.Snapshot.Created) {
		t.Errorf("recreated snapshot = %+v", again.Snapshot)
	}
	if again.Participant.ID == first.Participant.ID || again.Participant.Epoch != 1 || again.Replaced {
		t.Errorf("recreated participant = %+v", again)
	}
	wantErr(t, h.hub.Leave("s", first.Participant.ID, first.Participant.Epoch), ErrNotFound)
}

// TestSnapshotJoinOrder: join order survives takeovers; a rejoin goes last.
func TestSnapshotJoinOrder(t *testing.T) {
	h := newHarness(t)
	for _, u := range []string{"a", "b", "c", "d"} {
		h.join("s", u, RoleParticipant)
	}
	h.join("s", "b", RoleParticipant) // takeover
	a, _ := h.hub.Snapshot("s")
	p := a.Participants[0]
	if err := h.hub.Leave("s", p.ID, p.Epoch); err != nil {
		t.Fatal(err)
	}
	h.join("s", "a", RoleParticipant)

	snap, err := h.hub.Snapshot("s")
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, p := range snap.Participants {
		users = append(users, p.UserID)
	}
	if want := []string{"b", "c", "d", "a"}; !slices.Equal(users, want) {
		t.Errorf("order = %v, want %v", users, want)
	}
	if snap.Version != 7 {
		t.Errorf("version = %d, want 7", snap.Version)
	}
}

// TestCopies: values handed out are copies.
func TestCopies(t *testing.T) {
	h := newHarness(t)
	res := h.join("s", "a", RoleParticipant)
	res.Snapshot.Participants[0].Room = "elsewhere"
	snap, _ := h.hub.Snapshot("s")
	snap.Participants[0].Alias = "changed"
	got, _ := h.hub.Participant("s", res.Participant.ID)
	if got != res.Participant {
		t.Errorf("record changed through a copy: %+v", got)
	}
}

func TestUnknownLookups(t *testing.T) {
	h := newHarness(t)
	_, err := h.hub.Snapshot("nope")
	wantErr(t, err, ErrNotFound)
	_, err = h.hub.Participant("nope", "p-x")
	wantErr(t, err, ErrNotFound)
	h.join("s", "a", RoleParticipant)
	_, err = h.hub.Participant("s", "p-x")
	wantErr(t, err, ErrNotFound)
	wantErr(t, h.hub.Leave("nope", "p-x", 1), ErrNotFound)
}

// TestNilOptions: the zero Options work (no OnEvent, real clock).
func TestNilOptions(t *testing.T) {
	hub := newTestHub(Options{})
	res, err := hub.Join("s", Identity{UserID: "u"})
	if err != nil || res.Participant.JoinedAt.IsZero() || res.Participant.Role != RoleParticipant {
		t.Fatalf("Join = %+v, %v", res, err)
	}
}

func snapEqual(a, b Snapshot) bool {
	return a.Session == b.Session && a.Version == b.Version && a.Created.Equal(b.Created) &&
		slices.Equal(a.Participants, b.Participants)
}
