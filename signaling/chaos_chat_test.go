package signaling_test

// The chaos test's chat check: every room message reached exactly once
// every bot that was in its room when it was posted, whether the bot's
// socket was up then or it came back later, moved or not; it reached live
// nobody else; and a replay brought a bot only messages of a room it was
// in at or after their post.

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// chatLedger is one bot's own view, from what its sockets received (its
// OnMessage hook): the room it was in at each session version it applied,
// and how each chat message came to it.
type chatLedger struct {
	mu      sync.Mutex
	self    string                       // its participant id, from its first welcome
	version uint64                       // the newest session version applied
	rooms   []roomFrom                   // its room from a version on, in version order
	live    map[signaling.ChatRef]int    // chat frames (not replays) per message
	posted  map[signaling.ChatRef]uint64 // the version each message was posted at, as it said
	// replayedIn is, for each message a replay brought, the bot's room
	// when the replay came.
	replayedIn map[signaling.ChatRef]string
}

// roomFrom says the bot was in room from version from on; room "" is
// unknown (versions a snapshot skipped, or not in the session).
type roomFrom struct {
	from uint64
	room string
}

func newChatLedger() *chatLedger {
	return &chatLedger{live: map[signaling.ChatRef]int{}, posted: map[signaling.ChatRef]uint64{},
		replayedIn: map[signaling.ChatRef]string{}}
}

// onMessage is the bot's OnMessage hook.
func (l *chatLedger) onMessage(typ string, raw []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch typ {
	case signaling.TypeWelcome:
		var m signaling.Welcome
		if json.Unmarshal(raw, &m) == nil {
			if l.self == "" {
				l.self = m.ParticipantID
			}
			if m.Snapshot != nil { // a resume without one gets the events it missed
				l.snapshot(m.Snapshot)
			}
		}
	case signaling.TypeSnapshot:
		var m signaling.SnapshotMessage
		if json.Unmarshal(raw, &m) == nil {
			l.snapshot(&m.Snapshot)
		}
	case signaling.TypeEvent:
		var e signaling.Event
		if json.Unmarshal(raw, &e) == nil {
			if e.Version != l.version+1 {
				l.at(l.version+1, "") // a gap, which the bot counts
			}
			if room, named := l.roomIn(&e); named {
				l.at(e.Version, room)
			}
			l.version = e.Version
		}
	case signaling.TypeChat:
		var m signaling.Chat
		if json.Unmarshal(raw, &m) == nil {
			ref := signaling.ChatRef{Stream: m.Stream, Seq: m.Seq}
			l.live[ref]++
			l.posted[ref] = m.Version
		}
	case signaling.TypeChatReplay:
		var m signaling.ChatReplay
		if json.Unmarshal(raw, &m) == nil {
			room, _ := l.roomAt(l.version)
			for _, e := range m.Messages {
				ref := signaling.ChatRef{Stream: e.Stream, Seq: e.Seq}
				l.posted[ref] = e.Version
				l.replayedIn[ref] = room
			}
		}
	}
	// A message that does not decode: the bot records it as an error.
}

// snapshot applies a snapshot: the versions it skipped are unknown.
func (l *chatLedger) snapshot(s *signaling.Snapshot) {
	if len(l.rooms) > 0 && s.Version > l.version+1 {
		l.at(l.version+1, "")
	}
	room := ""
	for _, p := range s.Participants {
		if p.ID == l.self {
			room = p.Room
		}
	}
	l.at(s.Version, room)
	l.version = s.Version
}

// roomIn returns the bot's room after event e, when e names it.
func (l *chatLedger) roomIn(e *signaling.Event) (string, bool) {
	if p := e.Participant; p != nil && p.ID == l.self {
		if e.Event == rooms.EventLeft || e.Event == rooms.EventRemoved {
			return "", true
		}
		return p.Room, true
	}
	for _, p := range e.Moves {
		if p.ID == l.self {
			return p.Room, true
		}
	}
	return "", false
}

// byFrom orders a roomFrom against a version, for binary searches.
func byFrom(r roomFrom, v uint64) int { return cmp.Compare(r.from, v) }

// at records that the bot is in room from version v on.
func (l *chatLedger) at(v uint64, room string) {
	n := len(l.rooms)
	switch {
	case n > 0 && l.rooms[n-1].room == room:
	case n > 0 && l.rooms[n-1].from == v:
		l.rooms[n-1].room = room
	default:
		l.rooms = append(l.rooms, roomFrom{v, room})
	}
}

// roomAt returns the bot's room at version v, when known. l.mu held.
func (l *chatLedger) roomAt(v uint64) (string, bool) {
	i, _ := slices.BinarySearchFunc(l.rooms, v+1, byFrom)
	if i == 0 || v > l.version || l.rooms[i-1].room == "" {
		return "", false
	}
	return l.rooms[i-1].room, true
}

// inFrom reports whether the bot may have been in room at some version
// from v on: it was, or its room was unknown.
func (l *chatLedger) inFrom(room string, v uint64) bool {
	i, _ := slices.BinarySearchFunc(l.rooms, v+1, byFrom)
	for _, r := range l.rooms[max(i-1, 0):] {
		if r.room == room || r.room == "" {
			return true
		}
	}
	return false
}

// chatTally counts what checkChaosChat checked.
type chatTally struct {
	stayers, movers int // deliveries owed (the bot was in the room at the post), checked exactly once
	replayed        int // of the movers': they came in a replay after a cut
	movedAway       int // of those: the replay came when the bot was in another room
	history         int // not owed, and came in a replay: the room's history, a bot there later got
	unknown         int // the bot's room at the post is unknown (a snapshot skipped it): at most once
}

// checkChaosChat checks each accepted message (refs, all to rooms) at each
// bot: exactly once where the bot was in the room at the post, never live
// elsewhere, and in a replay only of a room the bot was in at or after the
// post. Each bot's count of every message is at most one (checked apart).
func checkChaosChat(t *testing.T, everyone []*chaosBot, refs []signaling.ChatRef) chatTally {
	t.Helper()
	for _, c := range everyone {
		c.ledger.mu.Lock()
		defer c.ledger.mu.Unlock()
	}
	var tally chatTally
	for _, ref := range refs {
		posted, known := uint64(0), false
		for _, c := range everyone {
			if v, ok := c.ledger.posted[ref]; ok {
				if known && v != posted {
					t.Errorf("message %v: posted at version %d, and at %d as bot %d got it", ref, posted, v, c.b.Index())
				}
				posted, known = v, true
			}
		}
		if !known {
			t.Errorf("message %v reached nobody, not even its sender", ref)
			continue
		}
		room, ok := strings.CutPrefix(ref.Stream, "room:")
		if !ok {
			t.Errorf("message %v is not to a room", ref)
			continue
		}
		for _, c := range everyone {
			l, n := c.ledger, c.chat.Count(ref)
			was, known := l.roomAt(posted)
			switch {
			case !known:
				tally.unknown++
			case was == room:
				if n != 1 {
					t.Errorf("bot %d was in %s when message %v was posted (version %d): got it %d times (%d live), want once",
						c.b.Index(), room, ref, posted, n, l.live[ref])
				}
				switch {
				case c.speaker:
					tally.stayers++
				default:
					tally.movers++
					if in, ok := l.replayedIn[ref]; ok {
						tally.replayed++
						if in != room {
							tally.movedAway++
						}
					}
				}
			case l.live[ref] > 0:
				t.Errorf("bot %d got message %v of %s live, posted at version %d when it was in %s: a leak",
					c.b.Index(), ref, room, posted, was)
			case n > 0 && !l.inFrom(room, posted):
				t.Errorf("bot %d got message %v of %s in a replay, and was never in %s at or after its post (version %d)",
					c.b.Index(), ref, room, room, posted)
			case n > 0:
				tally.history++
			}
		}
	}
	return tally
}
