package sfu

// The router's index of its routing: for every group, the peers that speak
// in it and the peers that hear it. Selection reads it so that a subscriber
// looks only at its own group's sources, and SetRouting maintains it so that
// a change touches only the groups it changes. Everything here is guarded
// by the router's mutex.

// group is one routing group of a router: the peers of the router whose
// Speak or Hear entry names it. A group with neither is dropped.
type group struct {
	id        string  // immutable
	speakers  []*Peer // peers p with Speak[p.id] == id; p.speakAt is p's index
	listeners []*Peer // peers p with Hear[p.id] == id; p.hearAt is p's index

	// top holds the best ntop sources of speakers, best first: the K+1 a
	// subscriber's wanted set comes from (K, plus one in case the
	// subscriber itself is among them). Valid in the selection rankGen.
	top     [MaxSlots + 1]*source
	ntop    int
	rankGen uint64
}

// groupLocked returns the group id, creating it if needed.
func (r *Router) groupLocked(id string) *group {
	g := r.groups[id]
	if g == nil {
		if r.groups == nil {
			r.groups = make(map[string]*group)
		}
		g = &group{id: id}
		r.groups[id] = g
	}
	return g
}

// dropIfEmptyLocked forgets g once no peer speaks in it or hears it.
func (r *Router) dropIfEmptyLocked(g *group) {
	if len(g.speakers) == 0 && len(g.listeners) == 0 && r.groups[g.id] == g {
		delete(r.groups, g.id)
	}
}

// indexLocked rebuilds the index from r.routing and r.peers.
func (r *Router) indexLocked() {
	for _, g := range r.groups {
		for _, p := range g.speakers {
			p.speakG = nil
		}
		for _, p := range g.listeners {
			p.hearG = nil
		}
		clear(g.speakers)
		clear(g.listeners)
		g.speakers, g.listeners = g.speakers[:0], g.listeners[:0]
	}
	for _, p := range r.peers {
		if id, ok := r.routing.Hear[p.id]; ok {
			r.joinHearLocked(p, id)
		}
		if id, ok := r.routing.Speak[p.id]; ok {
			r.joinSpeakLocked(p, id)
		}
	}
	for _, g := range r.groups {
		r.dropIfEmptyLocked(g)
	}
	r.indexed = true
}

// regroupLocked brings p's entries of the index in line with r.routing. A
// peer whose Hear or Speak group changed is queued for a refill, and each
// group that gained or lost p as a speaker is recorded as changed.
func (r *Router) regroupLocked(p *Peer) {
	id, ok := r.routing.Hear[p.id]
	if !inGroup(p.hearG, id, ok) {
		r.leaveHearLocked(p)
		if ok {
			r.joinHearLocked(p, id)
		}
		r.queueLocked(p)
	}
	id, ok = r.routing.Speak[p.id]
	if !inGroup(p.speakG, id, ok) {
		if old := p.speakG; old != nil {
			r.leaveSpeakLocked(p)
			r.changedLocked(old, p.src)
		}
		if ok {
			r.changedLocked(r.joinSpeakLocked(p, id), p.src)
		}
		r.queueLocked(p)
	}
}

// inGroup reports whether a peer in group g (nil: none) is where the
// routing entry (id, ok) puts it.
func inGroup(g *group, id string, ok bool) bool {
	if g == nil {
		return !ok
	}
	return ok && g.id == id
}

// ungroupLocked takes p, removed from the router, out of the index.
func (r *Router) ungroupLocked(p *Peer) {
	r.leaveHearLocked(p)
	if g := p.speakG; g != nil {
		r.leaveSpeakLocked(p)
		r.changedLocked(g, p.src)
	}
}

func (r *Router) joinHearLocked(p *Peer, id string) {
	g := r.groupLocked(id)
	p.hearG, p.hearAt = g, len(g.listeners)
	g.listeners = append(g.listeners, p)
}

func (r *Router) joinSpeakLocked(p *Peer, id string) *group {
	g := r.groupLocked(id)
	p.speakG, p.speakAt = g, len(g.speakers)
	g.speakers = append(g.speakers, p)
	if len(g.speakers) > r.k {
		r.wakeTicker() // loudness may decide in g now: the ticker looks
	}
	return g
}

func (r *Router) leaveHearLocked(p *Peer) {
	g := p.hearG
	if g == nil {
		return
	}
	g.listeners = removeAt(g.listeners, p.hearAt, func(q *Peer) *int { return &q.hearAt })
	p.hearG = nil
	r.dropIfEmptyLocked(g)
}

func (r *Router) leaveSpeakLocked(p *Peer) {
	g := p.speakG
	if g == nil {
		return
	}
	g.speakers = removeAt(g.speakers, p.speakAt, func(q *Peer) *int { return &q.speakAt })
	p.speakG = nil
	r.dropIfEmptyLocked(g)
}

// removeAt removes list[at] in O(1): the last peer takes its place, and
// its index in the list (at, a field of the peer) follows.
func removeAt(list []*Peer, at int, index func(*Peer) *int) []*Peer {
	last := len(list) - 1
	moved := list[last]
	list[at] = moved
	*index(moved) = at
	list[last] = nil
	return list[:last]
}

// speakerChange is a group that gained or lost src as a speaker.
type speakerChange struct {
	id  string // the group's id
	src *source
}

// changedLocked records that g gained or lost src as a speaker, for
// affectedLocked to work out whose slots that can change.
func (r *Router) changedLocked(g *group, src *source) {
	r.changes = append(r.changes, speakerChange{g.id, src})
}

// queueLocked queues p to have its slots refilled in this selection.
func (r *Router) queueLocked(p *Peer) {
	if p.queuedGen != r.gen {
		p.queuedGen = r.gen
		r.queue = append(r.queue, p)
	}
}

// affectedLocked queues the subscribers whose slots the recorded speaker
// changes can change, and forgets the changes:
//   - every subscriber with a slot carrying the source (it may have to be
//     evicted);
//   - every listener of the group, if the source is among the K+1 best of
//     the group with it (K+1: a listener's wanted set is the K best other
//     than itself).
//
// A listener of the group that is in neither case keeps its slots, because
// its wanted set is the same with or without the source: if no gained
// source is among the K+1 best of the group after the change, and no lost
// one would be among the K+1 best of the group after the change with it
// added back, the K+1 best are the same before and after.
func (r *Router) affectedLocked() {
	for _, c := range r.changes {
		for _, s := range c.src.carriers {
			r.queueLocked(s.owner)
		}
		// The group by that id now: one emptied and dropped by this change
		// may have been made anew.
		g := r.groups[c.id]
		if g == nil || len(g.listeners) == 0 {
			continue
		}
		r.rankLocked(g)
		if r.inTopLocked(g, c.src) {
			for _, p := range g.listeners {
				r.queueLocked(p)
			}
		}
	}
	clear(r.changes)
	r.changes = r.changes[:0]
}

// inTopLocked reports whether src is among the K+1 best sources of g with
// src in it: g's top when src speaks in g, otherwise g's top if src were
// added to it. g is ranked in this selection.
func (r *Router) inTopLocked(g *group, src *source) bool {
	if src.peer.speakG == g {
		for _, t := range g.top[:g.ntop] {
			if t == src {
				return true
			}
		}
		return false
	}
	if g.ntop <= r.k {
		return true
	}
	r.scoreLocked(src)
	return compareSources(src, g.top[r.k]) < 0
}
