package sfu

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Selection benchmarks: the cost of a move (one SetRouting) and of one
// selection tick in large sessions.
//
// Their peers have no PeerConnection: selection only reads a peer's id,
// source and slots, so benchPeer builds those directly, as the fan-out
// benchmark builds sources and slots (slots are never bound: selection
// re-points them, nothing is written). The router has no ticker goroutine;
// the benchmarks call what the ticker calls.

// benchSizes are the session sizes the selection benchmarks run at.
var benchSizes = []int{100, 1000, 5000}

// benchRoomSize is the size of a breakout room in benchShape; benchMaxRooms
// the most breakout rooms it opens (rooms.MaxOpenRooms, the most a session
// may have open).
const (
	benchRoomSize = 8
	benchMaxRooms = 100
)

// benchShape places n participants as a large support event is laid out:
// half of them in breakout rooms of benchRoomSize (at most benchMaxRooms
// rooms), the rest in the main room. It returns the room of each
// participant "p<i>" and the breakout rooms' names.
func benchShape(n int) (room []string, breakouts []string) {
	nb := min(n/2/benchRoomSize, benchMaxRooms)
	for i := range nb {
		breakouts = append(breakouts, "r"+strconv.Itoa(i))
	}
	room = make([]string, n)
	for i := range n {
		if i < nb*benchRoomSize {
			room[i] = breakouts[i/benchRoomSize]
		} else {
			room[i] = "main"
		}
	}
	return room, breakouts
}

// benchRouter returns a router of k slots without a ticker, holding n
// peers "p<i>" laid out by benchShape, with the routing of that layout
// applied at version 1. Loudness is what a session in full swing shows:
// in each room one loud speaker and one quieter one (the main room has
// three loud ones), and of the others half send background noise and half
// are muted (stale, nothing on the wire). Fresh sources were last seen an
// hour ahead of the router's clock, so they stay fresh however long the
// benchmark runs.
func benchRouter(b *testing.B, n, k int) (*Router, []string) {
	b.Helper()
	r := &Router{e: &Engine{}, k: k, clock: newClock(), peers: make(map[string]*Peer, n)}
	room, _ := benchShape(n)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	fresh := r.clock.now() + int64(time.Hour)
	rt := Routing{Hear: make(map[string]string, n), Speak: make(map[string]string, n)}
	rank := map[string]int{} // members seen so far per room
	for i := range n {
		id := "p" + strconv.Itoa(i)
		p := &Peer{id: id, r: r}
		p.src = newSource(p)
		for j := range k {
			p.slots = append(p.slots, newSlot(p, j))
		}
		r.peers[id] = p
		rt.Hear[id], rt.Speak[id] = room[i], room[i]

		nth := rank[room[i]]
		rank[room[i]]++
		var dB int
		switch {
		case nth == 0 || (room[i] == "main" && nth < 3):
			dB = 60 + rng.IntN(10)
		case nth == 1:
			dB = 45 + rng.IntN(5)
		case rng.IntN(2) == 0:
			dB = 10 + rng.IntN(20)
		default:
			continue // muted: stale, silent
		}
		p.src.loudness.Store(uint32(dB * loudnessScale))
		p.src.lastSeen.Store(fresh)
	}
	r.SetRouting(1, rt)
	return r, room
}

// movedRoutings returns the routing of base with participant id in room to
// and the same with it back in from, for a benchmark to alternate.
func movedRoutings(base []string, id int, from, to string) [2]Routing {
	var rts [2]Routing
	for j, dst := range []string{to, from} {
		rt := Routing{Hear: make(map[string]string, len(base)), Speak: make(map[string]string, len(base))}
		for i, room := range base {
			if i == id {
				room = dst
			}
			p := "p" + strconv.Itoa(i)
			rt.Hear[p], rt.Speak[p] = room, room
		}
		rts[j] = rt
	}
	return rts
}

// BenchmarkMove measures one routing change that moves one quiet
// participant: "rooms" from one breakout room to another, "main" from the
// main room to a breakout room (every other iteration moves it back). Plain,
// the change is a whole routing given to SetRouting; "-delta", the mover's
// entries given to UpdateRouting. The routing maps are built before the
// timer starts: building them is the caller's cost (rooms.Hub.Routing or
// Hub.RoutingChanges, see rooms' BenchmarkMove).
func BenchmarkMove(b *testing.B) {
	for _, n := range benchSizes {
		room, breakouts := benchShape(n)
		for _, kind := range []string{"rooms", "main", "rooms-delta", "main-delta"} {
			// The mover: the last (quiet) member of breakout room 0, or the
			// last member of the main room.
			mover, to := benchRoomSize-1, breakouts[1]
			if strings.HasPrefix(kind, "main") {
				mover, to = n-1, breakouts[0]
			}
			from := room[mover]
			rts := movedRoutings(room, mover, from, to)
			id := "p" + strconv.Itoa(mover)
			deltas := [2][]RouteChange{
				{{ID: id, Hear: to, Hears: true, Speak: to, Speaks: true}},
				{{ID: id, Hear: from, Hears: true, Speak: from, Speaks: true}},
			}
			b.Run(fmt.Sprintf("n=%d/%s", n, kind), func(b *testing.B) {
				r, _ := benchRouter(b, n, DefaultSlots)
				delta := strings.HasSuffix(kind, "-delta")
				version := uint64(1)
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					version++
					if !delta {
						r.SetRouting(version, rts[i%2])
					} else if !r.UpdateRouting(version-1, version, deltas[i%2]) {
						b.Fatal("UpdateRouting refused the change")
					}
				}
				b.StopTimer()
				checkBenchSlots(b, r)
			})
		}
	}
}

// BenchmarkSelectTick measures one selection tick (what the router's
// ticker runs every Config.SelectInterval) with loudness unchanged since
// the previous tick.
func BenchmarkSelectTick(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r, _ := benchRouter(b, n, DefaultSlots)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r.mu.Lock()
				r.tickLocked()
				r.mu.Unlock()
			}
			b.StopTimer()
			checkBenchSlots(b, r)
		})
	}
}

// checkBenchSlots fails the benchmark if any slot carries a source its
// subscriber may not hear, or a subscriber hears fewer sources than it
// could: a benchmark of a selection that selects wrongly measures nothing.
func checkBenchSlots(b *testing.B, r *Router) {
	b.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	audible := map[string]int{} // fresh or not, every source in a group
	for id := range r.peers {
		if g, ok := r.routing.Speak[id]; ok {
			audible[g]++
		}
	}
	for id, p := range r.peers {
		filled := 0
		for _, s := range p.slots {
			src := s.source()
			if src == nil {
				continue
			}
			filled++
			if !r.routing.hears(p, src.peer) {
				b.Fatalf("%s's slot %d carries %s, whom it may not hear", id, s.index, src.id)
			}
		}
		g := r.routing.Hear[id]
		want := min(len(p.slots), audible[g])
		if r.routing.Speak[id] == g {
			want = min(len(p.slots), audible[g]-1)
		}
		if filled != want {
			b.Fatalf("%s hears %d sources in %q, want %d", id, filled, g, want)
		}
	}
}
