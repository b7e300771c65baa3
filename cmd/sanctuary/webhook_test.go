package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling/webhook"
)

// TestWebhookFlags: -webhook-url is repeatable and comma-separated, its
// environment twin is replaced by the command line, and a URL needs a
// secret.
func TestWebhookFlags(t *testing.T) {
	parse := func(envs map[string]string, args ...string) (config, error) {
		return parseConfig(append([]string{"-jwt-secret", "x"}, args...), env(envs), io.Discard)
	}
	c, err := parse(nil, "-webhook-url", "http://a/1, https://b/2", "-webhook-url", "http://c/3", "-webhook-secret", "s")
	if err != nil || strings.Join(c.webhooks.urls, " ") != "http://a/1 https://b/2 http://c/3" {
		t.Errorf("urls %q, %v", c.webhooks.urls, err)
	}
	c, err = parse(map[string]string{"SANCTUARY_WEBHOOK_URL": "http://env/1,http://env/2", "SANCTUARY_WEBHOOK_SECRET": "s"})
	if err != nil || strings.Join(c.webhooks.urls, " ") != "http://env/1 http://env/2" || c.webhooks.secret != "s" {
		t.Errorf("from the environment: %q, %v", c.webhooks.urls, err)
	}
	c, err = parse(map[string]string{"SANCTUARY_WEBHOOK_URL": "http://env/1", "SANCTUARY_WEBHOOK_SECRET": "s"},
		"-webhook-url", "http://flag/1")
	if err != nil || strings.Join(c.webhooks.urls, " ") != "http://flag/1" {
		t.Errorf("the flag wins: %q, %v", c.webhooks.urls, err)
	}
	for _, bad := range [][]string{
		{"-webhook-url", "http://a/1"},
		{"-webhook-secret", "s"},
		{"-webhook-url", "ftp://a/1", "-webhook-secret", "s"},
		{"-webhook-url", "a/1", "-webhook-secret", "s"},
	} {
		if _, err := parse(nil, bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestWebhooksFromServer: the server's session events reach a receiver,
// signed with -webhook-secret; session.ended carries the statistics; the
// counters show in /metrics.
func TestWebhooksFromServer(t *testing.T) {
	var mu sync.Mutex
	var got []webhook.Payload
	var bad []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		var p webhook.Payload
		if !webhook.Verify([]byte("hook-secret"), body, r.Header.Get(webhook.SignatureHeader)) || json.Unmarshal(body, &p) != nil {
			bad = append(bad, string(body))
		}
		if strings.Contains(string(body), "user-1") || strings.Contains(string(body), "eyJ") {
			bad = append(bad, "a user id or a token in "+string(body))
		}
		got = append(got, p)
	}))
	defer recv.Close()
	ts := startServer(t, "-webhook-url", recv.URL, "-webhook-secret", "hook-secret")
	if _, err := ts.sig.Hub().Join("wh", rooms.Identity{UserID: "user-1", Alias: "Ash", Role: rooms.RoleParticipant}); err != nil {
		t.Fatal(err)
	}
	resp, body := ts.do(t, "POST", "/api/v1/sessions/wh/end", http.Header{"X-Auth-Token": {token(t, "wh")}}, strings.NewReader("{}"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("end: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(patience)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad deliveries: %q", bad)
	}
	var types []string
	for _, p := range got {
		types = append(types, p.Type)
	}
	if strings.Join(types, " ") != "session.started participant.joined session.ended" {
		t.Fatalf("types %q", types)
	}
	if st := got[2].Stats; st == nil || st.TotalJoins != 1 || st.PeakParticipants != 1 {
		t.Errorf("session.ended stats %+v", st)
	}
	if got[1].Participant == nil || got[1].Participant.Alias != "Ash" {
		t.Errorf("joined %+v", got[1].Participant)
	}
	deadline = time.Now().Add(patience)
	for {
		_, metrics := ts.do(t, "GET", "/metrics", nil, nil)
		if strings.Contains(string(metrics), "\nsanctuary_webhook_delivered_total 3\n") &&
			strings.Contains(string(metrics), "\nsanctuary_webhook_delivery_seconds_count 3\n") &&
			strings.Contains(string(metrics), "\nsanctuary_webhook_dropped_total 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", metrics)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHungReceiverDoesNotSlowJoinsOrMoves: with the only webhook endpoint
// holding every delivery forever, pion bots join the server, are assigned
// to breakout rooms and moved about: every one joins, every move is
// accepted and heard in its new room, nothing leaks, and nothing is
// delivered. The bots' join times beside
// a run without webhooks are logged (the dead endpoint costs nothing
// expected); the test asserts counts, not times.
func TestHungReceiverDoesNotSlowJoinsOrMoves(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer recv.Close()
	defer close(release) // before recv.Close: the held requests return

	run := func(name string, flags ...string) (bots.Report, *testServer) {
		ts := startServer(t, flags...)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		rep, err := bots.Run(ctx, bots.RunConfig{
			URL: "ws://" + ts.addr + "/ws", Secret: []byte(testSecret), Session: "hung-" + name,
			Bots: 8, Speakers: 3, Duration: 3 * time.Second, LoopbackOnly: true,
			Breakouts: 2, MoveEvery: 300 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Joined != 8 || rep.Connected != 8 || rep.Moves == 0 || rep.MovesUnheard != 0 ||
			len(rep.BreakoutFailures) != 0 || rep.ForeignPackets != 0 || rep.Renegotiations != 0 {
			t.Fatalf("%s: joined %d, connected %d, moves %d (%d unheard), failures %v, foreign %d, renegotiations %d",
				name, rep.Joined, rep.Connected, rep.Moves, rep.MovesUnheard, rep.BreakoutFailures,
				rep.ForeignPackets, rep.Renegotiations)
		}
		return rep, ts
	}
	hung, ts := run("hung", "-webhook-url", recv.URL, "-webhook-secret", "hook-secret")
	if held.Load() == 0 {
		t.Fatal("the receiver never got a delivery to hold")
	}
	_, metrics := ts.do(t, "GET", "/metrics", nil, nil)
	if !strings.Contains(string(metrics), "\nsanctuary_webhook_delivered_total 0\n") ||
		strings.Contains(string(metrics), "\nsanctuary_webhook_events_total 0\n") {
		t.Errorf("want events made and none delivered; metrics:\n%s", metrics)
	}
	plain, _ := run("plain")
	t.Logf("join p50/p99 %.1f/%.1f ms with the endpoint hanging, %.1f/%.1f ms without webhooks; moves %d and %d, heard in p50 %.1f and %.1f ms",
		hung.JoinMsP50, hung.JoinMsP99, plain.JoinMsP50, plain.JoinMsP99, hung.Moves, plain.Moves, hung.MoveMsP50, plain.MoveMsP50)
}
