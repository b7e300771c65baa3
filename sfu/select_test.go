package sfu

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The router refills, on a change, only the subscribers the change can
// affect, from an index of its routing by group. These tests drive a router
// through random routing changes (whole, by SetRouting, or as entries, by
// UpdateRouting), joins, leaves, loudness changes and ticks
// and compare every subscriber's slots, after every step, with the
// selection as it was before the index: every source ranked, every
// subscriber refilled from the whole ranking filtered by the routing
// (refSelect below, the old code kept as the specification).
//
// Their peers have no PeerConnection: selection reads only a peer's id,
// source and slots.

// hears reports whether sub may hear src under rt, read from its maps: the
// rule the router's index implements (hearsLocked), which the tests check
// it against.
func (rt *Routing) hears(sub, src *Peer) bool {
	if sub == src {
		return false
	}
	g, ok := rt.Hear[sub.id]
	if !ok {
		return false
	}
	h, ok := rt.Speak[src.id]
	return ok && g == h
}

// refSelect returns the slots every peer of r gets from the old full
// selection under rt, given each peer's slots before (prev).
func refSelect(r *Router, rt Routing, prev map[*Peer][]*source) map[*Peer][]*source {
	now := r.clock.now()
	score := func(s *source) (bool, uint32) { fresh, loud, _ := s.score(now); return fresh, loud }
	cmp := func(a, b *source) int {
		af, al := score(a)
		bf, bl := score(b)
		switch {
		case af != bf:
			if af {
				return -1
			}
			return 1
		case al != bl:
			if al > bl {
				return -1
			}
			return 1
		}
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	}
	beats := func(c, o *source) bool {
		cf, cl := score(c)
		of, ol := score(o)
		if cf != of {
			return cf
		}
		return cl > ol+switchMargin
	}
	var ranked []*source
	for _, p := range r.peers {
		ranked = append(ranked, p.src)
	}
	slices.SortFunc(ranked, cmp)

	out := map[*Peer][]*source{}
	for _, sub := range r.peers {
		var wanted []*source
		for _, src := range ranked {
			if len(wanted) < r.k && rt.hears(sub, src.peer) {
				wanted = append(wanted, src)
			}
		}
		next := make([]*source, len(sub.slots))
		for i, src := range prev[sub] {
			if src != nil && r.peers[src.id] == src.peer && rt.hears(sub, src.peer) {
				next[i] = src
			}
		}
		for _, c := range wanted {
			if slices.Contains(next, c) {
				continue
			}
			if free := slices.Index(next, nil); free >= 0 {
				next[free] = c
				continue
			}
			weakest := -1
			for i, o := range next {
				if slices.Contains(wanted, o) {
					continue
				}
				if weakest < 0 || cmp(o, next[weakest]) > 0 {
					weakest = i
				}
			}
			if weakest >= 0 && beats(c, next[weakest]) {
				next[weakest] = c
			}
		}
		out[sub] = next
	}
	return out
}

// slotsOf returns the current source of every slot of every peer of r.
func slotsOf(r *Router) map[*Peer][]*source {
	out := map[*Peer][]*source{}
	for _, p := range r.peers {
		for _, s := range p.slots {
			out[p] = append(out[p], s.source())
		}
	}
	return out
}

func names(srcs []*source) string {
	ids := make([]string, len(srcs))
	for i, s := range srcs {
		if s != nil {
			ids[i] = s.id
		}
	}
	return fmt.Sprint(ids)
}

// checkIndex fails the test unless r's index, slot carriers and published
// slot lists agree with its routing, its peers and its slots, and every
// slot carries a source its subscriber may hear.
func checkIndex(t *testing.T, r *Router, gone []*Peer) {
	t.Helper()
	inGroups := 0
	for _, g := range r.groups {
		if len(g.speakers)+len(g.listeners) == 0 {
			t.Fatalf("empty group %q kept", g.id)
		}
		for i, p := range g.listeners {
			if r.peers[p.id] != p || p.hearG != g || p.hearAt != i {
				t.Fatalf("group %q lists %s as listener %d wrongly", g.id, p.id, i)
			}
		}
		for i, p := range g.speakers {
			if r.peers[p.id] != p || p.speakG != g || p.speakAt != i {
				t.Fatalf("group %q lists %s as speaker %d wrongly", g.id, p.id, i)
			}
		}
		inGroups += len(g.listeners) + len(g.speakers)
	}
	want := 0
	carried := map[*source][]*slot{}
	for id, p := range r.peers {
		if h, ok := r.routing.Hear[id]; ok != (p.hearG != nil) || ok && (p.hearG.id != h || r.groups[h] != p.hearG) {
			t.Fatalf("%s hears %q (%v) in the routing, but is indexed under %v", id, h, ok, p.hearG)
		} else if ok {
			want++
		}
		if s, ok := r.routing.Speak[id]; ok != (p.speakG != nil) || ok && (p.speakG.id != s || r.groups[s] != p.speakG) {
			t.Fatalf("%s speaks in %q (%v) in the routing, but is indexed under %v", id, s, ok, p.speakG)
		} else if ok {
			want++
		}
		for _, s := range p.slots {
			src := s.source()
			if s.routed != src {
				t.Fatalf("%s's slot %d: the router thinks it carries %v, it carries %v", id, s.index, s.routed, src)
			}
			if src == nil {
				continue
			}
			if !r.routing.hears(p, src.peer) || r.peers[src.id] != src.peer {
				t.Fatalf("%s's slot %d carries %s, whom it may not hear", id, s.index, src.id)
			}
			if src.carriers[s.carrierAt] != s {
				t.Fatalf("%s's slot %d is not at its place among %s's carriers", id, s.index, src.id)
			}
			carried[src] = append(carried[src], s)
		}
	}
	if inGroups != want {
		t.Fatalf("the groups hold %d entries, the routing has %d for the router's peers", inGroups, want)
	}
	for _, p := range r.peers {
		c, pub := carried[p.src], *p.src.slots.Load()
		if len(p.src.carriers) != len(c) || len(pub) != len(c) {
			t.Fatalf("%s is carried by %d slots; %d carriers known, %d published", p.id, len(c), len(p.src.carriers), len(pub))
		}
		for _, s := range c {
			if !slices.Contains(pub, s) {
				t.Fatalf("%s's published slots lack %s's slot %d", p.id, s.owner.id, s.index)
			}
		}
	}
	for _, p := range gone {
		if n := len(*p.src.slots.Load()); n != 0 || len(p.src.carriers) != 0 || p.hearG != nil || p.speakG != nil {
			t.Fatalf("removed %s still has %d published slots, %d carriers, groups %v %v", p.id, n, len(p.src.carriers), p.hearG, p.speakG)
		}
	}
}

// TestIncrementalSelectionMatchesFullSelection: after each step,
//   - with loudness unchanged since the last tick, every subscriber's slots
//     are exactly what the old full selection gives;
//   - with loudness changed since, a subscriber whose own routing entry
//     changed, or whose slot carried a source that moved or left, has what
//     the old selection gives, and every other one has that or keeps its
//     slots (the next tick catches up);
//   - a tick gives exactly what the old full selection gives;
//   - after a tick that lets the ticker sleep (parkLocked), the loud
//     speakers' loudness can move anywhere and the quiet ones' within
//     quiet, and a tick would still change nothing.
func TestIncrementalSelectionMatchesFullSelection(t *testing.T) {
	parked := 0
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			k := 2 + int(seed%3) // 2, 3, 4: top-K+1 boundaries at several sizes
			parked += runSelectionModel(t, rng, k, 300)
		})
	}
	if parked == 0 {
		t.Fatal("no tick let the ticker sleep: what a sleeping ticker misses was never checked")
	}
	t.Logf("%d ticks let the ticker sleep", parked)
}

// runSelectionModel runs steps random steps on a router of K k and checks
// each; it returns how many ticks let the ticker sleep.
func runSelectionModel(t *testing.T, rng *rand.Rand, k, steps int) (parked int) {
	const interval = 50 * time.Millisecond
	r := &Router{e: &Engine{cfg: Config{SelectInterval: interval}}, k: k, clock: clock{start: time.Now().Add(-time.Hour)}, peers: map[string]*Peer{}}
	fresh := r.clock.now() + int64(time.Hour) // fresh for the whole test
	groups := []string{"main", "a", "b", "c", "d"}
	pool := make([]string, 24)
	for i := range pool {
		pool[i] = "p" + strconv.Itoa(i)
	}
	var gone []*Peer
	newPeer := func(id string) *Peer {
		p := &Peer{id: id, r: r}
		p.src = newSource(p)
		for i := range k {
			p.slots = append(p.slots, newSlot(p, i))
		}
		return p
	}
	setScore := func(p *Peer) {
		switch rng.IntN(4) {
		case 0: // muted: stale
			p.src.lastSeen.Store(0)
		default:
			p.src.lastSeen.Store(fresh)
		}
		// Few distinct levels, so ties (broken by id) and margins matter;
		// 0 and 3 dB are quiet (quietBelow), 8 loud within the margin.
		levels := []int{0, 3, 8, 20, 24, 30, 40, 60}
		p.src.loudness.Store(uint32(levels[rng.IntN(len(levels))] * loudnessScale))
	}
	rt := Routing{Hear: map[string]string{}, Speak: map[string]string{}}
	for _, id := range pool {
		if rng.IntN(5) > 0 {
			g := groups[rng.IntN(len(groups))]
			rt.Hear[id], rt.Speak[id] = g, g
		}
	}
	version := uint64(1)
	r.SetRouting(version, rt)
	given, givenCopy := rt, Routing{Hear: maps.Clone(rt.Hear), Speak: maps.Clone(rt.Speak)}
	for _, id := range pool[:16] {
		p := newPeer(id)
		setScore(p)
		if err := r.addPeer(p); err != nil {
			t.Fatal(err)
		}
	}
	drifted := true
	for step := range steps {
		if rng.IntN(3) == 0 { // loudness moves on between steps
			for range 1 + rng.IntN(4) {
				for _, p := range r.peers {
					setScore(p)
					break
				}
			}
			drifted = true
		}
		prev := slotsOf(r)
		must := map[*Peer]bool{} // must have the old selection's slots
		var op string
		sleeps := false // the step was a tick after which the ticker would sleep
		switch n := rng.IntN(10); {
		case n < 5: // a routing change: moves, mutes, deafens, or everyone back to main
			op = "route"
			next := Routing{Hear: maps.Clone(r.routing.Hear), Speak: maps.Clone(r.routing.Speak)}
			if rng.IntN(8) == 0 {
				for id := range next.Hear {
					next.Hear[id] = "main"
				}
				for id := range next.Speak {
					next.Speak[id] = "main"
				}
			}
			for range 1 + rng.IntN(3) {
				id := pool[rng.IntN(len(pool))]
				g := groups[rng.IntN(len(groups))]
				switch rng.IntN(5) {
				case 0:
					delete(next.Hear, id)
				case 1:
					delete(next.Speak, id)
				case 2:
					next.Speak[id] = g
				default:
					next.Hear[id], next.Speak[id] = g, g
				}
			}
			for id, p := range r.peers {
				h, hok := r.routing.Hear[id]
				h2, hok2 := next.Hear[id]
				s, sok := r.routing.Speak[id]
				s2, sok2 := next.Speak[id]
				if h != h2 || hok != hok2 {
					must[p] = true
				}
				if s != s2 || sok != sok2 {
					for q, srcs := range prev {
						if slices.Contains(srcs, p.src) {
							must[q] = true
						}
					}
				}
			}
			version++
			if rng.IntN(10) == 0 {
				r.SetRouting(version-1, Routing{}) // stale: ignored
			}
			if rng.IntN(2) == 0 {
				r.SetRouting(version, next)
				given, givenCopy = next, Routing{Hear: maps.Clone(next.Hear), Speak: maps.Clone(next.Speak)}
				break
			}
			// The same change as entries: those that changed, and a few
			// that did not.
			var changes []RouteChange
			for _, id := range pool {
				h, hok := next.Hear[id]
				s, sok := next.Speak[id]
				h0, hok0 := r.routing.Hear[id]
				s0, sok0 := r.routing.Speak[id]
				if h != h0 || hok != hok0 || s != s0 || sok != sok0 || rng.IntN(8) == 0 {
					changes = append(changes, RouteChange{ID: id, Hear: h, Hears: hok, Speak: s, Speaks: sok})
				}
			}
			if r.UpdateRouting(version-2, version, changes) || r.UpdateRouting(version-1, version-1, changes) {
				t.Fatalf("step %d: UpdateRouting applied changes to a routing the router does not have", step)
			}
			if !r.UpdateRouting(version-1, version, changes) {
				t.Fatalf("step %d: UpdateRouting refused changes to the routing the router has", step)
			}
			if !maps.Equal(r.routing.Hear, next.Hear) || !maps.Equal(r.routing.Speak, next.Speak) {
				t.Fatalf("step %d: UpdateRouting made %v, want %v", step, r.routing, next)
			}
			if !maps.Equal(given.Hear, givenCopy.Hear) || !maps.Equal(given.Speak, givenCopy.Speak) {
				t.Fatalf("step %d: UpdateRouting changed the maps SetRouting was given", step)
			}
		case n < 7: // a peer joins (maybe with the id of one that left: a takeover)
			id := pool[rng.IntN(len(pool))]
			if r.peers[id] != nil {
				continue
			}
			op = "add " + id
			p := newPeer(id)
			setScore(p)
			if err := r.addPeer(p); err != nil {
				t.Fatal(err)
			}
			must[p] = true
		case n < 8: // a peer leaves
			if len(r.peers) == 0 {
				continue
			}
			ids := slices.Sorted(maps.Keys(r.peers))
			p := r.peers[ids[rng.IntN(len(ids))]]
			op = "remove " + p.id
			r.removePeer(p)
			gone = append(gone, p)
			for q, srcs := range prev {
				if slices.Contains(srcs, p.src) {
					must[q] = true
				}
			}
		default:
			op = "tick"
			r.mu.Lock()
			wait := r.tickLocked()
			r.mu.Unlock()
			drifted = false
			for _, p := range r.peers {
				must[p] = true
			}
			sleeps = wait != interval
		}
		want := refSelect(r, r.routing, prev)
		got := slotsOf(r)
		for p, w := range want {
			g := got[p]
			if slices.Equal(g, w) {
				continue
			}
			if drifted && !must[p] && slices.Equal(g, prev[p]) {
				continue
			}
			t.Fatalf("step %d (%s, loudness drifted %v): %s has %s, the full selection gives %s (before: %s)",
				step, op, drifted, p.id, names(g), names(w), names(prev[p]))
		}
		checkIndex(t, r, gone)
		if sleeps {
			// The ticker would sleep: no tick may be needed until a speaker
			// turns fresh, loud or stale. Move the loud speakers' loudness
			// anywhere, quiet included, and the quiet ones' within quiet;
			// a tick must still give what the slots hold.
			for _, p := range r.peers {
				src := p.src
				switch {
				case src.lastSeen.Load() == 0 || rng.IntN(2) == 0: // stale ones cannot move
				case src.loudness.Load() >= quietBelow:
					src.loudness.Store(uint32(rng.IntN(128) * loudnessScale))
				default:
					src.loudness.Store(uint32(rng.IntN(quietBelow)))
				}
			}
			held := slotsOf(r)
			for p, w := range refSelect(r, r.routing, held) {
				if !slices.Equal(held[p], w) {
					t.Fatalf("step %d: after a tick that let the ticker sleep, the fresh speakers' loudness moved, "+
						"and a tick would change %s's slots from %s to %s", step, p.id, names(held[p]), names(w))
				}
			}
			parked++
		}
	}
	return parked
}

// tickerRouter is a router with K 2 and a 1 ms SelectInterval whose ticker
// runs, for peers without a PeerConnection; peer adds one with a loudness
// in dB, heard (lastSeen) at seen. idle and hears read it under its mutex.
type tickerRouter struct {
	*Router
	t *testing.T
}

func newTickerRouter(t *testing.T) tickerRouter {
	e := &Engine{cfg: Config{SelectInterval: time.Millisecond}}
	r := e.NewRouter(2)
	t.Cleanup(func() { close(r.stop); <-r.done }) // not Close: these peers have no PeerConnection
	return tickerRouter{r, t}
}

func (r tickerRouter) peer(id string, dB int, seen int64) *Peer {
	p := &Peer{id: id, r: r.Router}
	p.src = newSource(p)
	for i := range r.k {
		p.slots = append(p.slots, newSlot(p, i))
	}
	p.src.loudness.Store(uint32(dB * loudnessScale))
	p.src.lastSeen.Store(seen)
	if err := r.addPeer(p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r tickerRouter) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Router.idle
}

func (r tickerRouter) hears(p *Peer) []*source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slotsOf(r.Router)[p]
}

// TestTickerParksWhileEveryGroupFits: with K speakers or fewer in every
// group the ticker waits instead of waking every SelectInterval; a group
// that gets a (K+1)th speaker wakes it, and then loudness moves slots.
func TestTickerParksWhileEveryGroupFits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := newTickerRouter(t)
	fresh := r.clock.now() + int64(time.Hour)
	peer, idle, hears := func(id string, dB int) *Peer { return r.peer(id, dB, fresh) }, r.idle, r.hears
	a, b, c, d := peer("a", 40), peer("b", 30), peer("c", 20), peer("d", 0)
	main := map[string]string{"a": "main", "b": "main", "c": "main", "d": "main"}
	r.SetRouting(1, Routing{Hear: main, Speak: map[string]string{"a": "main", "b": "main"}})
	waitFor(ctx, t, "the ticker to park: two speakers, two slots", idle)
	if got := hears(d); !slices.Contains(got, a.src) || !slices.Contains(got, b.src) {
		t.Fatalf("d hears %s, want a and b", names(got))
	}

	// A third speaker, quieter: d keeps a and b. Then it is the loudest,
	// which only a tick can act on.
	r.UpdateRouting(1, 2, []RouteChange{{ID: "c", Hear: "main", Hears: true, Speak: "main", Speaks: true}})
	if got := hears(d); slices.Contains(got, c.src) {
		t.Fatalf("d hears %s before c is louder", names(got))
	}
	c.src.loudness.Store(60 * loudnessScale)
	waitFor(ctx, t, "a tick to give d the loudest speaker", func() bool { return slices.Contains(hears(d), c.src) })

	r.UpdateRouting(2, 3, []RouteChange{{ID: "c", Hear: "main", Hears: true}})
	waitFor(ctx, t, "the ticker to park again", idle)
}

// TestTickerSleepsWhileFewAreFresh: in a group with more speakers than
// slots, but no more than K of them heard lately, the ticker sleeps; a
// stale speaker's packet wakes it, and so does a fresh one's turning stale
// (its deadline), with nothing sent.
func TestTickerSleepsWhileFewAreFresh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := newTickerRouter(t)
	far := r.clock.now() + int64(time.Hour) // fresh for the whole test
	a, b, c, d := r.peer("a", 40, far), r.peer("b", 50, 0), r.peer("c", 20, 0), r.peer("d", 0, 0)
	main := map[string]string{"a": "main", "b": "main", "c": "main", "d": "main"}
	r.SetRouting(1, Routing{Hear: main, Speak: main})

	// Four speakers, K 2, one fresh: d hears a, and b, the loudest stale.
	waitFor(ctx, t, "the ticker to sleep: one fresh speaker of four", r.idle)
	if got := r.hears(d); !slices.Contains(got, a.src) || !slices.Contains(got, b.src) {
		t.Fatalf("d hears %s, want a and b", names(got))
	}

	// c speaks: its first packet wakes the ticker, and d hears it in
	// place of b, who is silent. c goes on sending while the test waits,
	// so that it stays fresh however slow the machine.
	c.src.loudness.Store(60 * loudnessScale)
	c.src.heard(r.clock.now())
	waitFor(ctx, t, "c's packet to wake the ticker and d to hear c", func() bool {
		c.src.heard(r.clock.now())
		got := r.hears(d)
		return slices.Contains(got, a.src) && slices.Contains(got, c.src)
	})
	waitFor(ctx, t, "the ticker to sleep: two fresh speakers, two slots", func() bool {
		c.src.heard(r.clock.now())
		return r.idle()
	})

	// c's loudness falls below b's and c sends nothing more. No packet
	// wakes the ticker now; a second later c is stale, and the deadline
	// the ticker slept to gives d b, the louder of the two silent ones.
	c.src.loudness.Store(20 * loudnessScale)
	waitFor(ctx, t, "c to turn stale and the ticker to give d b again", func() bool {
		got := r.hears(d)
		return slices.Contains(got, a.src) && slices.Contains(got, b.src)
	})
	waitFor(ctx, t, "the ticker to sleep again", r.idle)
}

// TestTickerSleepsWhileMutedSendSilence: muted browsers keep sending, at
// the level of silence. With one open microphone and three muted ones for
// two slots the ticker sleeps; a muted speaker that starts talking wakes it
// with its packet, and is heard.
func TestTickerSleepsWhileMutedSendSilence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := newTickerRouter(t)
	far := r.clock.now() + int64(time.Hour) // fresh for the whole test
	a, b, c, d := r.peer("a", 40, far), r.peer("b", 0, far), r.peer("c", 0, far), r.peer("d", 0, far)
	main := map[string]string{"a": "main", "b": "main", "c": "main", "d": "main"}
	r.SetRouting(1, Routing{Hear: main, Speak: main})

	waitFor(ctx, t, "the ticker to sleep: one open microphone of four", r.idle)
	if got := r.hears(d); !slices.Contains(got, a.src) || !slices.Contains(got, b.src) {
		t.Fatalf("d hears %s, want a and b (silent, first by id)", names(got))
	}

	// Silence from c changes nothing and wakes nobody; then c talks.
	for range 10 {
		c.src.observeLevel(127, c.src.levelTS+frameTicks)
		c.src.heard(far)
	}
	if !r.idle() || slices.Contains(r.hears(d), c.src) {
		t.Fatalf("c's silence woke the ticker (idle %v) or gave d c: d hears %s", r.idle(), names(r.hears(d)))
	}
	c.src.observeLevel(127-60, c.src.levelTS+frameTicks) // -60 dBov
	c.src.heard(far)
	waitFor(ctx, t, "c's voice to wake the ticker and d to hear c", func() bool {
		got := r.hears(d)
		return slices.Contains(got, a.src) && slices.Contains(got, c.src)
	})
	waitFor(ctx, t, "the ticker to sleep: two open microphones, two slots", r.idle)
}
