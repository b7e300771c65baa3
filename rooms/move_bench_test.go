package rooms

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkMove measures the rooms part of a move in sessions of 100, 1,000
// and 5,000 participants: "move" is Hub.Move alone; "move+routing" is
// Hub.Move then Hub.Routing, the whole routing the SFU's SetRouting takes;
// "move+changes" is Hub.Move then Hub.RoutingChanges, what changed for the
// SFU's UpdateRouting, what the signaling server runs for every move (sfu's
// BenchmarkMove measures the SFU's part). The session is laid out as sfu's
// benchmark lays it out: half of it in breakout rooms of 8 (at most
// MaxOpenRooms rooms), the rest in the main room. The mover is a
// participant of the first room, moved to the second and back on alternate
// iterations.
func BenchmarkMove(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		h, host, mover, rooms := benchSession(b, n)
		const session = "bench"
		for _, kind := range []string{"move", "move+routing", "move+changes"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, kind), func(b *testing.B) {
				cursor, _, _, err := h.RoutingChanges(session, RoutingCursor{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					to := rooms[(i+1)%2]
					if _, err := h.Move(session, host, mover, to); err != nil {
						b.Fatal(err)
					}
					switch kind {
					case "move+routing":
						_, rt, err := h.Routing(session)
						if err != nil {
							b.Fatal(err)
						}
						if got := rt.Hear[mover]; got != to {
							b.Fatalf("the routing has the mover hearing %q, want %q", got, to)
						}
					case "move+changes":
						var changes []RouteChange
						cursor, changes, _, err = h.RoutingChanges(session, cursor)
						if err != nil {
							b.Fatal(err)
						}
						if len(changes) != 1 || changes[0].Hear != to {
							b.Fatalf("the changes are %+v, want the mover hearing %q", changes, to)
						}
					}
				}
				b.StopTimer()
				// Back to the first room for the next run.
				if _, err := h.Move(session, host, mover, rooms[0]); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// benchSession returns a Hub holding session "bench" with n present
// participants laid out as BenchmarkMove says, the host as an Actor, the
// participant id of the mover (in the first room) and the ids of the first
// two breakout rooms.
func benchSession(b *testing.B, n int) (*Hub, Actor, string, [2]string) {
	b.Helper()
	const session, roomSize = "bench", 8
	h := NewHub(Options{MaxSessionParticipants: -1, MaxParticipants: -1})
	ids := make([]string, n)
	for i := range n {
		role := RoleParticipant
		if i == 0 {
			role = RoleHost
		}
		res, err := h.Join(session, Identity{UserID: "u" + strconv.Itoa(i), Role: role})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = res.Participant.ID
	}
	host := Actor{ParticipantID: ids[0]}
	nb := min(n/2/roomSize, MaxOpenRooms)
	var open []Room
	for len(open) < nb {
		specs := make([]RoomSpec, min(nb-len(open), MaxRoomsPerCall))
		rs, _, err := h.CreateBreakouts(session, host, specs)
		if err != nil {
			b.Fatal(err)
		}
		open = append(open, rs...)
	}
	manual := map[string]string{}
	for i := 1; i <= nb*roomSize; i++ { // the host stays in the main room
		manual[ids[i]] = open[(i-1)/roomSize].ID
	}
	if _, _, err := h.Assign(session, host, Assignment{Mode: AssignManual, Manual: manual}); err != nil {
		b.Fatal(err)
	}
	return h, host, ids[roomSize], [2]string{open[0].ID, open[1].ID}
}
