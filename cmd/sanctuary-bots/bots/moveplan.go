package bots

import (
	"math/rand/v2"
	"slices"
)

// The pure parts of a breakout run: where to move whom, and which packets
// a listener had to receive. Rooms are breakout room ids; room maps give
// each bot index's room (the host's is the main room, which is no breakout
// and never counted).

// roomCounts counts the members and the speakers of each breakout room.
func roomCounts(room map[int]string, roomIDs []string, speaker map[int]bool) (size, spk map[string]int) {
	size, spk = make(map[string]int, len(roomIDs)), make(map[string]int, len(roomIDs))
	for _, r := range roomIDs {
		size[r], spk[r] = 0, 0
	}
	for i, r := range room {
		if _, ok := size[r]; !ok {
			continue
		}
		size[r]++
		if speaker[i] {
			spk[r]++
		}
	}
	return size, spk
}

// sizeLimit is the most members a move may leave in a room: K+1, so that
// each member's K slots can carry all of the others, when n members fit in
// the rooms that way; otherwise one more than an even split, so that rooms
// stay near balanced.
func sizeLimit(n, rooms, k int) int {
	if rooms <= 0 || n <= rooms*(k+1) {
		return k + 1
	}
	return (n+rooms-1)/rooms + 1
}

// pickMove chooses the next move of a breakout run: a random bot of
// movable and a random other room of roomIDs such that afterwards no room
// holds more than sizeLimit members, no room more than k speakers (so every
// speaker is heard), and no room that had a speaker is left without one
// (so moves into it can be timed). When no move satisfies all three, it
// falls back to any bot and any other room. ok is false only when there is
// no other room to move to.
func pickMove(rnd *rand.Rand, room map[int]string, movable []int, roomIDs []string,
	speaker map[int]bool, k int) (mover int, to string, ok bool) {
	size, spk := roomCounts(room, roomIDs, speaker)
	n := 0
	for _, s := range size {
		n += s
	}
	limit := sizeLimit(n, len(roomIDs), k)
	order := rnd.Perm(len(movable))
	var targets []string
	for _, strict := range []bool{true, false} {
		for _, j := range order {
			m := movable[j]
			from := room[m]
			targets = targets[:0]
			for _, r := range roomIDs {
				if r == from {
					continue
				}
				if strict && (size[r]+1 > limit || speaker[m] && (spk[r]+1 > k || spk[from] < 2)) {
					continue
				}
				targets = append(targets, r)
			}
			if len(targets) > 0 {
				return m, targets[rnd.IntN(len(targets))], true
			}
		}
	}
	return 0, "", false
}

// spreadStep returns one move that spreads speakers, then members, evenly
// over the rooms: a speaker from the room with the most speakers to the
// room with the fewest when they differ by two or more; otherwise a
// listener from the largest room to the smallest when they differ by two
// or more. ok is false when the rooms are spread. Repeated, it ends: each
// speaker step narrows the speakers' spread and no listener step widens
// it.
func spreadStep(room map[int]string, movable []int, roomIDs []string,
	speaker map[int]bool) (mover int, to string, ok bool) {
	size, spk := roomCounts(room, roomIDs, speaker)
	if most, fewest := extremes(spk, roomIDs); spk[most]-spk[fewest] >= 2 {
		if m, ok := lastIn(room, movable, most, func(i int) bool { return speaker[i] }); ok {
			return m, fewest, true
		}
	}
	if big, small := extremes(size, roomIDs); size[big]-size[small] >= 2 {
		if m, ok := lastIn(room, movable, big, func(i int) bool { return !speaker[i] }); ok {
			return m, small, true
		}
	}
	return 0, "", false
}

// extremes returns the rooms with the largest and the smallest count,
// the first in roomIDs order on ties.
func extremes(count map[string]int, roomIDs []string) (most, fewest string) {
	for i, r := range roomIDs {
		if i == 0 || count[r] > count[most] {
			most = r
		}
		if i == 0 || count[r] < count[fewest] {
			fewest = r
		}
	}
	return most, fewest
}

// lastIn returns the highest bot index of movable in room r that
// satisfies pick.
func lastIn(room map[int]string, movable []int, r string, pick func(int) bool) (int, bool) {
	for j := len(movable) - 1; j >= 0; j-- {
		if m := movable[j]; room[m] == r && pick(m) {
			return m, true
		}
	}
	return 0, false
}

// segment is a stretch of time a bot spent settled in one room: from the
// answer to the command that put it there until shortly before the next
// command that moved it was sent. Times are Unix nanoseconds, [from, to).
type segment struct {
	room     string
	from, to int64
}

// lossRecord is what settledLoss judges a breakout run by. Times are
// Unix nanoseconds; every list of times is sorted and already cut to the
// measurement window.
type lossRecord struct {
	segs     map[int][]segment // per bot: its settled stretches
	presence map[int][]segment // per bot: the rooms it may have been in, by send time
	k        map[int]int       // per listener: its slots (0: unknown, judged strictly)
	sent     map[int][]int64   // per speaker: send times
	// recv holds, per listener and source, the send times of the packets
	// received; owed and got those the listener was owed by its slots and
	// received by them (slotAccount), for when its room held more speakers
	// than it has slots.
	recv, owed, got map[int]map[int][]int64
}

// settledLoss counts the packets the listeners had to receive and did,
// over settled time only: for each listener l and each speaker s ≠ l, the
// packets s sent while both were settled in the same room (the overlaps of
// their segments) are expected, and those of them l received are received.
// While l's room may have held more speakers other than l than l has
// slots, l was owed only what its slots carried (owed, got); otherwise
// every packet (sent, recv).
func settledLoss(lr *lossRecord, listeners []int) (expected, received uint64) {
	for _, l := range listeners {
		for s, times := range lr.sent {
			if s == l {
				continue
			}
			for _, a := range lr.segs[l] {
				for _, b := range lr.segs[s] {
					if a.room != b.room {
						continue
					}
					from, to := max(a.from, b.from), min(a.to, b.to)
					for _, p := range crowding(lr, l, a.room, from, to) {
						if p.crowded {
							expected += countIn(lr.owed[l][s], p.from, p.to)
							received += countIn(lr.got[l][s], p.from, p.to)
						} else {
							expected += countIn(times, p.from, p.to)
							received += countIn(lr.recv[l][s], p.from, p.to)
						}
					}
				}
			}
		}
	}
	return expected, received
}

// piece is a stretch of [from, to) in which a listener's room may have
// held more speakers than it has slots (crowded) or not.
type piece struct {
	from, to int64
	crowded  bool
}

// crowding cuts [from, to) into pieces by whether room may have held more
// speakers other than l than l has slots: by the speakers' presence, which
// counts a bot on its way from one room to another in both.
func crowding(lr *lossRecord, l int, room string, from, to int64) []piece {
	if from >= to {
		return nil
	}
	k := lr.k[l]
	var in []segment // the other speakers' stretches in room, within [from, to)
	cuts := []int64{from, to}
	for s := range lr.sent {
		if s == l {
			continue
		}
		for _, p := range lr.presence[s] {
			if p.room == room && p.from < to && p.to > from {
				p.from, p.to = max(p.from, from), min(p.to, to)
				in = append(in, p)
				cuts = append(cuts, p.from, p.to)
			}
		}
	}
	if k == 0 || len(in) <= k {
		return []piece{{from: from, to: to}}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []piece
	for i := 0; i+1 < len(cuts); i++ {
		n := 0
		for _, p := range in {
			if p.from <= cuts[i] && cuts[i] < p.to {
				n++
			}
		}
		c := n > k
		if len(out) > 0 && out[len(out)-1].crowded == c {
			out[len(out)-1].to = cuts[i+1]
		} else {
			out = append(out, piece{from: cuts[i], to: cuts[i+1], crowded: c})
		}
	}
	return out
}

// countIn counts the values of sorted ts in [from, to).
func countIn(ts []int64, from, to int64) uint64 {
	i, _ := slices.BinarySearch(ts, from)
	j, _ := slices.BinarySearch(ts, to)
	return uint64(j - i)
}
