package main

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

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
			c, err := parseConfig(append([]string{"-jwt-secret", "s"}, tc.args...), env(tc.getenv), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
