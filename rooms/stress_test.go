package rooms

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressUsers are the users of TestStress: the host user, two moderators,
// twelve participants. Joins claim these roles.
var stressUsers = func() map[string]Role {
	m := map[string]Role{"host": RoleHost, "m0": RoleModerator, "m1": RoleModerator}
	for i := range 12 {
		m[fmt.Sprint("u", i)] = RoleParticipant
	}
	return m
}()

// TestStress races host operations (create, assign, move, close, mute, role
// changes, removals, self-select, hands) against joins, leaves, takeovers
// of the same users, state changes, self-moves and Tick, for a few thousand
// operations, on one session. Readers check every snapshot they get while
// it runs; afterwards the whole event stream is replayed and checked.
func TestStress(t *testing.T) {
	const (
		staffWorkers  = 3
		memberWorkers = 4
		loops         = 500
	)
	var (
		clock  atomic.Int64 // nanoseconds after t0, advanced by the ticker only
		mu     sync.Mutex
		events []Event
	)
	now := func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	hub := newTestHub(Options{
		OnEvent:    func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
		Now:        now,
		WarnBefore: time.Second,
		IdleTTL:    time.Hour, // one incarnation
	})
	if _, err := hub.Join("s", Identity{UserID: "host", Role: RoleHost}); err != nil {
		t.Fatal(err)
	}
	users := slices.Sorted(maps.Keys(stressUsers))
	expected := func(err error) bool {
		for _, e := range []error{ErrNotFound, ErrForbidden, ErrRoomFull, ErrRemoved, ErrStale, ErrInvalid} {
			if errors.Is(err, e) {
				return true
			}
		}
		return err == nil
	}
	var wg sync.WaitGroup
	var ops atomic.Int64
	report := func(what string, err error) {
		ops.Add(1)
		if !expected(err) {
			t.Errorf("%s: unexpected error %v", what, err)
		}
	}

	for w := range staffWorkers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range loops {
				snap, err := hub.Snapshot("s")
				if err != nil {
					t.Error(err)
					return
				}
				staffOp(hub, r, snap, report)
			}
		})
	}
	for w := range memberWorkers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for range loops {
				memberOp(hub, r, users, report)
			}
		})
	}
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // the clock and Tick
		for {
			select {
			case <-done:
				return
			default:
			}
			clock.Add(int64(200 * time.Millisecond))
			hub.Tick(now())
			ops.Add(1)
		}
	})
	bg.Go(func() { // a reader checking live snapshots and audiences
		for {
			select {
			case <-done:
				return
			default:
			}
			snap, err := hub.Snapshot("s")
			if err != nil {
				t.Error(err)
				return
			}
			if msg := checkSnapshot(snap); msg != "" {
				t.Errorf("live snapshot at version %d: %s", snap.Version, msg)
			}
			v, aud, err := hub.audiences("s")
			if err == nil && v == snap.Version {
				if want := wantAudiences(snap); !audEqual(aud, want) {
					t.Errorf("audiences at version %d = %v, want %v", v, aud, want)
				}
			}
		}
	})
	wg.Wait()
	close(done)
	bg.Wait()

	final, err := hub.Snapshot("s")
	if err != nil {
		t.Fatal(err)
	}
	if msg := checkSnapshot(final); msg != "" {
		t.Errorf("final snapshot: %s", msg)
	}
	mu.Lock()
	defer mu.Unlock()
	replayStress(t, events, final)
	kinds := map[string]int{}
	for _, e := range events {
		kinds[e.Kind+"/"+e.Change]++
	}
	t.Logf("%d operations, %d events, %d present at the end; events %v", ops.Load(), len(events), len(final.Participants), kinds)
}

// staffOp performs one random operation as a random staff actor.
func staffOp(hub *Hub, r *rand.Rand, snap Snapshot, report func(string, error)) {
	pick := func() string {
		if len(snap.Participants) == 0 || r.IntN(20) == 0 {
			return "p-nobody"
		}
		return snap.Participants[r.IntN(len(snap.Participants))].ID
	}
	room := func() string {
		if len(snap.Rooms) == 0 || r.IntN(4) == 0 {
			return MainRoom
		}
		return snap.Rooms[r.IntN(len(snap.Rooms))].ID
	}
	var a Actor
	switch r.IntN(4) {
	case 0:
		a = Actor{Role: RoleHost}
	default:
		u := []string{"host", "m0", "m1"}[r.IntN(3)]
		for _, p := range snap.Participants {
			if p.UserID == u {
				a = Actor{ParticipantID: p.ID}
			}
		}
		if a.ParticipantID == "" {
			a = Actor{Role: RoleModerator}
		}
	}
	var err error
	switch op := r.IntN(12); op {
	case 0:
		specs := make([]RoomSpec, 1+r.IntN(3))
		for i := range specs {
			specs[i] = RoomSpec{Capacity: r.IntN(5), Duration: time.Duration(r.IntN(4)) * time.Second}
		}
		_, _, err = hub.CreateBreakouts("s", a, specs)
	case 1, 2:
		as := Assignment{Mode: []AssignMode{AssignBalanced, AssignRandom, AssignGroups}[r.IntN(3)], IncludeStaff: r.IntN(3) == 0}
		if as.Mode == AssignGroups && len(snap.Participants) > 3 {
			as.Groups = [][]string{{snap.Participants[1].ID, snap.Participants[2].ID}}
		}
		if r.IntN(4) == 0 {
			as = Assignment{Mode: AssignManual, Manual: map[string]string{pick(): room(), pick(): room()}}
		}
		_, _, err = hub.Assign("s", a, as)
	case 3, 4:
		_, err = hub.Move("s", a, pick(), room())
	case 5:
		_, err = hub.CloseRoom("s", a, room())
	case 6:
		switch r.IntN(3) {
		case 0:
			_, err = hub.CloseAllRooms("s", a)
		case 1:
			_, _, err = hub.ScheduleCloseAll("s", a, time.Duration(r.IntN(4))*time.Second)
		case 2:
			_, err = hub.CancelCloseAll("s", a)
		}
	case 7:
		_, err = hub.SetMuted("s", a, pick(), r.IntN(2) == 0)
	case 8:
		_, err = hub.SetRole("s", a, pick(), []Role{RoleModerator, RoleParticipant}[r.IntN(2)])
	case 9:
		_, err = hub.SetSelfSelect("s", a, r.IntN(2) == 0)
	case 10:
		_, err = hub.SetHand("s", a, pick(), false)
	case 11:
		if r.IntN(10) == 0 {
			_, err = hub.Remove("s", a, pick(), "stress")
		} else {
			_, err = hub.Broadcast("s", a, "hello")
		}
	}
	report("staff op", err)
}

// memberOp joins (or takes over) a random user and does something with the
// connection it got.
func memberOp(hub *Hub, r *rand.Rand, users []string, report func(string, error)) {
	u := users[r.IntN(len(users))]
	res, err := hub.Join("s", Identity{UserID: u, Role: stressUsers[u]})
	report("join", err)
	if err != nil {
		return
	}
	p := res.Participant
	a := Actor{ParticipantID: p.ID}
	switch r.IntN(6) {
	case 0:
		if u != "host" || r.IntN(4) == 0 {
			report("leave", hub.Leave("s", p.ID, p.Epoch))
		}
	case 1:
		report("state", hub.SetState("s", p.ID, p.Epoch, []State{StateConnected, StateReconnecting}[r.IntN(2)]))
	case 2:
		room := MainRoom
		if rs := res.Snapshot.Rooms; len(rs) > 0 {
			room = rs[r.IntN(len(rs))].ID
		}
		_, err = hub.Move("s", a, p.ID, room)
		report("self move", err)
	case 3:
		_, err = hub.SetHand("s", a, p.ID, r.IntN(2) == 0)
		report("hand", err)
	case 4:
		_, err = hub.SetDeafened("s", a, r.IntN(2) == 0)
		report("deafen", err)
	case 5:
		report("state", hub.SetState("s", p.ID, p.Epoch, StateConnected))
	}
}

// checkSnapshot returns what is wrong with a snapshot, or "".
func checkSnapshot(snap Snapshot) string {
	open := map[string]Room{}
	for _, r := range snap.Rooms {
		open[r.ID] = r
	}
	if !snap.ClosingAt.IsZero() && len(snap.Rooms) == 0 {
		return fmt.Sprintf("closing at %v with no room open", snap.ClosingAt)
	}
	users := map[string]bool{}
	count := map[string]int{}
	for _, p := range snap.Participants {
		if users[p.UserID] {
			return fmt.Sprintf("user %s has two records", p.UserID)
		}
		users[p.UserID] = true
		if _, ok := open[p.Room]; !ok && p.Room != MainRoom {
			return fmt.Sprintf("%s is in %q, not an open room", p.ID, p.Room)
		}
		count[p.Room]++
		if !p.Role.Valid() || (p.UserID == "host") != (p.Role == RoleHost) {
			return fmt.Sprintf("%s (%s) has role %q", p.ID, p.UserID, p.Role)
		}
	}
	for id, r := range open {
		if r.Capacity > 0 && count[id] > r.Capacity {
			return fmt.Sprintf("room %s holds %d, capacity %d", id, count[id], r.Capacity)
		}
	}
	return ""
}

// wantAudiences computes the audiences of a snapshot independently.
func wantAudiences(snap Snapshot) map[string][]string {
	out := map[string][]string{}
	for _, l := range snap.Participants {
		if l.Deafened {
			continue // hears nobody: no entry
		}
		out[l.ID] = []string{}
		for _, s := range snap.Participants {
			if s.ID != l.ID && s.Room == l.Room && !s.Muted {
				out[l.ID] = append(out[l.ID], s.ID)
			}
		}
		slices.Sort(out[l.ID])
	}
	return out
}

func audEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// replayStress replays the events of TestStress, checking each, and
// compares the result with the final snapshot.
func replayStress(t *testing.T, events []Event, final Snapshot) {
	t.Helper()
	r := newReplay()
	for i, e := range events {
		if e.Version != uint64(i)+1 || e.Session != "s" {
			t.Fatalf("event %d: session %q version %d, want s, %d", i, e.Session, e.Version, i+1)
		}
		if err := r.apply(e); err != nil {
			t.Fatalf("event %d (%s, version %d): %v", i, e.Kind, e.Version, err)
		}
		if err := r.check(); err != nil {
			t.Fatalf("after event %d (%s, version %d): %v", i, e.Kind, e.Version, err)
		}
	}
	if final.Version != uint64(len(events)) {
		t.Errorf("final version %d, %d events", final.Version, len(events))
	}
	if len(final.Participants) != len(r.present) {
		t.Errorf("final snapshot has %d participants, replay %d", len(final.Participants), len(r.present))
	}
	for _, p := range final.Participants {
		if r.present[p.ID] != p {
			t.Errorf("final %+v\nreplay %+v", p, r.present[p.ID])
		}
	}
	var openIDs, finalIDs []string
	for _, id := range r.order {
		if _, ok := r.open[id]; ok {
			openIDs = append(openIDs, id)
		}
	}
	for _, room := range final.Rooms {
		finalIDs = append(finalIDs, room.ID)
		if r.open[room.ID] != room {
			t.Errorf("final room %+v, replay %+v", room, r.open[room.ID])
		}
	}
	if !slices.Equal(openIDs, finalIDs) {
		t.Errorf("final rooms %v, replay %v", finalIDs, openIDs)
	}
	if !final.ClosingAt.Equal(r.closing) {
		t.Errorf("final closingAt %v, replay %v", final.ClosingAt, r.closing)
	}
}

// replay is a session state rebuilt from events alone, with the roles each
// participant must have: its join role, changed only by a role event.
type replay struct {
	present map[string]Participant // pid → record
	pidOf   map[string]string      // user → pid, once seen
	setRole map[string]Role        // user → role given by SetRole
	role    map[string]Role        // pid → expected role
	open    map[string]Room        // open rooms
	order   []string               // room ids, creation order
	closing time.Time              // the pending close of all rooms; zero when none
}

func newReplay() *replay {
	return &replay{present: map[string]Participant{}, pidOf: map[string]string{}, setRole: map[string]Role{},
		role: map[string]Role{}, open: map[string]Room{}}
}

// apply applies one event, or says why it is impossible.
func (r *replay) apply(e Event) error {
	var recs []Participant // records after the event
	switch e.Kind {
	case EventJoined:
		return r.join(e.Participant)
	case EventLeft, EventRemoved:
		if _, ok := r.present[e.Participant.ID]; !ok {
			return fmt.Errorf("%s not present", e.Participant.ID)
		}
		delete(r.present, e.Participant.ID)
	case EventUpdated:
		if e.Change == ChangeRole {
			r.role[e.Participant.ID] = e.Participant.Role
			r.setRole[e.Participant.UserID] = e.Participant.Role
		}
		recs = []Participant{e.Participant}
	case EventMoved:
		recs = []Participant{e.Participant}
	case EventAssigned:
		if len(e.Moves) == 0 {
			return errors.New("no moves")
		}
		recs = e.Moves
	case EventBreakoutsCreated:
		for _, room := range e.Rooms {
			r.open[room.ID] = room
			r.order = append(r.order, room.ID)
		}
	case EventRoomsClosed:
		for _, room := range e.Rooms {
			if _, ok := r.open[room.ID]; !ok {
				return fmt.Errorf("closed room %s was not open", room.ID)
			}
			delete(r.open, room.ID)
		}
		if len(r.open) == 0 {
			r.closing = time.Time{}
		}
		for _, p := range e.Moves {
			if p.Room != MainRoom {
				return fmt.Errorf("%s moved to %s", p.ID, p.Room)
			}
		}
		recs = e.Moves
	case EventRoomWarning:
		if len(e.Rooms) != 1 || !e.Rooms[0].Warned {
			return fmt.Errorf("rooms %v", e.Rooms)
		}
		if _, ok := r.open[e.Rooms[0].ID]; !ok {
			return errors.New("warned room not open")
		}
		r.open[e.Rooms[0].ID] = e.Rooms[0]
	case EventRoomsClosing:
		if len(r.open) == 0 || e.ClosingAt.IsZero() {
			return fmt.Errorf("closing at %v with %d rooms open", e.ClosingAt, len(r.open))
		}
		r.closing = e.ClosingAt
	case EventRoomsClosingCancelled:
		if r.closing.IsZero() {
			return errors.New("cancelled with nothing pending")
		}
		r.closing = time.Time{}
	case EventSelfSelect, EventBroadcast, EventUnmuteRequested, EventAlert:
	default:
		return errors.New("unexpected kind")
	}
	for _, p := range recs {
		if _, ok := r.present[p.ID]; !ok {
			return fmt.Errorf("%s not present", p.ID)
		}
		if p.Role != r.role[p.ID] {
			return fmt.Errorf("%s (%s) has role %s, want %s", p.ID, p.UserID, p.Role, r.role[p.ID])
		}
		r.present[p.ID] = p
	}
	return nil
}

// join applies EventJoined: a new record, one per user, in main, with the
// role its claim or an earlier SetRole gives.
func (r *replay) join(p Participant) error {
	if _, ok := r.present[p.ID]; ok {
		return errors.New("joined twice")
	}
	if id, ok := r.pidOf[p.UserID]; ok && id != p.ID {
		return fmt.Errorf("user %s has a second id", p.UserID)
	}
	r.pidOf[p.UserID] = p.ID
	want := stressUsers[p.UserID]
	if role, ok := r.setRole[p.UserID]; ok && p.UserID != "host" {
		want = role
	}
	if p.Room != MainRoom || p.Role != want {
		return fmt.Errorf("joined as %s in %s, want %s in main", p.Role, p.Room, want)
	}
	r.role[p.ID] = want
	r.present[p.ID] = p
	return nil
}

// check verifies the invariants: each present participant in main or an
// open room, within capacity; the host user, and only it, is host; no close
// of all rooms pending without a room open.
func (r *replay) check() error {
	if !r.closing.IsZero() && len(r.open) == 0 {
		return fmt.Errorf("closing at %v with no room open", r.closing)
	}
	count := map[string]int{}
	for _, p := range r.present {
		if _, ok := r.open[p.Room]; !ok && p.Room != MainRoom {
			return fmt.Errorf("%s is in %s, which is not open", p.ID, p.Room)
		}
		count[p.Room]++
		if (p.UserID == "host") != (p.Role == RoleHost) {
			return fmt.Errorf("%s has role %s", p.UserID, p.Role)
		}
	}
	for id, n := range count {
		if room, ok := r.open[id]; ok && room.Capacity > 0 && n > room.Capacity {
			return fmt.Errorf("room %s holds %d, capacity %d", id, n, room.Capacity)
		}
	}
	return nil
}
