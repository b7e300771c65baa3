package sfu

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Router forwards audio among the peers of one session. It owns the
// routing (who may hear whom), chooses which sources fill each
// subscriber's K slots, and publishes the result to the hot path.
//
// Selection runs on a ticker (Config.SelectInterval) to follow loudness, in
// time linear in the number of peers (times K). Whenever the routing or the
// set of peers change, the subscribers the change affects are refilled at
// once, so a move is heard from the next packet on; that costs in proportion
// to the groups the change touches, plus one look-up per peer for a full
// SetRouting. The router's mutex guards selection state only; the packet
// path never takes it.
type Router struct {
	e     *Engine
	k     int
	clock clock

	// The session's media counters, beside the engine's: two atomic adds
	// per upstream packet, none per forwarded one.
	packetsIn, packetsOut atomic.Uint64

	mu             sync.Mutex
	peers          map[string]*Peer
	routing        Routing // the applied routing; its maps are the router's own
	routingVersion uint64  // version of the applied routing
	haveRouting    bool    // a routing was applied
	copiedRouting  bool    // routing's maps are copies UpdateRouting may change
	closed         bool

	// The index of the routing (groups.go): valid once indexed, then kept
	// in line with routing and peers by every change.
	groups  map[string]*group
	indexed bool

	// Selection state (select.go): the current selection's generation and
	// clock reading, and scratch reused from one selection to the next.
	gen     uint64
	now     int64
	queue   []*Peer         // subscribers to refill
	changes []speakerChange // groups that gained or lost a speaker
	dirty   []*source       // sources whose carriers changed since publishLocked

	// The ticker (tick) sleeps while loudness decides nothing (parkLocked);
	// wakeTicker wakes it through wake (capacity 1). idle says it sleeps
	// longer than SelectInterval.
	wake chan struct{}
	idle bool

	stop chan struct{}
	done chan struct{}
}

// NewRouter starts a router whose peers get k downstream slots (clamped to
// 1..MaxSlots). Close stops it.
func (e *Engine) NewRouter(k int) *Router {
	k = min(max(k, 1), MaxSlots)
	r := &Router{
		e: e, k: k, clock: newClock(),
		peers:   make(map[string]*Peer),
		indexed: true, // no peers, no routing: the empty index is right
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.tick()
	return r
}

// Slots is K, the number of downstream slots of every peer.
func (r *Router) Slots() int { return r.k }

// RouterStats are one router's cumulative media counters.
type RouterStats struct {
	PacketsReceived  uint64 // RTP packets read from its peers' upstream tracks
	PacketsForwarded uint64 // RTP packets written to its peers' slots
}

// Stats returns the router's media counters, for per-session rates.
func (r *Router) Stats() RouterStats {
	return RouterStats{PacketsReceived: r.packetsIn.Load(), PacketsForwarded: r.packetsOut.Load()}
}

// Routing says who may hear whom, by groups: a subscriber hears exactly the
// sources whose Speak group is its Hear group, itself excepted. A peer
// missing from Hear hears nobody; one missing from Speak is heard by nobody.
// Its size is linear in the number of peers, however large a group is.
type Routing struct {
	Hear  map[string]string // peer id → the group it hears
	Speak map[string]string // peer id → the group it is heard in
}

// SetRouting replaces the routing; the router keeps rt's maps, which the
// caller must not change afterwards. Calls carrying a version not newer than
// the last applied one are ignored, so callers racing each other cannot
// apply an older state last; it reports whether rt was applied. Slots are
// re-pointed before SetRouting returns.
//
// It costs one look-up of each peer in rt, plus a refill of the subscribers
// the change affects (see affectedLocked): those whose own entries changed,
// those with a slot carrying a source that moved, and the listeners of a
// group whose K+1 best sources it changed. Others keep their slots until
// the next tick, as they would have without the change.
func (r *Router) SetRouting(version uint64, rt Routing) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || (r.haveRouting && version <= r.routingVersion) {
		return false
	}
	r.haveRouting, r.routingVersion, r.routing, r.copiedRouting = true, version, rt, false
	if !r.indexed {
		r.selectLocked()
		return true
	}
	r.beginLocked()
	for _, p := range r.peers {
		r.regroupLocked(p)
	}
	r.refillLocked()
	return true
}

// RouteChange is one peer's entries of a Routing, for UpdateRouting: the
// group it hears when Hears, the group it is heard in when Speaks.
type RouteChange struct {
	ID     string // peer id
	Hear   string // ignored unless Hears
	Speak  string // ignored unless Speaks
	Hears  bool
	Speaks bool
}

// UpdateRouting turns the routing applied at version base into that of
// version by setting the given peers' entries; every other entry stays as
// it is. It applies only when the routing applied last is base's and
// version is newer; otherwise it changes nothing and returns false, and the
// caller hands the whole routing to SetRouting. Slots are re-pointed before
// it returns, as by SetRouting, but the cost is in proportion to the changes
// and the groups they touch, not to the number of peers (after each
// SetRouting, the first UpdateRouting copies the maps SetRouting was given,
// which it does not change).
func (r *Router) UpdateRouting(base, version uint64, changes []RouteChange) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || !r.haveRouting || r.routingVersion != base || version <= base {
		return false
	}
	r.routingVersion = version
	if !r.copiedRouting {
		r.routing = Routing{Hear: maps.Clone(r.routing.Hear), Speak: maps.Clone(r.routing.Speak)}
		if r.routing.Hear == nil {
			r.routing.Hear = map[string]string{}
		}
		if r.routing.Speak == nil {
			r.routing.Speak = map[string]string{}
		}
		r.copiedRouting = true
	}
	for _, c := range changes {
		setEntry(r.routing.Hear, c.ID, c.Hear, c.Hears)
		setEntry(r.routing.Speak, c.ID, c.Speak, c.Speaks)
	}
	if !r.indexed {
		r.selectLocked()
		return true
	}
	r.beginLocked()
	for _, c := range changes {
		if p := r.peers[c.ID]; p != nil {
			r.regroupLocked(p)
		}
	}
	r.refillLocked()
	return true
}

// setEntry sets m[id] to group when ok, and deletes it otherwise.
func setEntry(m map[string]string, id, group string, ok bool) {
	if ok {
		m[id] = group
	} else {
		delete(m, id)
	}
}

// Close stops selection and closes every peer.
func (r *Router) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	peers := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		peers = append(peers, p)
	}
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	for _, p := range peers {
		p.Close()
	}
}

// tick runs a selection every SelectInterval while loudness can change
// what someone hears, and sleeps otherwise (parkLocked): a session whose
// rooms have no more speakers than slots costs no wake-ups, and one with
// more, but no more than K of them with their microphones open at once,
// about one a second.
func (r *Router) tick() {
	defer close(r.done)
	interval := r.e.cfg.SelectInterval
	t := time.NewTimer(interval)
	defer t.Stop()
	running := true // the timer is at most an interval away
	r.e.stats.tickersRunning.Add(1)
	defer func() {
		if running {
			r.e.stats.tickersRunning.Add(-1)
		}
	}()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		case <-r.wake:
			if running {
				continue // the next tick is near anyway
			}
		}
		r.e.stats.ticks.Add(1)
		r.mu.Lock()
		wait := r.tickLocked()
		was := running
		running = wait >= 0 && wait <= interval
		r.idle = !running
		switch { // under the mutex, so that the gauge never disagrees with idle
		case running && !was:
			r.e.stats.tickersRunning.Add(1)
		case was && !running:
			r.e.stats.tickersRunning.Add(-1)
		}
		r.mu.Unlock()
		if wait >= 0 {
			t.Reset(wait)
		} else {
			t.Stop()
		}
	}
}

// wakeTicker makes a sleeping ticker tick at once; a running one ignores it.
// It never blocks.
func (r *Router) wakeTicker() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// addPeer registers p and gives it slots according to the current routing.
func (r *Router) addPeer(p *Peer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if _, dup := r.peers[p.id]; dup {
		return ErrDuplicatePeer
	}
	r.peers[p.id] = p
	if !r.indexed {
		r.selectLocked()
		return nil
	}
	r.beginLocked()
	r.regroupLocked(p)
	r.queueLocked(p)
	r.refillLocked()
	return nil
}

// removePeer unregisters p; slots carrying it fall silent or take another
// source before removePeer returns.
func (r *Router) removePeer(p *Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.peers[p.id] != p {
		return
	}
	delete(r.peers, p.id)
	for _, s := range p.slots {
		r.pointLocked(s, nil)
	}
	p.src.slots.Store(&[]*slot{})
	if !r.indexed {
		r.selectLocked()
		return
	}
	r.beginLocked()
	r.ungroupLocked(p)
	r.refillLocked()
}

// selectLocked is a full selection: it rebuilds the index from the routing
// and the peers, ranks each group heard by someone (its K+1 best sources),
// refills every subscriber's slots from its group's ranking, and publishes
// the slot lists that changed. O(peers × K).
func (r *Router) selectLocked() {
	r.beginLocked()
	r.indexLocked()
	clear(r.changes)
	r.changes = r.changes[:0]
	for _, sub := range r.peers {
		if r.fillSlots(sub) {
			sub.notifySlots()
		}
	}
	r.publishLocked()
}

// tickLocked is the ticker's selection: loudness has moved, the routing
// has not (the incremental paths apply its changes as they come, and keep
// the index). Only in a group with more than K speakers can loudness
// change what a listener hears: with K or fewer, every listener's wanted
// set is every speaker but itself, whatever their loudness, and its slots
// already hold it. So it refills the listeners of those groups alone, and
// gives what a full selection gives. O(listeners of such groups × K). It
// returns how long the ticker may wait for the next one (parkLocked).
func (r *Router) tickLocked() (wait time.Duration) {
	r.beginLocked()
	for _, g := range r.groups {
		if len(g.speakers) > r.k {
			for _, p := range g.listeners {
				r.queueLocked(p)
			}
		}
	}
	r.fillQueuedLocked()
	return r.parkLocked()
}

// parkLocked returns how long the ticker may wait after the tick that has
// just run. Of the speakers of a group with more than K of them, call loud
// the fresh ones at quietBelow or above, quiet the other fresh ones (muted
// microphones send silence), and stale the rest. The ticker runs every
// SelectInterval while some such group has more than K loud speakers, or
// one that a listener of the group does not hold (a loud voice that did not
// beat a quiet occupant by switchMargin yet). Otherwise it sleeps until the
// first fresh speaker turns stale (at least an interval), or for ever (-1)
// if none is fresh, and a packet wakes it early that makes a stale speaker
// fresh or a quiet one loud.
//
// Why that is enough: loud speakers rank above quiet ones, and quiet ones
// above stale ones. Each listener holds every loud speaker but itself, so
// their loudness can move as it likes: they stay wanted and held. A quiet
// one beats no occupant but a stale one, and after the tick no listener
// has a stale occupant while a fresh speaker it wants is not held (fresh
// beats stale). Stale ones cannot move without a packet. So the same tick
// run again changes nothing until a speaker turns fresh, loud or stale.
// (A loud speaker turning quiet needs no tick: it stays held, and no one
// it could now lose its slot to can beat it.)
//
// Each stale or quiet speaker of such a group has its wakeOn set, after
// which its lastSeen or loudness is read again (see source.heard): a change
// since the tick scored it makes the ticker run again after an interval
// instead. A flag that outlives its reason wakes the ticker once, for
// nothing.
func (r *Router) parkLocked() time.Duration {
	interval := r.e.cfg.SelectInterval
	until := int64(-1) // router clock: when the first fresh speaker turns stale
	for _, g := range r.groups {
		if len(g.speakers) <= r.k {
			continue
		}
		r.rankLocked(g) // scores all of g's speakers in this selection
		loud := 0
		for _, p := range g.speakers {
			src := p.src
			if !src.fresh {
				continue
			}
			if stale := src.seenAt + int64(staleAfter); until < 0 || stale < until {
				until = stale
			}
			if src.loud >= quietBelow {
				if loud++; loud > r.k || !heldByAllLocked(g, src) {
					return interval
				}
			}
		}
	}
	for _, g := range r.groups {
		if len(g.speakers) <= r.k {
			continue
		}
		for _, p := range g.speakers {
			src := p.src
			switch {
			case !src.fresh:
				src.wakeOn.Store(wakeOnAny)
				if src.lastSeen.Load() != src.seenAt {
					return interval
				}
			case src.loud < quietBelow:
				src.wakeOn.Store(wakeOnVoice)
				if src.loudness.Load() >= quietBelow {
					return interval
				}
			}
		}
	}
	if until < 0 {
		return -1
	}
	return max(time.Duration(until-r.now), interval)
}

// heldByAllLocked reports whether every listener of g but src's own peer
// has a slot carrying src. A subscriber holds a source in one slot at most.
func heldByAllLocked(g *group, src *source) bool {
	want := len(g.listeners)
	if src.peer.hearG == g {
		want--
	}
	held := 0
	for _, s := range src.carriers {
		if s.owner.hearG == g {
			held++
		}
	}
	return held == want
}

// refillLocked ends an incremental selection: it queues the subscribers
// the recorded speaker changes affect, refills the queued ones and
// publishes the slot lists that changed.
func (r *Router) refillLocked() {
	r.affectedLocked()
	r.fillQueuedLocked()
}

// fillQueuedLocked refills the queued subscribers, empties the queue and
// publishes the slot lists that changed.
func (r *Router) fillQueuedLocked() {
	for _, sub := range r.queue {
		if r.fillSlots(sub) {
			sub.notifySlots()
		}
	}
	clear(r.queue)
	r.queue = r.queue[:0]
	r.publishLocked()
}

// pointLocked points slot s at src (nil: silence) and keeps the carriers
// of the old and the new source in line. It reports whether the source
// changed.
func (r *Router) pointLocked(s *slot, src *source) bool {
	old := s.routed
	if old == src {
		return false
	}
	s.setSource(src)
	s.routed = src
	if old != nil {
		last := len(old.carriers) - 1
		moved := old.carriers[last]
		old.carriers[s.carrierAt], moved.carrierAt = moved, s.carrierAt
		old.carriers[last] = nil
		old.carriers = old.carriers[:last]
		r.markDirtyLocked(old)
	}
	if src != nil {
		s.carrierAt = len(src.carriers)
		src.carriers = append(src.carriers, s)
		r.markDirtyLocked(src)
	}
	return true
}

func (r *Router) markDirtyLocked(src *source) {
	if !src.dirty {
		src.dirty = true
		r.dirty = append(r.dirty, src)
	}
}

// publishLocked stores, for every source whose carriers changed since the
// last call, the new list of slots carrying it, copy-on-write, unless the
// hot path has that list already. Never per packet.
func (r *Router) publishLocked() {
	for _, src := range r.dirty {
		src.dirty = false
		if slices.Equal(*src.slots.Load(), src.carriers) {
			continue
		}
		next := slices.Clone(src.carriers)
		if next == nil {
			next = []*slot{}
		}
		src.slots.Store(&next)
	}
	clear(r.dirty)
	r.dirty = r.dirty[:0]
}
