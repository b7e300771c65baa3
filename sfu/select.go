package sfu

// switchMargin is how much louder a challenger must be than the quietest
// occupant it would displace from a slot: hysteresis, so two voices of
// about the same loudness do not make a slot flap between them.
const switchMargin = 6 * loudnessScale // 6 dB

// A selection is one pass of the router under its mutex: the ticker's
// (tickLocked), a full one (selectLocked, before the routing is indexed) or
// an incremental one (SetRouting, a peer added or removed). Each takes its own clock reading and generation; within it every
// source is scored once and every group ranked at most once.

// beginLocked starts a selection.
func (r *Router) beginLocked() {
	r.gen++
	r.now = r.clock.now()
}

// scoreLocked snapshots src's score for this selection, once: ranking and
// comparisons then see one consistent value, however the reader goroutine
// moves the live one meanwhile.
func (r *Router) scoreLocked(src *source) {
	if src.scoredGen != r.gen {
		src.scoredGen = r.gen
		src.fresh, src.loud, src.seenAt = src.score(r.now)
	}
}

// rankLocked finds the K+1 best sources of g, once per selection, in one
// pass over its speakers: O(speakers × K) at worst, no sort.
func (r *Router) rankLocked(g *group) {
	if g.rankGen == r.gen {
		return
	}
	g.rankGen = r.gen
	limit := min(r.k+1, len(g.speakers))
	g.ntop = 0
	for _, p := range g.speakers {
		src := p.src
		r.scoreLocked(src)
		i := g.ntop
		if i == limit {
			if compareSources(src, g.top[i-1]) >= 0 {
				continue
			}
			i-- // src takes the last place, then moves up
		} else {
			g.ntop++
		}
		for ; i > 0 && compareSources(src, g.top[i-1]) < 0; i-- {
			g.top[i] = g.top[i-1]
		}
		g.top[i] = src
	}
	clear(g.top[g.ntop:])
}

// hearsLocked reports whether sub may hear src under the applied routing:
// another peer that speaks in the group sub hears. A peer removed from the
// router is in no group.
func hearsLocked(sub, src *Peer) bool {
	return sub != src && sub.hearG != nil && sub.hearG == src.speakG
}

// fillSlots decides the sources of sub's slots. The wanted set is the K best
// sources sub may hear (the best of its group's ranking, itself excepted).
// Then:
//   - an occupant sub may no longer hear, or gone, is evicted at once;
//   - an occupant still wanted keeps its slot (no needless switch);
//   - a wanted source takes a free slot, or displaces the weakest unwanted
//     occupant if it beats it by switchMargin or the occupant went stale.
//
// It reports whether any slot changed source. Called with r.mu held, in a
// selection.
func (r *Router) fillSlots(sub *Peer) (changed bool) {
	var wanted [MaxSlots]*source
	nw := 0
	if g := sub.hearG; g != nil {
		r.rankLocked(g)
		for _, src := range g.top[:g.ntop] {
			if nw == r.k {
				break
			}
			if src.peer != sub {
				wanted[nw] = src
				nw++
			}
		}
	}

	// Occupants sub may still hear speak in its group, which is ranked in
	// this selection: their scores are this selection's too.
	var next [MaxSlots]*source
	for i, s := range sub.slots {
		if src := s.routed; src != nil && hearsLocked(sub, src.peer) {
			next[i] = src
		}
	}

	k := len(sub.slots)
	for _, c := range wanted[:nw] {
		if indexOf(next[:k], c) >= 0 {
			continue
		}
		if free := indexOf(next[:k], nil); free >= 0 {
			next[free] = c
			continue
		}
		weakest := -1
		for i, o := range next[:k] {
			if indexOf(wanted[:nw], o) >= 0 {
				continue
			}
			if weakest < 0 || compareSources(o, next[weakest]) > 0 {
				weakest = i
			}
		}
		if weakest >= 0 && beats(c, next[weakest]) {
			next[weakest] = c
		}
	}

	for i, s := range sub.slots {
		if r.pointLocked(s, next[i]) {
			changed = true
			r.e.stats.switches.Add(1)
		}
	}
	return changed
}

// compareSources orders sources by their scores of this selection, best
// first: fresh before stale, louder before quieter, then by id so the order
// is total.
func compareSources(a, b *source) int {
	switch {
	case a.fresh != b.fresh:
		if a.fresh {
			return -1
		}
		return 1
	case a.loud != b.loud:
		if a.loud > b.loud {
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

// beats reports whether challenger c should displace occupant o, by their
// scores of this selection.
func beats(c, o *source) bool {
	if c.fresh != o.fresh {
		return c.fresh
	}
	return c.loud > o.loud+switchMargin
}

func indexOf(list []*source, s *source) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
