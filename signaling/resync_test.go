package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// pipeListener serves HTTP over in-memory pipes. A pipe has no buffer at
// all: a client that does not read blocks the server's writer at once,
// which a TCP socket's kernel buffers would hide for megabytes.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial is a websocket.Dialer's NetDialContext: one end of a new pipe for the
// client, the other for the server.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// A client that does not read while the session changes falls behind: the
// server drops the events it has not read and, once it reads again, sends a
// snapshot and the events after it. The client is never disconnected, and
// the versions it sees have no gap but at that snapshot.
func TestSlowClientIsResyncedNotDisconnected(t *testing.T) {
	// Events beyond queue make the client lag; other messages beyond it
	// close it. 16 leaves room for its offer, candidates and slots, which
	// it does not read either. The host's 5×queue changes stay within its
	// burst.
	const queue = 16
	h := newHarness(t, 3, func(c *signaling.Config) { c.SendQueue = queue; c.Burst = 10 * queue })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := newPipeListener()
	srv := &http.Server{Handler: h.srv}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	host, _ := h.joinRaw("host", auth.RoleHost, "lag")
	dialer := websocket.Dialer{NetDialContext: l.dial}
	slow, _, err := dialer.DialContext(ctx, "ws://pipe/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteJSON(signaling.Join{Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"},
		Token: h.token("slow", auth.RoleParticipant, "lag", time.Hour), Session: "lag", Batch: true}); err != nil {
		t.Fatal(err)
	}
	// The client reads up to its welcome, then stops reading. (Waiting for
	// its record only is not enough: on a busy machine the host's changes
	// can come before the welcome is sent, and then they are part of the
	// welcome's catch-up, not a backlog of a slow reader.)
	var versions []uint64 // 0 marks a snapshot
	_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	for len(versions) == 0 {
		_, raw, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("no welcome: %v", err)
		}
		for _, m := range unbatch(t, raw) {
			switch m["type"] {
			case signaling.TypeWelcome:
				versions = append(versions, snapVersion(m))
			case signaling.TypeEvent:
				if len(versions) > 0 {
					versions = append(versions, uint64(m["version"].(float64)))
				}
			}
		}
	}
	// While the slow client reads nothing, the host changes the session 5×
	// the queue's bound. Each ok follows its event's broadcast.
	for i := range 5 * queue {
		id := fmt.Sprint(i)
		if code := host.request(id, fmt.Sprintf(`{"type":"hand","id":"%s","enabled":%v}`, id, i%2 == 0)); code != signaling.TypeOK {
			t.Fatalf("hand %d: %s", i, code)
		}
	}
	final := version(t, h, "lag")

	for versions[len(versions)-1] != final {
		_, raw, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("the slow client was cut after versions %v: %v", versions, err)
		}
		for _, m := range unbatch(t, raw) {
			switch m["type"] {
			case signaling.TypeWelcome:
				versions = append(versions, snapVersion(m))
			case signaling.TypeSnapshot:
				if m["id"] != nil {
					t.Fatalf("a snapshot answering a request nobody made: %v", m["id"])
				}
				versions = append(versions, 0, snapVersion(m))
			case signaling.TypeEvent:
				versions = append(versions, uint64(m["version"].(float64)))
			case signaling.TypeError:
				t.Fatalf("error %v", m)
			}
		}
	}
	snapshots := 0
	for i := 1; i < len(versions); i++ {
		if versions[i] == 0 {
			snapshots++
			if versions[i+1] < versions[i-1] {
				t.Fatalf("the snapshot (version %d) is older than the last event seen (%d)", versions[i+1], versions[i-1])
			}
			i++
			continue
		}
		if versions[i] != versions[i-1]+1 {
			t.Fatalf("version %d after %d: %v", versions[i], versions[i-1], versions)
		}
	}
	if snapshots == 0 || h.srv.Stats().Resyncs == 0 {
		t.Errorf("fell %d events behind a queue of %d without a resync: versions %v, resyncs %d",
			5*queue, queue, versions, h.srv.Stats().Resyncs)
	}
	// Still a member, still served.
	if err := slow.WriteJSON(map[string]any{"type": "ping", "id": "alive"}); err != nil {
		t.Fatal(err)
	}
	for {
		_, raw, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("no pong: %v", err)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		if m["type"] == signaling.TypePong {
			break
		}
	}
}

func snapVersion(m map[string]any) uint64 {
	return uint64(m["snapshot"].(map[string]any)["version"].(float64))
}
