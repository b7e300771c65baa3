package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling/webhook"
)

var secret = []byte("webhook-test-secret")

// patience bounds every wait; it is reached only when something is wrong.
const patience = 20 * time.Second

// receiver is a host application's webhook endpoint: it checks every
// delivery's signature, and keeps the events de-duplicated by id.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests int               // deliveries received, retries included
	inFlight int               // handlers running now
	bad      []string          // problems found (bad signature, header mismatch)
	seen     map[string]bool   // ids applied
	events   []webhook.Payload // applied, in arrival order, each id once
	bodies   []string          // raw bodies of events, same order
	// answer decides the status of request n (1-based) whose id was or was
	// not seen before; nil: 204. It runs under mu.
	answer func(n int, dup bool) int
	// hold, when set, blocks every handler until closed.
	hold chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, seen: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	r.inFlight++
	n, hold := r.requests, r.hold
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var p webhook.Payload
	switch {
	case err != nil:
		r.bad = append(r.bad, "body: "+err.Error())
	case !webhook.Verify(secret, body, req.Header.Get(webhook.SignatureHeader)):
		r.bad = append(r.bad, "bad signature on "+string(body))
	case json.Unmarshal(body, &p) != nil:
		r.bad = append(r.bad, "not JSON: "+string(body))
	case p.ID == "" || p.ID != req.Header.Get(webhook.IDHeader) || p.Type != req.Header.Get(webhook.TypeHeader):
		r.bad = append(r.bad, "headers do not match "+string(body))
	case req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json":
		r.bad = append(r.bad, "not a JSON POST")
	}
	dup := r.seen[p.ID]
	if !dup && p.ID != "" {
		// Applied even when the answer below is an error: an answer lost
		// after the work was done, which the retry must not repeat.
		r.seen[p.ID] = true
		r.events = append(r.events, p)
		r.bodies = append(r.bodies, string(body))
	}
	status := http.StatusNoContent
	if r.answer != nil {
		status = r.answer(n, dup)
	}
	w.WriteHeader(status)
}

func (r *receiver) snapshot() (events []webhook.Payload, bodies []string, requests, inFlight int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Payload(nil), r.events...), append([]string(nil), r.bodies...), r.requests, r.inFlight,
		append([]string(nil), r.bad...)
}

// waitFor polls cond until it holds, or fails the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newDispatcher returns a Dispatcher to urls with short backoffs, and a Hub
// that feeds it.
func newDispatcher(t *testing.T, tweak func(*webhook.Config), urls ...string) (*webhook.Dispatcher, *rooms.Hub) {
	t.Helper()
	var hub *rooms.Hub
	cfg := webhook.Config{URLs: urls, Secret: secret, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		RetryFor:     time.Minute,
		SessionStats: func(s string) (rooms.SessionStats, error) { return hub.Stats(s) }}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	hub = rooms.NewHub(rooms.Options{OnEvent: d.OnEvent, OnExpire: d.OnExpire})
	return d, hub
}

// must returns v, or panics (failing the test) on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// must2 is must for two values.
func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// story runs a session through every kind of event the host application
// is told about and returns the webhook types it makes, in order.
func story(t *testing.T, hub *rooms.Hub, session string) []string {
	t.Helper()
	join := func(user, alias string, role rooms.Role) rooms.Participant {
		return must(hub.Join(session, rooms.Identity{UserID: user, Alias: alias, Role: role})).Participant
	}
	host := join("secret-user-id-host", "Hostie", rooms.RoleHost)
	a := join("secret-user-id-a", "Ann", rooms.RoleParticipant)
	b := join("secret-user-id-b", "Bo", rooms.RoleParticipant)
	asHost := rooms.Actor{ParticipantID: host.ID}
	rs, _ := must2(hub.CreateBreakouts(session, asHost, []rooms.RoomSpec{{Name: "Willow"}, {Name: "Oak", Capacity: 4}}))
	_, _ = must2(hub.Assign(session, asHost, rooms.Assignment{Mode: rooms.AssignManual,
		Manual: map[string]string{a.ID: rs[0].ID, b.ID: rs[1].ID}}))
	must(hub.Move(session, asHost, b.ID, rs[0].ID))
	must(hub.SetMuted(session, asHost, a.ID, true))
	must(hub.SetMuted(session, asHost, a.ID, false))
	must(hub.RequestUnmute(session, asHost, a.ID))
	must(hub.SetRole(session, asHost, a.ID, rooms.RoleModerator))
	must(hub.SetHand(session, rooms.Actor{ParticipantID: b.ID}, b.ID, true)) // not told
	must(hub.Alert(session, rooms.Actor{ParticipantID: b.ID}, "please help"))
	must(hub.CloseRoom(session, asHost, rs[1].ID))
	must(hub.CloseAllRooms(session, asHost))
	must(hub.Remove(session, asHost, b.ID, "disruptive"))
	if err := hub.Leave(session, a.ID, 1); err != nil {
		t.Fatal(err)
	}
	must(hub.EndSession(session, asHost))
	return []string{
		webhook.TypeSessionStarted, webhook.TypeParticipantJoined, webhook.TypeParticipantJoined, webhook.TypeParticipantJoined,
		webhook.TypeBreakoutsOpened, webhook.TypeBreakoutsAssigned, webhook.TypeParticipantMoved,
		webhook.TypeModeration, webhook.TypeModeration, webhook.TypeModeration, webhook.TypeModeration,
		webhook.TypeAlert, webhook.TypeBreakoutsClosed, webhook.TypeBreakoutsClosed,
		webhook.TypeModeration, webhook.TypeParticipantLeft, webhook.TypeSessionEnded,
	}
}

func types(ps []webhook.Payload) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Type
	}
	return out
}

// TestEveryEventDeliveredAndSigned: one session's story reaches two
// endpoints, every event signed, in order, with what the host app needs
// and nothing it must not see.
func TestEveryEventDeliveredAndSigned(t *testing.T) {
	r1, r2 := newReceiver(t), newReceiver(t)
	d, hub := newDispatcher(t, nil, r1.srv.URL, r2.srv.URL+"/hooks")
	want := story(t, hub, "s1")
	for _, r := range []*receiver{r1, r2} {
		waitFor(t, "every event", func() bool { ev, _, _, _, _ := r.snapshot(); return len(ev) == len(want) })
		events, bodies, requests, _, bad := r.snapshot()
		if len(bad) > 0 {
			t.Fatalf("bad deliveries: %q", bad)
		}
		if requests != len(want) {
			t.Errorf("%d requests for %d events: nothing failed, so no retry expected", requests, len(want))
		}
		if got := strings.Join(types(events), " "); got != strings.Join(want, " ") {
			t.Fatalf("types:\n got %s\nwant %s", got, strings.Join(want, " "))
		}
		var last uint64
		for i, p := range events {
			if p.Session != "s1" || p.Version < last || p.Time.IsZero() {
				t.Errorf("event %d: session %q version %d (after %d) time %v", i, p.Session, p.Version, last, p.Time)
			}
			last = p.Version
			if strings.Contains(bodies[i], "secret-user-id") {
				t.Errorf("event %d carries a user id: %s", i, bodies[i])
			}
		}
		joined, opened, alert, ended := events[1], events[4], events[11], events[len(events)-1]
		if joined.Participant == nil || joined.Participant.Alias != "Hostie" || joined.Participant.Role != "host" ||
			!strings.HasPrefix(joined.Participant.ID, "p-") {
			t.Errorf("joined: %+v", joined.Participant)
		}
		if len(opened.Rooms) != 2 || opened.Rooms[0].Name != "Willow" || opened.Rooms[1].Capacity != 4 {
			t.Errorf("opened: %+v", opened.Rooms)
		}
		if alert.Participant == nil || alert.Participant.Alias != "Bo" || alert.Room != opened.Rooms[0].ID ||
			alert.Message != "please help" {
			t.Errorf("alert: %+v in room %q", alert.Participant, alert.Room)
		}
		actions := []string{events[7].Action, events[8].Action, events[9].Action, events[10].Action, events[14].Action}
		if got := strings.Join(actions, " "); got != "muted unmuted unmute_requested role_changed removed" {
			t.Errorf("moderation actions: %s", got)
		}
		if events[14].Reason != "disruptive" {
			t.Errorf("removed: reason %q", events[14].Reason)
		}
		if ended.Stats == nil || ended.Stats.TotalJoins != 3 || ended.Stats.PeakParticipants != 3 ||
			ended.Stats.BreakoutsCreated != 2 || ended.Stats.Removals != 1 || ended.Stats.Ended.IsZero() {
			t.Errorf("session.ended stats: %+v", ended.Stats)
		}
	}
	ids := map[string]bool{}
	e1, _, _, _, _ := r1.snapshot()
	e2, _, _, _, _ := r2.snapshot()
	for i := range e1 {
		if e1[i].ID != e2[i].ID {
			t.Errorf("event %d: ids differ between endpoints: %s, %s", i, e1[i].ID, e2[i].ID)
		}
		if ids[e1[i].ID] {
			t.Errorf("id %s used twice", e1[i].ID)
		}
		ids[e1[i].ID] = true
	}
	waitFor(t, "every answer counted", func() bool { return d.Stats().Delivered == uint64(2*len(want)) })
	st := d.Stats()
	if st.Events != uint64(len(want)) || st.Delivered != uint64(2*len(want)) || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v, want %d events, %d delivered", st, len(want), 2*len(want))
	}
}

// TestIdleSessionEnds: a session everyone left and nobody ended is told
// ended (reason "idle", with its statistics) when it is deleted.
func TestIdleSessionEnds(t *testing.T) {
	r := newReceiver(t)
	_, hub := newDispatcher(t, nil, r.srv.URL)
	p := must(hub.Join("s5", rooms.Identity{UserID: "u", Alias: "Ann", Role: rooms.RoleHost})).Participant
	if err := hub.Leave("s5", p.ID, p.Epoch); err != nil {
		t.Fatal(err)
	}
	if changed := hub.Tick(time.Now().Add(rooms.DefaultIdleTTL + time.Second)); len(changed) != 1 {
		t.Fatalf("Tick changed %v, want the idle session deleted", changed)
	}
	waitFor(t, "four events", func() bool { ev, _, _, _, _ := r.snapshot(); return len(ev) == 4 })
	events, _, _, _, bad := r.snapshot()
	if len(bad) > 0 {
		t.Fatalf("bad deliveries: %q", bad)
	}
	want := []string{webhook.TypeSessionStarted, webhook.TypeParticipantJoined, webhook.TypeParticipantLeft, webhook.TypeSessionEnded}
	if got := strings.Join(types(events), " "); got != strings.Join(want, " ") {
		t.Fatalf("types: %s, want %s", got, strings.Join(want, " "))
	}
	ended := events[3]
	if ended.Reason != webhook.ReasonIdle || ended.Session != "s5" || ended.Stats == nil || ended.Stats.TotalJoins != 1 ||
		ended.Stats.Ended.IsZero() || ended.ID == "" {
		t.Errorf("session.ended: %+v, stats %+v", ended, ended.Stats)
	}
}

// TestReceiverFailsThenRecovers: an endpoint that answers errors (some
// after doing the work) gets every event exactly once once it recovers,
// de-duplicated by id.
func TestReceiverFailsThenRecovers(t *testing.T) {
	r := newReceiver(t)
	const failing = 25 // the first requests fail
	r.answer = func(n int, dup bool) int {
		switch {
		case n > failing:
			return http.StatusOK
		case n%3 == 0:
			return http.StatusBadGateway // and the event was applied: a lost answer
		case n%3 == 1:
			return http.StatusServiceUnavailable
		}
		return http.StatusInternalServerError
	}
	d, hub := newDispatcher(t, nil, r.srv.URL)
	want := story(t, hub, "s2")
	waitFor(t, "every delivery acknowledged", func() bool { return d.Stats().Delivered == uint64(len(want)) })
	events, _, requests, _, bad := r.snapshot()
	if len(bad) > 0 {
		t.Fatalf("bad deliveries: %q", bad)
	}
	if got := strings.Join(types(events), " "); got != strings.Join(want, " ") {
		t.Fatalf("events once each, in order:\n got %s\nwant %s", got, strings.Join(want, " "))
	}
	st := d.Stats()
	if requests != len(want)+failing || st.Retries != uint64(failing) || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("%d requests, stats %+v: want %d requests, %d retries", requests, st, len(want)+failing, failing)
	}
}

// TestDeadEndpointGivenUp: a delivery is retried for RetryFor, then given
// up and counted, and the next one is tried. The receiver fails every try
// of the first event and takes the second, however many tries fit.
func TestDeadEndpointGivenUp(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(int, bool) int {
		if len(r.events) <= 1 { // under r.mu: the first event is the only one seen
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	d, hub := newDispatcher(t, func(c *webhook.Config) {
		// Retries for 2 s, a few ms apart: 10 ms, as it was, could run out
		// during the first attempt on a busy machine, leaving no retry.
		c.MinBackoff, c.MaxBackoff, c.RetryFor = time.Millisecond, 50*time.Millisecond, 2*time.Second
	}, r.srv.URL)
	must(hub.Join("s3", rooms.Identity{UserID: "u", Role: rooms.RoleHost})) // started, joined
	waitFor(t, "both settled", func() bool { st := d.Stats(); return st.Delivered+st.Failed == 2 })
	if st := d.Stats(); st.Delivered != 1 || st.Failed != 1 || st.Retries < 1 {
		t.Errorf("stats %+v: want the first given up after retries, the second delivered", st)
	}
}

// TestHangingReceiverDoesNotBlock: while the endpoint hangs on its first
// request, joins and moves go on at full pace; the queue fills and the
// rest is dropped and counted, never waited for.
func TestHangingReceiverDoesNotBlock(t *testing.T) {
	r := newReceiver(t)
	hold := make(chan struct{})
	r.hold = hold
	released := false
	defer func() {
		if !released {
			close(hold)
		}
	}()
	const queue = 4
	d, hub := newDispatcher(t, func(c *webhook.Config) { c.Queue = queue }, r.srv.URL)
	host := must(hub.Join("s4", rooms.Identity{UserID: "host", Role: rooms.RoleHost})).Participant
	rs, _ := must2(hub.CreateBreakouts("s4", rooms.Actor{ParticipantID: host.ID}, []rooms.RoomSpec{{}}))
	room := rs[0].ID
	const people = 100
	for i := range people {
		p := must(hub.Join("s4", rooms.Identity{UserID: "u" + string(rune('A'+i%26)) + string(rune('a'+i/26)),
			Role: rooms.RoleParticipant})).Participant
		must(hub.Move("s4", rooms.Actor{ParticipantID: host.ID}, p.ID, room))
	}
	// Every join and move above returned while the endpoint held its first
	// delivery: nothing waited for it.
	total := uint64(3 + 2*people) // started, host joined, opened, then a join and a move each
	// The first delivery reaches the receiver in its own time (a busy
	// machine may take a while); the counts are asserted once it holds it.
	waitFor(t, "the receiver holds the first delivery", func() bool {
		_, _, _, inFlight, _ := r.snapshot()
		return inFlight == 1
	})
	_, _, requests, inFlight, _ := r.snapshot()
	st := d.Stats()
	if requests > 1 || st.Delivered != 0 {
		t.Fatalf("%d requests, %d delivered while the receiver hangs", requests, st.Delivered)
	}
	// What fits: the intake and the endpoint's queue, one in the encoder's
	// hands, and the one the receiver holds.
	if fit := uint64(2*queue + 2); st.Dropped < total-fit || inFlight != 1 {
		t.Errorf("stats %+v, %d in flight: at most %d of %d fit", st, inFlight, fit, total)
	}
	close(hold)
	released = true
	waitFor(t, "everything queued delivered", func() bool {
		st := d.Stats()
		return st.Delivered+st.Dropped == total
	})
	events, _, _, _, bad := r.snapshot()
	if len(bad) > 0 {
		t.Fatalf("bad deliveries: %q", bad)
	}
	if st := d.Stats(); int(st.Delivered) != len(events) || st.Failed != 0 || events[0].Type != webhook.TypeSessionStarted {
		t.Errorf("stats %+v, %d received, first %s", st, len(events), events[0].Type)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []webhook.Config{
		{Secret: secret},
		{URLs: []string{"http://x"}},
		{URLs: []string{"ftp://x"}, Secret: secret},
		{URLs: []string{"/relative"}, Secret: secret},
	} {
		if d, err := webhook.New(c); err == nil {
			d.Close()
			t.Errorf("%+v accepted", c)
		}
	}
}
