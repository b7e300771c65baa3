package main

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore/redistest"
)

// TestConfigRedis: -redis and -redis-sentinel, their environment twins and
// SANCTUARY_REDIS_URL, and the refusals.
func TestConfigRedis(t *testing.T) {
	tests := []struct {
		name                string
		args                []string
		getenv              map[string]string
		wantURL, wantMaster string
		err                 string
	}{
		{"none", nil, nil, "", "", ""},
		{"flag", []string{"-redis", "redis://127.0.0.1:6379/2"}, nil, "redis://127.0.0.1:6379/2", "", ""},
		{"tls", []string{"-redis", "rediss://r.example:6380"}, nil, "rediss://r.example:6380", "", ""},
		{"SANCTUARY_REDIS_URL", nil, map[string]string{"SANCTUARY_REDIS_URL": "redis://a:1"}, "redis://a:1", "", ""},
		{"flag wins", []string{"-redis", "redis://b:2"}, map[string]string{"SANCTUARY_REDIS_URL": "redis://a:1"}, "redis://b:2", "", ""},
		{"sentinel", []string{"-redis", "redis://s1:26379?addr=s2:26379", "-redis-sentinel", "mymaster"}, nil,
			"redis://s1:26379?addr=s2:26379", "mymaster", ""},
		{"sentinel alone", []string{"-redis-sentinel", "mymaster"}, nil, "", "", "-redis-sentinel needs -redis"},
		{"not a redis url", []string{"-redis", "http://127.0.0.1:6379"}, nil, "", "", "redis:// or rediss://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseCase(t, tc.args, tc.getenv, tc.err)
			if !ok {
				return
			}
			if c.redisURL != tc.wantURL || c.redisSentinel != tc.wantMaster {
				t.Fatalf("redis %q sentinel %q, want %q %q", c.redisURL, c.redisSentinel, tc.wantURL, tc.wantMaster)
			}
		})
	}
}

// TestRedisRestartAndReadiness: a server on Redis, then a second one (a
// restart) on the same Redis, which finds the session as the first left
// it. /readyz answers 503 "store unavailable" while Redis does not answer
// and 200 again once it does.
func TestRedisRestartAndReadiness(t *testing.T) {
	r := redistest.Start(t)
	first := startServer(t, "-redis", r.URL())
	hub := first.sig.Hub()
	host := mustJoin(t, hub, "host", rooms.RoleHost)
	mustJoin(t, hub, "u1", rooms.RoleParticipant)
	if _, _, err := hub.CreateBreakouts("s", rooms.Actor{ParticipantID: host.ID},
		[]rooms.RoomSpec{{Name: "A", Duration: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	want, err := hub.Snapshot("s")
	if err != nil {
		t.Fatal(err)
	}

	second := startServer(t, "-redis", r.URL())
	if n := second.sig.Hub().Sessions(); n != 1 {
		t.Fatalf("the restarted server holds %d sessions, want 1", n)
	}
	got, err := second.sig.Hub().Snapshot("s")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snapshotInUTC(got), snapshotInUTC(want)) {
		t.Fatalf("after restart:\n%+v\nwant\n%+v", got, want)
	}

	if code, body := ready(t, second); code != http.StatusOK {
		t.Fatalf("/readyz %d %s with Redis up", code, body)
	}
	r.Pause(true)
	if code, body := ready(t, second); code != http.StatusServiceUnavailable || !strings.Contains(body, "store unavailable") {
		t.Fatalf("/readyz %d %s with Redis stopped", code, body)
	}
	r.Pause(false)
	if code, body := ready(t, second); code != http.StatusOK {
		t.Fatalf("/readyz %d %s with Redis back", code, body)
	}
}

func mustJoin(t *testing.T, hub *rooms.Hub, user string, role rooms.Role) rooms.Participant {
	t.Helper()
	res, err := hub.Join("s", rooms.Identity{UserID: user, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return res.Participant
}

// ready GETs /readyz.
func ready(t *testing.T, ts *testServer) (int, string) {
	t.Helper()
	resp, err := ts.cl.Get(ts.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// snapshotInUTC returns s with its times in UTC without a monotonic
// reading, as they come back from Redis.
func snapshotInUTC(s rooms.Snapshot) rooms.Snapshot {
	utc := func(t time.Time) time.Time { return t.UTC().Round(0) }
	s.Created, s.ClosingAt = utc(s.Created), utc(s.ClosingAt)
	for i := range s.Participants {
		s.Participants[i].JoinedAt = utc(s.Participants[i].JoinedAt)
	}
	for i := range s.Rooms {
		r := &s.Rooms[i]
		r.CreatedAt, r.EndsAt, r.WarnAt = utc(r.CreatedAt), utc(r.EndsAt), utc(r.WarnAt)
	}
	return s
}

// TestRedisKilledUnderLoad: bots in breakout rooms on a server on Redis,
// moved about every 300 ms; Redis is killed for 10 s in the middle and
// comes back empty. Nothing crashes, every bot stays, every move is heard,
// nothing leaks; /readyz turns 503 while Redis is gone and 200 after; and
// once Redis is back the server writes the session again whole, so that
// a server started on it then reads the same session, record for record.
func TestRedisKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s Redis outage under load")
	}
	r := redistest.Start(t)
	ts := startServer(t, "-redis", r.URL())
	hub := ts.sig.Hub()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type result struct {
		rep bots.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := bots.Run(ctx, bots.RunConfig{
			URL: "ws://" + ts.addr + "/ws", Secret: []byte(testSecret), Session: "outage",
			Bots: 10, Speakers: 3, Duration: 16 * time.Second, Warmup: time.Second, LoopbackOnly: true,
			Breakouts: 2, MoveEvery: 300 * time.Millisecond,
		})
		done <- result{rep, err}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	var placed map[string]string // each participant's room once all but the host are in breakout rooms
	wait("everyone in a breakout room", func() bool {
		snap, err := hub.Snapshot("outage")
		if err != nil || len(snap.Participants) != 10 || len(snap.Rooms) != 2 {
			return false
		}
		placed = map[string]string{}
		inMain := 0
		for _, p := range snap.Participants {
			placed[p.ID] = p.Room
			if p.Room == rooms.MainRoom {
				inMain++
			}
		}
		return inMain == 1 // the host
	})
	// The bots move once the host's assignment is answered, and that
	// answer follows its commit: wait for a move, so that the outage holds
	// up the moves, as it is meant to, and not the assignment (a commit
	// waits out a dead Redis before the server works from memory; on a
	// loaded machine the host's 5 s for an answer ran out behind them).
	wait("the first move", func() bool {
		snap, err := hub.Snapshot("outage")
		if err != nil {
			return false
		}
		for _, p := range snap.Participants {
			if room, ok := placed[p.ID]; ok && room != p.Room {
				return true
			}
		}
		return false
	})
	before, _ := hub.Snapshot("outage")

	killedAt := time.Now().UTC()
	r.Kill()
	wait("/readyz 503", func() bool { code, _ := ready(t, ts); return code == http.StatusServiceUnavailable })
	time.Sleep(10 * time.Second) // the outage itself; the bots keep moving meanwhile
	during, _ := hub.Snapshot("outage")
	if during.Version <= before.Version {
		t.Errorf("no change was made while Redis was gone (version %d, was %d)", during.Version, before.Version)
	}
	restartedAt := time.Now().UTC()
	r.Restart() // empty
	wait("/readyz 200", func() bool { code, _ := ready(t, ts); return code == http.StatusOK })
	t.Logf("Redis killed at %s, restarted at %s, ready at %s", killedAt.Format("15:04:05.000"),
		restartedAt.Format("15:04:05.000"), time.Now().UTC().Format("15:04:05.000"))

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the bots' run did not end")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	rep := res.rep
	// Every move is accepted and heard in its new room (the bots do not
	// move a bot again before it heard its last move: an answer delayed by
	// the server's wait on a dead Redis made that happen).
	if rep.Joined != 10 || rep.Connected != 10 || rep.Moves == 0 || rep.MovesUnheard != 0 ||
		len(rep.BreakoutFailures) != 0 || rep.ForeignPackets != 0 || rep.Renegotiations != 0 || rep.Replaced != 0 {
		t.Fatalf("joined %d, connected %d, moves %d (%d unheard), failures %v, foreign %d, renegotiations %d, replaced %d; %v",
			rep.Joined, rep.Connected, rep.Moves, rep.MovesUnheard, rep.BreakoutFailures, rep.ForeignPackets,
			rep.Renegotiations, rep.Replaced, rep.Failures)
	}
	// The bots are leaving; their leaves are written to the restarted Redis
	// with the whole session. Once the session has not changed for a second
	// and every change is stored, a server started now reads what this one
	// holds.
	var want rooms.Snapshot
	last, quietSince := uint64(0), time.Now()
	wait("the session settled and stored", func() bool {
		snap, err := hub.Snapshot("outage")
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version != last {
			last, quietSince = snap.Version, time.Now()
		}
		want = snap
		return time.Since(quietSince) > time.Second && hub.StoreHealthy()
	})
	again := startServer(t, "-redis", r.URL())
	got, err := again.sig.Hub().Snapshot("outage")
	if err != nil {
		t.Fatalf("after the outage the session is not in Redis: %v", err)
	}
	if !reflect.DeepEqual(snapshotInUTC(got), snapshotInUTC(want)) {
		t.Fatalf("after the outage Redis holds\n%+v\nthe server\n%+v", got, want)
	}
	t.Logf("%d moves in the run (%d heard in their new room, %d not); the session went from version %d to %d while Redis was gone; version %d at the end, read back whole",
		rep.Moves, rep.MovesTimed, rep.MovesUnheard, before.Version, during.Version, want.Version)
}
