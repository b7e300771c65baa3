package sfu

import (
	"slices"
	"sync"
	"time"
)

// Router forwards audio among the peers of one session. It owns the
// routing (who may hear whom), chooses which sources fill each
// subscriber's K slots, and publishes the result to the hot path.
//
// Selection runs on a ticker (Config.SelectInterval) to follow loudness, and
// at once whenever the routing or the set of peers change, so a move is heard
// from the next packet on. The router's mutex guards selection state only;
// the packet path never takes it.
type Router struct {
	e     *Engine
	k     int
	clock clock

	mu             sync.Mutex
	peers          map[string]*Peer
	routing        Routing   // the applied routing; its maps are the router's own
	routingVersion uint64    // version of the applied routing
	haveRouting    bool      // a routing was applied
	ranked         []*source // scratch for selection, reused
	closed         bool

	stop chan struct{}
	done chan struct{}
}

// NewRouter starts a router whose peers get k downstream slots (clamped to
// 1..MaxSlots). Close stops it.
func (e *Engine) NewRouter(k int) *Router {
	k = min(max(k, 1), MaxSlots)
	r := &Router{
		e: e, k: k, clock: newClock(),
		peers: make(map[string]*Peer),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go r.tick()
	return r
}

// Slots is K, the number of downstream slots of every peer.
func (r *Router) Slots() int { return r.k }

// Routing says who may hear whom, by groups: a subscriber hears exactly the
// sources whose Speak group is its Hear group, itself excepted. A peer
// missing from Hear hears nobody; one missing from Speak is heard by nobody.
// Its size is linear in the number of peers, however large a group is.
type Routing struct {
	Hear  map[string]string // peer id → the group it hears
	Speak map[string]string // peer id → the group it is heard in
}

// hears reports whether sub may hear src under rt.
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

// SetRouting replaces the routing; the router keeps rt's maps, which the
// caller must not change afterwards. Calls carrying a version not newer than
// the last applied one are ignored, so callers racing each other cannot
// apply an older state last. Slots are re-pointed before SetRouting returns.
func (r *Router) SetRouting(version uint64, rt Routing) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || (r.haveRouting && version <= r.routingVersion) {
		return
	}
	r.haveRouting, r.routingVersion, r.routing = true, version, rt
	r.selectLocked()
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

func (r *Router) tick() {
	defer close(r.done)
	t := time.NewTicker(r.e.cfg.SelectInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.mu.Lock()
			r.selectLocked()
			r.mu.Unlock()
		}
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
	r.selectLocked()
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
		s.setSource(nil)
	}
	p.src.slots.Store(&[]*slot{})
	r.selectLocked()
}

// selectLocked ranks every source once, then fills each subscriber's slots
// from the ranking filtered by its routing, and publishes the result.
func (r *Router) selectLocked() {
	now := r.clock.now()
	r.ranked = r.ranked[:0]
	for _, p := range r.peers {
		r.ranked = append(r.ranked, p.src)
	}
	slices.SortFunc(r.ranked, func(a, b *source) int { return compareSources(a, b, now) })

	switched := false
	for _, sub := range r.peers {
		if r.fillSlots(sub, now) {
			switched = true
			sub.notifySlots()
		}
	}
	if switched {
		r.publishLocked()
	}
}

// compareSources orders sources best first: fresh before stale, louder
// before quieter, then by id so the order is stable.
func compareSources(a, b *source, now int64) int {
	af, al := a.score(now)
	bf, bl := b.score(now)
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

// publishLocked rebuilds every source's slot list from the slots' current
// sources and stores the lists that changed. Runs once per selection with
// a change, never per packet.
func (r *Router) publishLocked() {
	lists := make(map[*source][]*slot, len(r.peers))
	for _, sub := range r.peers {
		for _, s := range sub.slots {
			if src := s.source(); src != nil {
				lists[src] = append(lists[src], s)
			}
		}
	}
	for _, p := range r.peers {
		next := lists[p.src]
		if !slices.Equal(*p.src.slots.Load(), next) {
			if next == nil {
				next = []*slot{}
			}
			p.src.slots.Store(&next)
		}
	}
}
