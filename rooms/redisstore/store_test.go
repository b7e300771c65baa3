package redisstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore/redistest"
)

// t0 is the fake clocks' first reading, in UTC as stored times come back.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable fake clock shared by the nodes of a test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock                   { c := &clock{}; c.ns.Store(t0.UnixNano()); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// node is a Hub on a Redis store, recording the events it delivers: one
// server of several.
type node struct {
	hub *rooms.Hub
	mu  sync.Mutex
	evs []rooms.Event
}

func (n *node) events() []rooms.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]rooms.Event(nil), n.evs...)
}

// newNode returns a Hub on a Store of its own client of r.
func newNode(r *redistest.Server, c *clock, o Options) *node {
	n := &node{}
	n.hub = rooms.NewHub(rooms.Options{Store: New(r.Client(), o), Now: c.now, OnEvent: func(e rooms.Event) {
		n.mu.Lock()
		n.evs = append(n.evs, e)
		n.mu.Unlock()
	}})
	return n
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestCommitVersionCheck: the commit script applies a write only at the
// stored version and incarnation; a refused write changes nothing.
func TestCommitVersionCheck(t *testing.T) {
	r := redistest.Start(t)
	s := New(r.Client(), Options{})
	ctx := context.Background()
	rec := rooms.SessionRecord{Session: "s", Created: t0, Version: 1}
	member := rooms.MemberRecord{Participant: rooms.Participant{ID: "p-1", UserID: "u1", Role: rooms.RoleHost}, Present: true}
	ev := rooms.Event{Session: "s", Version: 1, Kind: rooms.EventJoined, Participant: member.Participant}
	if err := s.Commit(ctx, rooms.Commit{Prev: 0, Record: rec, Members: []rooms.MemberRecord{member}, Events: []rooms.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []rooms.Commit{
		{Prev: 0, Record: rec}, // a second creation
		{Prev: 2, Record: rooms.SessionRecord{Session: "s", Created: t0, Version: 3}},                  // a version ahead
		{Prev: 1, Record: rooms.SessionRecord{Session: "s", Created: t0.Add(time.Second), Version: 2}}, // another incarnation
	} {
		if err := s.Commit(ctx, c); !errors.Is(err, rooms.ErrConflict) {
			t.Fatalf("commit prev %d created %v: %v, want ErrConflict", c.Prev, c.Record.Created, err)
		}
	}
	if err := s.Delete(ctx, "s", 5); !errors.Is(err, rooms.ErrConflict) {
		t.Fatalf("delete at a wrong version: %v", err)
	}
	got, members, ok, err := s.Load(ctx, "s")
	if err != nil || !ok || !reflect.DeepEqual(got, rec) || !reflect.DeepEqual(members, []rooms.MemberRecord{member}) {
		t.Fatalf("Load = %+v %+v %v %v; want %+v %+v", got, members, ok, err, rec, member)
	}
	if evs := must[[]rooms.Event](t)(s.Events(ctx, "s", 0)); !reflect.DeepEqual(evs, []rooms.Event{ev}) {
		t.Fatalf("events %+v", evs)
	}
	if ids := must[[]string](t)(s.Sessions(ctx)); !reflect.DeepEqual(ids, []string{"s"}) {
		t.Fatalf("Sessions = %v", ids)
	}
	if err := s.Delete(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := s.Load(ctx, "s"); ok || err != nil {
		t.Fatalf("after delete: ok %v, %v", ok, err)
	}
	if n := must[int64](t)(s.rdb.Exists(ctx, s.keys("s")...).Result()); n != 0 {
		t.Fatalf("%d keys left after delete", n)
	}
}

// TestTwoNodesRaceOneChange: two nodes hold one session at version v and
// make a change at the same instant, 30 times: exactly one applies v+1 and
// the other, refused, reloads and applies v+2. Every version is delivered
// exactly once over both nodes, none is skipped, nothing is lost.
func TestTwoNodesRaceOneChange(t *testing.T) {
	r, c := redistest.Start(t), newClock()
	a, b := newNode(r, c, Options{}), newNode(r, c, Options{})
	host := must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: "host", Role: rooms.RoleHost})).Participant
	must[rooms.Snapshot](t)(b.hub.Snapshot("s")) // b loads the session
	const rounds = 30
	for i := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		var versions [2]uint64
		for j, n := range []*node{a, b} {
			wg.Go(func() {
				<-start
				res, err := n.hub.Join("s", rooms.Identity{UserID: fmt.Sprintf("u%d-%d", i, j)})
				if err != nil {
					t.Error(err)
					return
				}
				versions[j] = res.Snapshot.Version
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		base := uint64(1 + 2*i)
		if lo, hi := min(versions[0], versions[1]), max(versions[0], versions[1]); lo != base+1 || hi != base+2 {
			t.Fatalf("round %d: versions %v, want %d and %d", i, versions, base+1, base+2)
		}
	}
	const want = 1 + 2*rounds
	seen := map[uint64]int{}
	for _, e := range append(a.events(), b.events()...) {
		seen[e.Version]++
	}
	for v := uint64(1); v <= want; v++ {
		if seen[v] != 1 {
			t.Fatalf("version %d delivered %d times over both nodes, want once", v, seen[v])
		}
	}
	snap := must[rooms.Snapshot](t)(newNode(r, c, Options{}).hub.Snapshot("s"))
	if snap.Version != want || len(snap.Participants) != 1+2*rounds || snap.Participants[0].ID != host.ID {
		t.Fatalf("stored: version %d, %d participants", snap.Version, len(snap.Participants))
	}
}

// TestEventStreamReplay: the events a resuming client missed come from the
// session's stream, in order, equal to what was delivered live, from any
// node; the stream is trimmed to about MaxEvents.
func TestEventStreamReplay(t *testing.T) {
	r, c := redistest.Start(t), newClock()
	const bound = 100
	a, b := newNode(r, c, Options{MaxEvents: bound}), newNode(r, c, Options{MaxEvents: bound})
	host := must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: "host", Role: rooms.RoleHost})).Participant
	p := must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: "u"})).Participant
	for i := range 10 {
		must[uint64](t)(a.hub.SetMuted("s", rooms.Actor{ParticipantID: host.ID}, p.ID, i%2 == 0))
	}
	live := a.events() // versions 1..12
	seenByClient := uint64(5)
	missed := must[[]rooms.Event](t)(b.hub.Events("s", seenByClient))
	if !reflect.DeepEqual(missed, live[seenByClient:]) {
		t.Fatalf("replay after %d:\n%+v\nwant\n%+v", seenByClient, missed, live[seenByClient:])
	}
	for i := range 500 {
		must[uint64](t)(a.hub.SetMuted("s", rooms.Actor{ParticipantID: host.ID}, p.ID, i%2 == 1))
	}
	all := must[[]rooms.Event](t)(b.hub.Events("s", 0))
	last := a.events()[len(a.events())-1]
	if len(all) < bound || len(all) > 2*bound || all[len(all)-1].Version != last.Version {
		t.Fatalf("stream after 512 events: %d kept (bound %d), last version %d, want %d",
			len(all), bound, all[len(all)-1].Version, last.Version)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Version != all[i-1].Version+1 {
			t.Fatalf("stream has a gap at %d: %d after %d", i, all[i].Version, all[i-1].Version)
		}
	}
}

// TestRestart: a node stopped and a new one started on the same Redis
// (another client, as a new process has) finds the session as it was:
// participants, roles, rooms, mutes, hands, bans, timers and the pending
// close of all rooms; its Tick runs the timers at their deadlines.
func TestRestart(t *testing.T) {
	r, c := redistest.Start(t), newClock()
	a := newNode(r, c, Options{})
	join := func(user string, role rooms.Role) rooms.Participant {
		return must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: user, Alias: "a-" + user, Role: role})).Participant
	}
	host, p1, p2, bad := join("host", rooms.RoleHost), join("u1", ""), join("u2", ""), join("u3", "")
	ha := rooms.Actor{ParticipantID: host.ID}
	rs, _, err := a.hub.CreateBreakouts("s", ha, []rooms.RoomSpec{{Name: "A", Duration: 10 * time.Minute}, {Name: "B"}})
	if err != nil {
		t.Fatal(err)
	}
	must[uint64](t)(a.hub.Move("s", ha, p1.ID, rs[0].ID))
	must[uint64](t)(a.hub.SetMuted("s", ha, p2.ID, true))
	must[uint64](t)(a.hub.SetHand("s", rooms.Actor{ParticipantID: p1.ID}, p1.ID, true))
	must[uint64](t)(a.hub.SetRole("s", ha, p2.ID, rooms.RoleModerator))
	must[uint64](t)(a.hub.Remove("s", ha, bad.ID, "test"))
	if _, _, err := a.hub.ScheduleCloseAll("s", ha, 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	before := must[rooms.Snapshot](t)(a.hub.Snapshot("s"))
	stats := must[rooms.SessionStats](t)(a.hub.Stats("s"))

	b := newNode(r, c, Options{}) // the restarted node
	if n := must[int](t)(b.hub.LoadSessions(context.Background())); n != 1 {
		t.Fatalf("LoadSessions loaded %d, want 1", n)
	}
	after := must[rooms.Snapshot](t)(b.hub.Snapshot("s"))
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("snapshot after restart:\n%+v\nwant\n%+v", after, before)
	}
	if got := must[rooms.SessionStats](t)(b.hub.Stats("s")); got != stats {
		t.Fatalf("stats after restart %+v, want %+v", got, stats)
	}
	if _, err := b.hub.Join("s", rooms.Identity{UserID: "u3"}); !errors.Is(err, rooms.ErrRemoved) {
		t.Fatalf("a removed user joins after the restart: %v", err)
	}
	// A takeover of p1 on the new node keeps id, room and hand.
	res := must[rooms.JoinResult](t)(b.hub.Join("s", rooms.Identity{UserID: "u1"}))
	if !res.Replaced || res.Participant.ID != p1.ID || res.Participant.Room != rs[0].ID || !res.Participant.HandRaised {
		t.Fatalf("takeover after restart: %+v", res)
	}
	c.advance(10*time.Minute + time.Second) // room A's own timer
	b.hub.Tick(c.now())
	if snap := must[rooms.Snapshot](t)(b.hub.Snapshot("s")); len(snap.Rooms) != 1 || snap.Rooms[0].ID != rs[1].ID {
		t.Fatalf("rooms after room A's timer: %+v", snap.Rooms)
	}
	c.advance(10 * time.Minute) // the close of all rooms
	b.hub.Tick(c.now())
	if snap := must[rooms.Snapshot](t)(b.hub.Snapshot("s")); len(snap.Rooms) != 0 || !snap.ClosingAt.IsZero() {
		t.Fatalf("after the close-all deadline: rooms %+v, closingAt %v", snap.Rooms, snap.ClosingAt)
	}
}

// TestRedisTrouble: a Redis that stops answering (SIGSTOP), then one
// restarted empty. A live session keeps working from memory meanwhile
// (every change applied and delivered once), the Hub reports the store
// unhealthy; when Redis answers again Tick writes what it missed, and
// after an empty restart the next write puts the whole session back. A
// new node reads the same state each time.
func TestRedisTrouble(t *testing.T) {
	r, c := redistest.Start(t), newClock()
	a := newNode(r, c, Options{})
	host := must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: "host", Role: rooms.RoleHost})).Participant
	p := must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: "u0"})).Participant
	stored := func() rooms.Snapshot {
		t.Helper()
		return must[rooms.Snapshot](t)(newNode(r, c, Options{}).hub.Snapshot("s"))
	}

	r.Pause(true)
	for i := 1; i <= 3; i++ {
		must[rooms.JoinResult](t)(a.hub.Join("s", rooms.Identity{UserID: fmt.Sprint("u", i)}))
	}
	must[uint64](t)(a.hub.SetMuted("s", rooms.Actor{ParticipantID: host.ID}, p.ID, true))
	if a.hub.StoreHealthy() {
		t.Fatal("StoreHealthy with Redis stopped")
	}
	if err := a.hub.PingStore(context.Background()); !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("PingStore with Redis stopped: %v", err)
	}
	r.Pause(false)
	a.hub.Tick(c.now())
	if !a.hub.StoreHealthy() {
		t.Fatal("not healthy after Redis answered again and Tick wrote")
	}
	want := must[rooms.Snapshot](t)(a.hub.Snapshot("s"))
	if got := stored(); !reflect.DeepEqual(got, want) || got.Version != 6 {
		t.Fatalf("stored after the pause:\n%+v\nwant\n%+v", got, want)
	}

	r.Restart() // empty
	must[uint64](t)(a.hub.SetHand("s", rooms.Actor{ParticipantID: p.ID}, p.ID, true))
	want = must[rooms.Snapshot](t)(a.hub.Snapshot("s"))
	if got := stored(); !reflect.DeepEqual(got, want) || got.Version != 7 || len(got.Participants) != 5 {
		t.Fatalf("stored after an empty restart and a write:\n%+v\nwant\n%+v", got, want)
	}
	seen := map[uint64]int{}
	for _, e := range a.events() {
		seen[e.Version]++
	}
	for v := uint64(1); v <= 7; v++ {
		if seen[v] != 1 {
			t.Fatalf("version %d delivered %d times, want once", v, seen[v])
		}
	}
}

// countingStore is the Redis store, counting the calls a Hub makes of it.
type countingStore struct {
	rooms.Store
	commits, deletes, pings atomic.Int64
}

func (c *countingStore) Commit(ctx context.Context, cm rooms.Commit) error {
	c.commits.Add(1)
	return c.Store.Commit(ctx, cm)
}

func (c *countingStore) Delete(ctx context.Context, s string, v uint64) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, s, v)
}

func (c *countingStore) Ping(ctx context.Context) error {
	c.pings.Add(1)
	return c.Store.Ping(ctx)
}

// TestRedisHangingHoldsNoSession: once a write to a Redis that hangs
// (SIGSTOP) has failed, nothing waits on it under a session's lock: the
// commands that follow write nothing, and each Tick asks Redis with one
// ping, holding no session, instead of writing a session or deleting an
// expired one (each of which would hold the session's commands for the
// whole StoreTimeout). When Redis answers again, the first Tick writes
// what it missed and deletes the expired session.
func TestRedisHangingHoldsNoSession(t *testing.T) {
	r, c := redistest.Start(t), newClock()
	cs := &countingStore{Store: New(r.Client(), Options{})}
	var evs atomic.Int64
	hub := rooms.NewHub(rooms.Options{Store: cs, Now: c.now, StoreTimeout: time.Second,
		IdleTTL: time.Minute, OnEvent: func(rooms.Event) { evs.Add(1) }})
	host := must[rooms.JoinResult](t)(hub.Join("s", rooms.Identity{UserID: "host", Role: rooms.RoleHost})).Participant
	gone := must[rooms.JoinResult](t)(hub.Join("idle", rooms.Identity{UserID: "u"})).Participant
	if err := hub.Leave("idle", gone.ID, gone.Epoch); err != nil {
		t.Fatal(err)
	}

	r.Pause(true)
	paused := true
	defer func() {
		if paused {
			r.Pause(false)
		}
	}()
	must[rooms.JoinResult](t)(hub.Join("s", rooms.Identity{UserID: "u0"})) // its write fails: Redis is down
	if hub.StoreHealthy() {
		t.Fatal("StoreHealthy after a write to a stopped Redis")
	}
	commits, deletes, pings := cs.commits.Load(), cs.deletes.Load(), cs.pings.Load()
	for i := 1; i <= 3; i++ {
		must[rooms.JoinResult](t)(hub.Join("s", rooms.Identity{UserID: fmt.Sprint("u", i)}))
	}
	ha := rooms.Actor{ParticipantID: host.ID}
	if _, _, err := hub.CreateBreakouts("s", ha, []rooms.RoomSpec{{Name: "A"}}); err != nil {
		t.Fatal(err)
	}
	c.advance(2 * time.Minute) // "idle" expires
	for range 3 {
		hub.Tick(c.now())
	}
	if n := cs.commits.Load() - commits; n != 0 {
		t.Fatalf("%d writes tried while Redis was known to be down, want none", n)
	}
	if n := cs.deletes.Load() - deletes; n != 0 {
		t.Fatalf("%d deletes tried while Redis was known to be down, want none", n)
	}
	if n := cs.pings.Load() - pings; n != 3 {
		t.Fatalf("%d pings in 3 ticks while down, want 3", n)
	}
	if hub.Sessions() != 2 {
		t.Fatalf("%d sessions in memory while down, want 2 (the idle one kept)", hub.Sessions())
	}

	r.Pause(false)
	paused = false
	hub.Tick(c.now())
	if !hub.StoreHealthy() {
		t.Fatal("not healthy after Redis answered again and Tick wrote")
	}
	if hub.Sessions() != 1 {
		t.Fatalf("%d sessions after the Tick with Redis back, want 1 (the idle one deleted)", hub.Sessions())
	}
	want := must[rooms.Snapshot](t)(hub.Snapshot("s"))
	got := must[rooms.Snapshot](t)(newNode(r, c, Options{}).hub.Snapshot("s"))
	if !reflect.DeepEqual(got, want) || len(got.Participants) != 5 || len(got.Rooms) != 1 {
		t.Fatalf("stored after the pause:\n%+v\nwant\n%+v", got, want)
	}
	if ids, err := New(r.Client(), Options{}).Sessions(context.Background()); err != nil || len(ids) != 1 || ids[0] != "s" {
		t.Fatalf("stored sessions %v (%v), want [s]", ids, err)
	}
}
