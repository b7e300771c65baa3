package rooms

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// node is a Hub on a shared Store, with its own event recorder: one
// server of several.
type node struct {
	hub *Hub
	mu  sync.Mutex
	evs []Event
}

func (n *node) events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Event(nil), n.evs...)
}

// newNode returns a Hub on store with clock now.
func newNode(store Store, now func() time.Time) *node {
	n := &node{}
	n.hub = NewHub(Options{Store: store, Now: now, OnEvent: func(e Event) {
		n.mu.Lock()
		n.evs = append(n.evs, e)
		n.mu.Unlock()
	}})
	return n
}

// fakeClock is a settable clock, in UTC as stored times come back.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock { c := &fakeClock{}; c.ns.Store(t0.UnixNano()); return c }
func (c *fakeClock) now() time.Time {
	return time.Unix(0, c.ns.Load()).UTC()
}
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestStoreTwoNodesRace: two Hubs on one Store are two nodes writing one
// session. Forty users join and raise hands through both at once: every
// version from 1 to the last is delivered exactly once over the two nodes
// (exactly one writer applied each v+1, the other reloaded and applied its
// change after), nothing is lost, and the Store's event log holds the same
// events in order.
func TestStoreTwoNodesRace(t *testing.T) {
	store, clock := NewMemoryStore(), newFakeClock()
	a, b := newNode(store, clock.now), newNode(store, clock.now)
	host := ok(a.hub.Join("s", Identity{UserID: "host", Role: RoleHost}))(t).Participant
	const users = 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range users {
		wg.Go(func() {
			<-start
			hub := []*Hub{a.hub, b.hub}[i%2]
			res, err := hub.Join("s", Identity{UserID: fmt.Sprint("u", i)})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := hub.SetHand("s", actorOf(res.Participant), res.Participant.ID, true); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	const want = 1 + 2*users // the host's join, then a join and a hand per user
	seen := map[uint64]int{}
	for _, e := range append(a.events(), b.events()...) {
		seen[e.Version]++
	}
	for v := uint64(1); v <= want; v++ {
		if seen[v] != 1 {
			t.Fatalf("version %d delivered %d times over both nodes; want once", v, seen[v])
		}
	}
	if len(seen) != want {
		t.Fatalf("%d versions delivered, want %d", len(seen), want)
	}
	// A third node reads the stored state: everyone is there, in hand order.
	c := newNode(store, clock.now)
	snap := ok(c.hub.Snapshot("s"))(t)
	if snap.Version != want || len(snap.Participants) != users+1 || len(snap.Hands) != users {
		t.Fatalf("stored snapshot: version %d, %d participants, %d hands; want %d, %d, %d",
			snap.Version, len(snap.Participants), len(snap.Hands), want, users+1, users)
	}
	if snap.Participants[0].ID != host.ID || snap.Participants[0].Role != RoleHost {
		t.Fatalf("first participant %+v, want the host", snap.Participants[0])
	}
	stored := ok(c.hub.Events("s", 0))(t)
	if len(stored) != want {
		t.Fatalf("%d stored events, want %d", len(stored), want)
	}
	for i, e := range stored {
		if e.Version != uint64(i+1) {
			t.Fatalf("stored event %d has version %d", i, e.Version)
		}
	}
	// Replay: a client that saw version 30 gets 31.. from the Store.
	missed := ok(b.hub.Events("s", 30))(t)
	if len(missed) != want-30 || missed[0].Version != 31 || !reflect.DeepEqual(missed, stored[30:]) {
		t.Fatalf("events after 30: %d from version %d", len(missed), missed[0].Version)
	}
}

// TestStoreRestart: a node stopped and a new one started on the same Store
// finds the session as it was: participants with roles, rooms and mutes,
// hands, bans, the timers and the pending close of all rooms; its Tick
// then runs them at their deadlines.
func TestStoreRestart(t *testing.T) {
	store, clock := NewMemoryStore(), newFakeClock()
	a := newNode(store, clock.now)
	host := ok(a.hub.Join("s", Identity{UserID: "host", Role: RoleHost}))(t).Participant
	p1 := ok(a.hub.Join("s", Identity{UserID: "u1", Alias: "one"}))(t).Participant
	p2 := ok(a.hub.Join("s", Identity{UserID: "u2"}))(t).Participant
	bad := ok(a.hub.Join("s", Identity{UserID: "u3"}))(t).Participant
	ha := actorOf(host)
	rs, _, err := a.hub.CreateBreakouts("s", ha, []RoomSpec{{Name: "A", Duration: 10 * time.Minute}, {Name: "B"}})
	if err != nil {
		t.Fatal(err)
	}
	ok(a.hub.Move("s", ha, p1.ID, rs[0].ID))(t)
	ok(a.hub.SetMuted("s", ha, p2.ID, true))(t)
	ok(a.hub.SetHand("s", actorOf(p1), p1.ID, true))(t)
	ok(a.hub.SetRole("s", ha, p2.ID, RoleModerator))(t)
	ok(a.hub.Remove("s", ha, bad.ID, "test"))(t)
	deadline, _, err := a.hub.ScheduleCloseAll("s", ha, 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	before := ok(a.hub.Snapshot("s"))(t)
	stats := ok(a.hub.Stats("s"))(t)

	b := newNode(store, clock.now) // the restarted node
	if n := ok(b.hub.LoadSessions(context.Background()))(t); n != 1 {
		t.Fatalf("LoadSessions loaded %d, want 1", n)
	}
	if b.hub.Participants() != 3 || b.hub.Sessions() != 1 {
		t.Fatalf("restarted hub: %d participants, %d sessions", b.hub.Participants(), b.hub.Sessions())
	}
	after := ok(b.hub.Snapshot("s"))(t)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("snapshot after restart:\n%+v\nwant\n%+v", after, before)
	}
	if got := ok(b.hub.Stats("s"))(t); got != stats {
		t.Fatalf("stats after restart %+v, want %+v", got, stats)
	}
	if !after.ClosingAt.Equal(deadline) {
		t.Fatalf("ClosingAt %v, want %v", after.ClosingAt, deadline)
	}
	if _, err := b.hub.Join("s", Identity{UserID: "u3"}); !errors.Is(err, ErrRemoved) {
		t.Fatalf("banned user rejoins after restart: %v", err)
	}
	// The room's own timer (10 min) closes room A on the new node.
	clock.advance(10*time.Minute + time.Second)
	b.hub.Tick(clock.now())
	snap := ok(b.hub.Snapshot("s"))(t)
	if len(snap.Rooms) != 1 || snap.Rooms[0].ID != rs[1].ID {
		t.Fatalf("rooms after room A's timer: %+v", snap.Rooms)
	}
	if p := ok(b.hub.Participant("s", p1.ID))(t); p.Room != MainRoom || !p.HandRaised {
		t.Fatalf("p1 after room A closed: %+v", p)
	}
	// The close of all rooms at its deadline.
	clock.advance(10 * time.Minute)
	b.hub.Tick(clock.now())
	if snap := ok(b.hub.Snapshot("s"))(t); len(snap.Rooms) != 0 || !snap.ClosingAt.IsZero() {
		t.Fatalf("rooms after the close-all deadline: %+v, closingAt %v", snap.Rooms, snap.ClosingAt)
	}
	// The old node, still running, catches up on its next write.
	if _, err := a.hub.SetHand("s", ha, p1.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, want := ok(a.hub.Snapshot("s"))(t), ok(newNode(store, clock.now).hub.Snapshot("s"))(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("old node after its write:\n%+v\nstore:\n%+v", got, want)
	}
}

// flakyStore is a Store that fails every call while down is set.
type flakyStore struct {
	Store
	down atomic.Bool
}

var errDown = errors.New("store down (test)")

func (f *flakyStore) Load(ctx context.Context, s string) (SessionRecord, []MemberRecord, bool, error) {
	if f.down.Load() {
		return SessionRecord{}, nil, false, errDown
	}
	return f.Store.Load(ctx, s)
}
func (f *flakyStore) Commit(ctx context.Context, c Commit) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Commit(ctx, c)
}
func (f *flakyStore) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Ping(ctx)
}
func (f *flakyStore) Delete(ctx context.Context, s string, v uint64) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Delete(ctx, s, v)
}

// TestStoreUnavailable: while the Store fails, a live session keeps
// working from memory (every change applied, every event delivered once),
// StoreHealthy is false, an unknown session cannot be loaded
// (ErrUnavailable); once it is back, Tick writes what it missed, and a new
// node reads the same state and a gapless event log.
func TestStoreUnavailable(t *testing.T) {
	fs, clock := &flakyStore{Store: NewMemoryStore()}, newFakeClock()
	var storeErrs atomic.Int64
	n := &node{}
	n.hub = NewHub(Options{Store: fs, Now: clock.now, OnStoreError: func(string, error) { storeErrs.Add(1) },
		OnEvent: func(e Event) { n.mu.Lock(); n.evs = append(n.evs, e); n.mu.Unlock() }})
	host := ok(n.hub.Join("s", Identity{UserID: "host", Role: RoleHost}))(t).Participant
	fs.down.Store(true)
	for i := range 5 {
		ok(n.hub.Join("s", Identity{UserID: fmt.Sprint("u", i)}))(t)
	}
	if _, _, err := n.hub.CreateBreakouts("s", actorOf(host), []RoomSpec{{Name: "A"}}); err != nil {
		t.Fatal(err)
	}
	if n.hub.StoreHealthy() || storeErrs.Load() == 0 {
		t.Fatalf("StoreHealthy %v with %d store errors while down", n.hub.StoreHealthy(), storeErrs.Load())
	}
	if _, err := n.hub.Snapshot("other"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("snapshot of an unloaded session while down: %v", err)
	}
	n.hub.Tick(clock.now()) // still down: nothing lost, nothing written
	if got := len(n.events()); got != 7 {
		t.Fatalf("%d events delivered while down, want 7", got)
	}
	fs.down.Store(false)
	n.hub.Tick(clock.now())
	if !n.hub.StoreHealthy() {
		t.Fatal("StoreHealthy false after the store came back and Tick wrote")
	}
	want := ok(n.hub.Snapshot("s"))(t)
	got := ok(newNode(fs, clock.now).hub.Snapshot("s"))(t)
	if !reflect.DeepEqual(got, want) || len(got.Participants) != 6 || got.Version != 7 {
		t.Fatalf("stored after recovery:\n%+v\nwant\n%+v", got, want)
	}
	evs := ok(n.hub.Events("s", 0))(t)
	if !reflect.DeepEqual(evs, n.events()) {
		t.Fatalf("stored events %d, delivered %d: not the same", len(evs), len(n.events()))
	}
}
