package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

func ev(v int) []byte { return []byte(`{"type":"event","version":` + strconv.Itoa(v) + `}`) }

func taken(o *outbox) []string {
	msgs, _, _, _ := o.take(nil)
	return bytesToStrings(msgs)
}

// A new outbox takes no events until it is caught up; then events and other
// messages keep their order.
func TestOutboxCatchUpThenOrder(t *testing.T) {
	o := newOutbox(4, 4)
	o.putEvent(ev(1)) // before the welcome: refused, the catch-up has it
	o.put([]byte("error"))
	o.catchUp([]byte("welcome"), [][]byte{ev(1), ev(2)})
	o.putEvent(ev(3))
	o.put([]byte("offer"))
	got := fmt.Sprint(taken(o))
	want := fmt.Sprint([]string{"error", "welcome", string(ev(1)), string(ev(2)), string(ev(3)), "offer"})
	if got != want {
		t.Errorf("taken %s, want %s", got, want)
	}
}

// One event too many drops every waiting event (not the other messages),
// refuses events until the writer resyncs, and asks it to once.
func TestOutboxLaggingClientIsResynced(t *testing.T) {
	o := newOutbox(3, 8)
	o.catchUp([]byte("welcome"), nil)
	o.put([]byte("ok-1"))
	for v := 1; v <= 4; v++ {
		o.putEvent(ev(v))
	}
	o.put([]byte("ok-2"))
	o.putEvent(ev(5)) // lagging: refused
	msgs, _, resync, closed := o.take(nil)
	if fmt.Sprint(bytesToStrings(msgs)) != "[welcome ok-1 ok-2]" || !resync || closed {
		t.Fatalf("taken %s resync %v closed %v, want [welcome ok-1 ok-2] true false", bytesToStrings(msgs), resync, closed)
	}
	if _, _, resync, _ := o.take(nil); resync {
		t.Error("asked to resync twice")
	}
	if o.dropped != 4 {
		t.Errorf("dropped %d events, want 4", o.dropped)
	}
	o.catchUp([]byte("snapshot"), [][]byte{ev(6)})
	o.putEvent(ev(7))
	if got := fmt.Sprint(taken(o)); got != fmt.Sprint([]string{"snapshot", string(ev(6)), string(ev(7))}) {
		t.Errorf("after the resync: %s", got)
	}
}

// A client that reads nothing gets closed when too many messages that are
// not events wait; what was accepted is still handed out.
func TestOutboxClosesAClientThatStopsReading(t *testing.T) {
	o := newOutbox(8, 2)
	if !o.put([]byte("a")) || !o.put([]byte("b")) {
		t.Fatal("refused within the bound")
	}
	if o.put([]byte("c")) {
		t.Fatal("accepted past the bound")
	}
	msgs, _, _, closed := o.take(nil)
	if fmt.Sprint(bytesToStrings(msgs)) != "[a b]" || !closed {
		t.Errorf("taken %s closed %v", bytesToStrings(msgs), closed)
	}
}

// Finding 6: events offered while the outbox closes are accepted as a
// prefix: never version v+2 without v+1. Run many times, concurrently.
func TestOutboxCloseNeverMakesAGap(t *testing.T) {
	for round := range 200 {
		o := newOutbox(1<<20, 8)
		o.catchUp([]byte(`{"type":"welcome"}`), nil)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for v := 1; v <= 200; v++ {
				o.putEvent(ev(v))
			}
		}()
		go func() {
			defer wg.Done()
			o.close()
		}()
		wg.Wait()
		msgs, _, _, _ := o.take(nil)
		for i, m := range msgs[1:] {
			var e struct{ Version int }
			if err := json.Unmarshal(m, &e); err != nil || e.Version != i+1 {
				t.Fatalf("round %d: message %d is %s, want version %d", round, i+1, m, i+1)
			}
		}
	}
}

// Batches: consecutive messages wrapped in one frame up to maxBatchBytes; a
// lone message or a large one goes alone; without batching, one per frame.
func TestNextFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), maxBatchBytes)
	cases := []struct {
		name     string
		msgs     [][]byte
		batching bool
		frames   []string
	}{
		{"one message", [][]byte{[]byte(`{"a":1}`)}, true, []string{`{"a":1}`}},
		{"no batching", [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}, false, []string{`{"a":1}`, `{"b":2}`}},
		{"batched", [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`), []byte(`{"c":3}`)}, true,
			[]string{`{"type":"batch","messages":[{"a":1},{"b":2},{"c":3}]}`}},
		{"a large one alone", [][]byte{[]byte(`{"a":1}`), big, []byte(`{"c":3}`)}, true,
			[]string{`{"a":1}`, string(big), `{"c":3}`}},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		var frames []string
		for rest := tc.msgs; len(rest) > 0; {
			var f []byte
			f, rest = nextFrame(rest, tc.batching, &buf)
			frames = append(frames, string(f))
		}
		if fmt.Sprint(frames) != fmt.Sprint(tc.frames) {
			t.Errorf("%s: frames %.200q, want %.200q", tc.name, frames, tc.frames)
		}
	}
	// Many small messages split into batches that each stay within the bound.
	var msgs [][]byte
	for i := range 5000 {
		msgs = append(msgs, ev(i))
	}
	var buf bytes.Buffer
	n := 0
	for rest := msgs; len(rest) > 0; {
		var f []byte
		f, rest = nextFrame(rest, true, &buf)
		if len(f) > maxBatchBytes {
			t.Fatalf("batch of %d bytes", len(f))
		}
		var b Batch
		if err := json.Unmarshal(f, &b); err != nil || b.Type != TypeBatch {
			t.Fatalf("not a batch: %v", err)
		}
		n += len(b.Messages)
	}
	if n != len(msgs) {
		t.Errorf("%d messages in the batches, want %d", n, len(msgs))
	}
}

func bytesToStrings(msgs [][]byte) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	return out
}
