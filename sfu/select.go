package sfu

// switchMargin is how much louder a challenger must be than the quietest
// occupant it would displace from a slot: hysteresis, so two voices of
// about the same loudness do not make a slot flap between them.
const switchMargin = 6 * loudnessScale // 6 dB

// fillSlots decides the sources of sub's slots. The wanted set is the K best
// sources sub may hear (r.ranked is sorted best first). Then:
//   - an occupant sub may no longer hear, or gone, is evicted at once;
//   - an occupant still wanted keeps its slot (no needless switch);
//   - a wanted source takes a free slot, or displaces the weakest unwanted
//     occupant if it beats it by switchMargin or the occupant went stale.
//
// It reports whether any slot changed source. Called with r.mu held.
func (r *Router) fillSlots(sub *Peer, now int64) (changed bool) {
	var wanted [MaxSlots]*source
	nw := 0
	for _, src := range r.ranked {
		if nw == r.k {
			break
		}
		if r.routing.hears(sub, src.peer) {
			wanted[nw] = src
			nw++
		}
	}

	var next [MaxSlots]*source
	for i, s := range sub.slots {
		src := s.source()
		if src == nil || r.peers[src.id] != src.peer {
			continue
		}
		if r.routing.hears(sub, src.peer) {
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
			if weakest < 0 || compareSources(o, next[weakest], now) > 0 {
				weakest = i
			}
		}
		if weakest >= 0 && beats(c, next[weakest], now) {
			next[weakest] = c
		}
	}

	for i, s := range sub.slots {
		if s.setSource(next[i]) {
			changed = true
			r.e.stats.switches.Add(1)
		}
	}
	return changed
}

// beats reports whether challenger c should displace occupant o.
func beats(c, o *source, now int64) bool {
	cf, cl := c.score(now)
	of, ol := o.score(now)
	if cf != of {
		return cf
	}
	return cl > ol+switchMargin
}

func indexOf(list []*source, s *source) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
