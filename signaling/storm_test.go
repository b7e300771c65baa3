package signaling_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// stormClient is one websocket of a join storm: it joins, then reads
// everything the server sends until the test ends, checking that event
// versions never skip (a resync snapshot excepted).
type stormClient struct {
	ws       *websocket.Conn
	opened   time.Time
	welcomed chan time.Duration // open → welcome, once
	ended    atomic.Bool        // the server closed the socket or it failed
	endErr   error              // why, once ended
	messages atomic.Int64       // messages received (a batch counts its messages)
	frames   atomic.Int64
	problem  atomic.Value // string: the first protocol violation seen
	done     chan struct{}
}

func (c *stormClient) read() {
	defer close(c.done)
	var last uint64
	welcomed := false
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			c.endErr = err
			c.ended.Store(true)
			return
		}
		c.frames.Add(1)
		msgs, err := unbatchFrame(raw)
		if err != nil {
			c.problem.CompareAndSwap(nil, err.Error())
		}
		for _, m := range msgs {
			c.messages.Add(1)
			switch m["type"] {
			case signaling.TypeWelcome:
				last, welcomed = snapVersion(m), true
				c.welcomed <- time.Since(c.opened)
			case signaling.TypeSnapshot:
				if v := snapVersion(m); v >= last {
					last = v
				} else {
					c.problem.CompareAndSwap(nil, fmt.Sprintf("a resync went back from version %d to %d", last, v))
				}
			case signaling.TypeEvent:
				v := uint64(m["version"].(float64))
				if !welcomed || v != last+1 {
					c.problem.CompareAndSwap(nil, fmt.Sprintf("version %d after %d (welcomed %v)", v, last, welcomed))
				}
				last = v
			case signaling.TypeError, signaling.TypeReplaced:
				c.problem.CompareAndSwap(nil, fmt.Sprintf("%v", m))
			}
		}
	}
}

// stormSize is how many sockets join at once: 500, or STORM_CLIENTS.
func stormSize(t *testing.T) int {
	if s := os.Getenv("STORM_CLIENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("STORM_CLIENTS=%q", s)
		}
		return n
	}
	return 500
}

// A join storm: 500 websockets join one session at once and read what they
// are sent. Every one is welcomed and none is closed: not by the join
// deadline, not for falling behind (each join is an event for every member:
// about 250,000 messages, batched or resynced). Then a speaker and two
// listeners join the crowded session with real media and hear each other,
// and once everyone leaves nothing is left behind.
func TestE2EJoinStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("join storm")
	}
	n := stormSize(t)
	h := newHarness(t, 3, func(c *signaling.Config) {
		c.ConnectTimeout = time.Hour // the storm's sockets never answer their offers
		c.ReconnectGrace = 100 * time.Millisecond
		c.MaxSocketsPerIP, c.SocketRate = -1, -1 // every storm socket comes from 127.0.0.1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	baseline := h.usage()

	clients := make([]*stormClient, n)
	start := make(chan struct{})
	var dialed sync.WaitGroup
	for i := range clients {
		dialed.Add(1)
		go func() {
			defer dialed.Done()
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, h.url, nil)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			// gorilla's default ping handler gives its pong one second and
			// ends the read on a timeout: on a machine this busy the
			// client, not the server, would fail.
			ws.SetPingHandler(func(data string) error {
				_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Minute))
				return nil
			})
			c := &stormClient{ws: ws, welcomed: make(chan time.Duration, 1), done: make(chan struct{})}
			clients[i] = c
			<-start // every socket open: join all at once
			c.opened = time.Now()
			go c.read()
			if err := ws.WriteJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
				Token:   h.token(fmt.Sprintf("crowd-%d", i), auth.RoleParticipant, "storm", time.Hour),
				Session: "storm", Batch: i%2 == 0}); err != nil {
				t.Errorf("client %d: join: %v", i, err)
			}
		}()
	}
	close(start)
	dialed.Wait()
	if t.Failed() {
		return
	}

	stormStart := time.Now()
	welcomes := make([]time.Duration, 0, n)
	for i, c := range clients {
		select {
		case d := <-c.welcomed:
			welcomes = append(welcomes, d)
		case <-c.done:
			t.Fatalf("client %d was closed before its welcome: %v (%v)", i, c.endErr, c.problem.Load())
		case <-ctx.Done():
			t.Fatalf("client %d: no welcome", i)
		}
	}
	allWelcomed := time.Since(stormStart)

	// Real media in the crowded session.
	speaker := h.dial(ctx, "storm", 0, true, 30)
	l1 := h.dial(ctx, "storm", 1, false, 127)
	l2 := h.dial(ctx, "storm", 2, false, 127)
	waitConnected(ctx, t, speaker, l1, l2)
	eventually(ctx, t, "both listeners hear the speaker", func() bool {
		return l1.Stats().ReceivedBySource[0] > 50 && l2.Stats().ReceivedBySource[0] > 50
	})
	// Every member's snapshot shows everyone.
	eventually(ctx, t, "the session holds everyone", func() bool {
		snap, err := h.srv.Hub().Snapshot("storm")
		return err == nil && len(snap.Participants) == n+3
	})

	var messages, frames int64
	for i, c := range clients {
		if c.ended.Load() {
			t.Errorf("client %d was closed: %v", i, c.endErr)
		}
		if p := c.problem.Load(); p != nil {
			t.Errorf("client %d: %s", i, p)
		}
		messages += c.messages.Load()
		frames += c.frames.Load()
	}
	for _, b := range []*bots.Bot{speaker, l1, l2} {
		if st := b.Stats(); st.Foreign != 0 || len(st.Errors) != 0 {
			t.Errorf("bot %d: %d foreign packets, errors %v", b.Index(), st.Foreign, st.Errors)
		}
	}
	slices.Sort(welcomes)
	t.Logf("%d joins at once: all welcomed after %v; welcome p50 %v p99 %v; %d messages in %d frames (%.0f messages per join); %d resyncs",
		n, allWelcomed.Round(time.Millisecond), welcomes[len(welcomes)/2].Round(time.Millisecond),
		welcomes[len(welcomes)*99/100].Round(time.Millisecond), messages, frames, float64(messages)/float64(n), h.srv.Stats().Resyncs)

	// Everyone leaves; nothing is left behind.
	for _, c := range clients {
		_ = c.ws.Close()
	}
	for _, b := range []*bots.Bot{speaker, l1, l2} {
		_ = b.Close()
	}
	for _, c := range clients {
		<-c.done
	}
	h.waitBaseline(ctx, baseline)
}
