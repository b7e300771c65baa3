package main

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
