package signaling_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// TestEventsPaced: to a client that takes batches, an event that comes
// within Config.EventPace of the last frame of events waits, and leaves
// with the next message that is not an event, in order, in one frame. A
// client that takes no batches gets every event at once. The pace is an
// hour here, so what waits can only leave with an answer.
func TestEventsPaced(t *testing.T) {
	h := newHarness(t, 2, func(c *signaling.Config) { c.EventPace = time.Hour })
	defer h.close()
	const session = "paced"
	// upTo reads c's frames up to the one with the answer to id: their
	// messages, frame by frame.
	upTo := func(c *rawClient, id string) [][]map[string]any {
		t.Helper()
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var out [][]map[string]any
		for {
			_, raw, err := c.ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for the answer to %s: %v", id, err)
			}
			msgs := unbatch(t, raw)
			out = append(out, msgs)
			if slices.ContainsFunc(msgs, func(m map[string]any) bool { return m["id"] == id }) {
				return out
			}
		}
	}
	join := func(user string, batch bool) *rawClient {
		t.Helper()
		c := h.raw()
		c.sendJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
			Token: h.token(user, "participant", session, time.Hour), Session: session, Alias: user, Batch: batch})
		upTo(c, "join")
		return c
	}
	ping := func(c *rawClient, id string) [][]map[string]any {
		t.Helper()
		c.sendJSON(map[string]string{"type": "ping", "id": id})
		return upTo(c, id)
	}
	batched := join("batched", true)
	plain := join("plain", false)
	// Whatever waited leaves now; from here on, the last frame of events
	// is recent.
	ping(batched, "1")

	joinedAlias := func(m map[string]any) string {
		if m["type"] != signaling.TypeEvent || m["event"] != "participant.joined" {
			return ""
		}
		p, _ := m["participant"].(map[string]any)
		a, _ := p["alias"].(string)
		return a
	}
	others := []string{"c", "d", "e"}
	for _, u := range others {
		join(u, true)
	}

	// The client without batches hears of every join without asking.
	_ = plain.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var heard []string
	for len(heard) < len(others) {
		_, raw, err := plain.ws.ReadMessage()
		if err != nil {
			t.Fatalf("plain heard %v of the joins: %v", heard, err)
		}
		for _, m := range unbatch(t, raw) {
			if a := joinedAlias(m); a != "" {
				heard = append(heard, a)
			}
		}
	}

	// The batching client's join events waited: each frame that carries
	// one also carries a message that is not an event, after it.
	var got []string
	for _, f := range ping(batched, "2") {
		var events []string
		direct := false
		for _, m := range f {
			if a := joinedAlias(m); a != "" {
				if direct {
					t.Errorf("event %s after a message that is not an event, in one frame: %v", a, f)
				}
				events = append(events, a)
			} else if m["type"] != signaling.TypeEvent {
				direct = true
			}
		}
		if len(events) > 0 && !direct {
			t.Errorf("events %v went without waiting for the pace: %v", events, f)
		}
		got = append(got, events...)
	}
	if !slices.Equal(got, others) {
		t.Errorf("batched heard joins %v, want %v in order", got, others)
	}
}
