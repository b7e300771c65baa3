package signaling

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// wsErrorCodes are the codes of messages.go that an error on the websocket
// may carry. The HTTP-only codes (unauthorized, not_a_member, …) are not
// among them, and neither is internal: a refusal that maps to internal is a
// bad input the server failed to classify.
var wsErrorCodes = map[string]bool{
	CodeBadMessage: true, CodeUnknownType: true, CodeTooLarge: true, CodeRateLimited: true,
	CodeAuthRequired: true, CodeAuthTimeout: true, CodeTokenInvalid: true, CodeTokenExpired: true,
	CodeWrongSession: true, CodeAlreadyJoined: true, CodeBadSDP: true, CodeShuttingDown: true,
	CodeSessionNotFound: true, CodeRenegotiation: true, CodeICEFailed: true, CodeConnectTimeout: true,
	CodeForbidden: true, CodeNotFound: true, CodeRoomFull: true, CodeInvalid: true, CodeRemoved: true,
	CodeSessionEnded: true,
}

// dispatchSeeds is one message of every type the server reads, every
// command of commands.go, and the refusals each field check makes. In a
// seed, @P1 stands for the acting participant's id, @P2 for another
// participant's and @R1 for an open breakout room's (see fuzzDispatcher).
var dispatchSeeds = []string{
	`{"type":"join","id":"1","token":"eyJhbGciOiJIUzI1NiJ9.e30.x","session":"s","alias":"A","batch":true}`,
	`{"type":"join","id":"1","token":"Bearer a.b.c","session":""}`,
	`{"type":"answer","id":"2","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}`,
	`{"type":"candidate","id":"3","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
	`{"type":"candidate","candidate":null}`,
	`{"type":"ping","id":"4"}`,
	`{"type":"snapshot","id":"5"}`,
	`{"type":"leave","id":"6"}`,
	`{"type":"breakouts.create","id":"7","rooms":[{"name":"A","capacity":2,"durationSec":600},{"name":" "}]}`,
	`{"type":"breakouts.create","id":"7","count":3,"capacity":4,"durationSec":86400}`,
	`{"type":"breakouts.create","id":"7","count":9223372036854775807}`,
	`{"type":"breakouts.create","id":"7","count":2,"durationSec":-1}`,
	`{"type":"breakouts.create","id":"7","count":1,"durationSec":86401,"capacity":-5}`,
	`{"type":"breakouts.create","id":"7","rooms":[{"name":"` + strings.Repeat("x", 200) + `"}]}`,
	`{"type":"breakouts.assign","id":"8","mode":"manual","assignments":{"@P2":"@R1"}}`,
	`{"type":"breakouts.assign","id":"8","mode":"groups","groups":[["@P1","@P2"]],"roomIds":["@R1"],"includeStaff":true}`,
	`{"type":"breakouts.assign","id":"8","mode":"random"}`,
	`{"type":"breakouts.assign","id":"8","mode":"teleport"}`,
	`{"type":"breakouts.selfselect","id":"9","enabled":false}`,
	`{"type":"breakouts.close","id":"10","room":"@R1"}`,
	`{"type":"breakouts.close","id":"10"}`,
	`{"type":"move","id":"11","participantId":"@P2","room":"@R1"}`,
	`{"type":"move","id":"11","room":"main"}`,
	`{"type":"broadcast","id":"12","message":"back in 5"}`,
	`{"type":"broadcast","id":"12","message":""}`,
	`{"type":"mute","id":"13","participantId":"@P2","enabled":true}`,
	`{"type":"unmute.request","id":"14","participantId":"@P2"}`,
	`{"type":"remove","id":"15","participantId":"@P2","reason":"spam"}`,
	`{"type":"role","id":"16","participantId":"@P2","role":"moderator"}`,
	`{"type":"role","id":"16","participantId":"@P2","role":"god"}`,
	`{"type":"hand","id":"17","enabled":true}`,
	`{"type":"hand","id":"17","participantId":"@P2","enabled":false}`,
	`{"type":"deafen","id":"18"}`,
	`{"type":"alert","id":"19","message":"help"}`,
	`{"type":"session.end","id":"20"}`,
	`{"type":"react","id":"21","emoji":"👍🏽"}`,
	`{"type":"react","id":"21","emoji":"not one emoji at all"}`,
	`{"type":"welcome","id":"22"}`,
	`{"type":"move","id":"23","room":7}`,
	`{"type":7}`,
	`{"type":"ping","id":{}}`,
	`[]`,
	`null`,
	``,
	`{"type":"mute","id":"24","enabled":"yes"}`,
}

// fuzzDispatcher is a Server with no websocket and no timers: each input
// is dispatched by conn.dispatch, the path every text frame takes, on conns
// that have no socket; what they would have sent is read from their
// outboxes. Joins cannot succeed (the verifier's secret is random), so a
// joined conn is made directly: its participant record comes from
// rooms.Hub.Join in a session of its own.
type fuzzDispatcher struct {
	s       *Server
	router  *sfu.Router
	peer    *sfu.Peer // shared, never offered: answers and candidates fail early
	session atomic.Uint64
}

func newFuzzDispatcher(tb testing.TB) *fuzzDispatcher {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	v, err := auth.NewVerifier(auth.Config{HMACSecret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	e, err := sfu.NewEngine(sfu.Config{LoopbackOnly: true, SelectInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Verifier: v, Engine: e, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.defaults()
	// NewServer without its timer goroutine; the hub deletes sessions at
	// the first Tick after they empty or end.
	s := &Server{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}, conns: map[*conn]struct{}{},
		stopping: make(chan struct{})}
	s.hub = rooms.NewHub(rooms.Options{OnEvent: s.onEvent, IdleTTL: time.Nanosecond, EndedTTL: time.Nanosecond})
	d := &fuzzDispatcher{s: s, router: e.NewRouter(sfu.DefaultSlots)}
	d.peer, err = d.router.AddPeer("fuzz-peer", sfu.PeerHandlers{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		d.router.Close()
		_ = e.Close()
	})
	return d
}

// sent returns the messages c queued, decoded.
func sent(t *testing.T, c *conn) []map[string]any {
	t.Helper()
	raw, _, _, _ := c.out.take(nil)
	out := make([]map[string]any, 0, len(raw))
	for _, b := range raw {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("the server queued invalid JSON %q: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

// checkAnswers asserts that every error c queued carries a websocket code
// of messages.go and echoes the request's id when it had a readable one.
func checkAnswers(t *testing.T, raw []byte, msgs []map[string]any) (errs, oks []map[string]any) {
	t.Helper()
	var env Envelope
	envOK := json.Unmarshal(raw, &env) == nil
	for _, m := range msgs {
		switch m["type"] {
		case TypeError:
			code, _ := m["code"].(string)
			if !wsErrorCodes[code] {
				t.Fatalf("input %q: error code %q is not a websocket code of messages.go (message %q)", raw, code, m["message"])
			}
			if envOK && m["id"] != nil && m["id"] != env.ID {
				t.Fatalf("input %q: error echoes id %v, the request's is %q", raw, m["id"], env.ID)
			}
			errs = append(errs, m)
		case TypeOK:
			oks = append(oks, m)
		case TypePong, TypeReaction, TypeSnapshot:
		default:
			t.Fatalf("input %q: unexpected answer %v", raw, m)
		}
	}
	return errs, oks
}

// unjoined dispatches raw on a socket that has not joined: only join and
// ping may pass, and no join can succeed.
func (d *fuzzDispatcher) unjoined(t *testing.T, raw []byte) {
	c := newConn(d.s, nil)
	c.dispatch(raw)
	if c.sess != nil {
		t.Fatalf("input %q joined with a token signed by an unknown key", raw)
	}
	if _, oks := checkAnswers(t, raw, sent(t, c)); len(oks) > 0 {
		t.Fatalf("input %q: ok before a join: %v", raw, oks)
	}
}

// joined dispatches raw on a socket joined as role, in a fresh session
// that also holds a second participant and one open breakout room. It
// checks the answers, and that a refused message changed nothing while an
// accepted command's ok carries the session's new version.
func (d *fuzzDispatcher) joined(t *testing.T, raw []byte, role rooms.Role) {
	hub := d.s.hub
	sid := fmt.Sprintf("fuzz-%d", d.session.Add(1))
	host, err := hub.Join(sid, rooms.Identity{UserID: "u1", Alias: "One", Role: rooms.RoleHost})
	if err != nil {
		t.Fatal(err)
	}
	other, err := hub.Join(sid, rooms.Identity{UserID: "u2", Alias: "Two", Role: rooms.RoleParticipant})
	if err != nil {
		t.Fatal(err)
	}
	actor, target := host.Participant, other.Participant
	if role != rooms.RoleHost {
		actor, target = other.Participant, host.Participant
	}
	rs, _, err := hub.CreateBreakouts(sid, rooms.Actor{ParticipantID: host.Participant.ID}, []rooms.RoomSpec{{Name: "R"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = hub.Leave(sid, host.Participant.ID, host.Participant.Epoch)
		_ = hub.Leave(sid, other.Participant.ID, other.Participant.Epoch)
		hub.Tick(time.Now().Add(time.Hour))
		if n := hub.Sessions(); n != 0 {
			t.Fatalf("%d sessions left after the input", n)
		}
	}()
	raw = bytes.ReplaceAll(raw, []byte("@P1"), []byte(actor.ID))
	raw = bytes.ReplaceAll(raw, []byte("@P2"), []byte(target.ID))
	raw = bytes.ReplaceAll(raw, []byte("@R1"), []byte(rs[0].ID))

	c := newConn(d.s, nil)
	c.sess, c.pid, c.epoch, c.peer = newSession(sid, d.router), actor.ID, actor.Epoch, d.peer
	c.setRole(actor.Role)
	c.sess.member(c.pid).conn.Store(c)

	before, err := hub.Snapshot(sid)
	if err != nil {
		t.Fatal(err)
	}
	c.dispatch(raw)
	errs, oks := checkAnswers(t, raw, sent(t, c))
	after, err := hub.Snapshot(sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 && !reflect.DeepEqual(before, after) {
		t.Fatalf("input %q was refused (%v) but the session changed from version %d to %d",
			raw, errs[0]["code"], before.Version, after.Version)
	}
	for _, ok := range oks {
		if v, has := ok["version"].(float64); has && uint64(v) != after.Version {
			t.Fatalf("input %q: ok at version %v, the session is at %d", raw, v, after.Version)
		}
	}
}

// FuzzDispatch feeds one raw text frame to the websocket dispatch: the
// envelope parse, the decoding into each message and command type, the
// command table's permission check and the field checks (room specs,
// counts, durations, roles, emoji). For a socket that has not joined, and
// for one joined as host and as participant, it asserts: no panic; every
// refusal carries a stable websocket code of messages.go (never internal)
// and echoes the request id; a refusal leaves the session exactly as it
// was; an accepted command reports the session's new version. The test-only
// command test.panic (export_test.go) is skipped: it panics on purpose.
func FuzzDispatch(f *testing.F) {
	for _, s := range dispatchSeeds {
		f.Add([]byte(s))
	}
	d := newFuzzDispatcher(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var env Envelope
		if json.Unmarshal(raw, &env) == nil && env.Type == CmdTestPanic {
			return
		}
		d.unjoined(t, raw)
		d.joined(t, raw, rooms.RoleHost)
		d.joined(t, raw, rooms.RoleParticipant)
	})
}
