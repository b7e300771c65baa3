package rooms

import (
	"context"
	"errors"
	"fmt"
)

// maxWriteAttempts bounds how often one operation is tried again because
// other writers came first (ErrConflict): each conflict means another
// write succeeded, so reaching it means heavy contention on one session.
const maxWriteAttempts = 64

// update runs one change f on session id under its lock and, with a Store,
// writes it before its events are delivered. When another writer came
// first, the session is reloaded from the Store and f runs again on the
// winner's state, so no change is lost and no version is issued twice.
// create makes a missing session (Join); otherwise a missing one is
// ErrNotFound. f must change nothing when it fails.
func (h *Hub) update(id string, create bool, f func(s *session) error) error {
	for attempt := 1; ; attempt++ {
		s, err := h.lookup(id, create)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.dead {
			// Deleted after the lookup (by Tick, or reloaded away): it
			// left the map first, so the next lookup sees the new state.
			s.mu.Unlock()
			continue
		}
		before := s.version
		if err := f(s); err != nil && s.version == before {
			s.mu.Unlock()
			return err
		}
		again, ferr := h.finishLocked(s)
		s.mu.Unlock()
		if ferr != nil {
			return ferr
		}
		if !again {
			return err
		}
		if attempt == maxWriteAttempts {
			return fmt.Errorf("session %q: %d writes lost to other writers: %w", id, attempt, ErrConflict)
		}
	}
}

// finishLocked ends an operation on s. Without a Store events were
// delivered already. With one, a change not yet written is written; when
// another writer came first (ErrConflict) the session is reloaded (or
// dropped, when the Store no longer has it), its undelivered events are
// discarded, and finishLocked reports that the operation must run again.
// Otherwise the operation's events are delivered, written or not: while
// the Store is unreachable the session keeps working from memory, and the
// change is written later (Tick), not tried again while the Store is
// known to be unreachable.
//
// When the Store refuses the write because another node owns the session
// now (ErrNotOwner), s leaves the Hub unwritten and undelivered, and
// finishLocked returns that error: this node must not carry it on.
func (h *Hub) finishLocked(s *session) (again bool, err error) {
	if h.store == nil {
		return false, nil
	}
	if s.version != s.stored && !h.storeDown.Load() {
		err := h.commitLocked(s)
		switch {
		case errors.Is(err, ErrNotOwner):
			h.dropLocked(s)
			return false, fmt.Errorf("session %q: %w", s.id, err)
		case errors.Is(err, ErrConflict) && !h.recoverLocked(s):
			h.reloadLocked(s)
			return true, nil
		}
	}
	for _, e := range s.pending {
		h.emit(e)
	}
	s.pending = nil
	return false, nil
}

// dropLocked marks s dead and takes it out of the Hub, with its
// undelivered and unwritten events: the next lookup loads it anew.
func (h *Hub) dropLocked(s *session) {
	s.dead = true
	s.pending, s.unsaved = nil, nil
	h.participants.Add(-int64(s.present))
	h.mu.Lock() // order: session.mu, then h.mu
	if h.sessions[s.id] == s {
		delete(h.sessions, s.id)
	}
	h.mu.Unlock()
}

// commitLocked writes s's changes since the stored version.
func (h *Hub) commitLocked(s *session) error {
	c := Commit{Prev: s.stored, Record: s.recordLocked(), Members: s.changedMembersLocked()}
	c.Record.Writer = h.nodeID
	for _, e := range s.unsaved {
		if e.Version > s.stored { // after a lost answer, the Store may have some already
			c.Events = append(c.Events, e)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
	defer cancel()
	err := h.store.Commit(ctx, c)
	switch {
	case err == nil:
		s.stored, s.unsaved = s.version, nil
		for _, r := range c.Members {
			s.saved[r.Participant.UserID] = r
		}
		h.storeUp()
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotOwner):
		h.storeUp()
	default:
		h.storeFailed(s.id, err)
	}
	return err
}

// recoverLocked handles the conflicts that are not another writer's:
//
//   - the Store holds nothing of s (a Redis restarted without its data, or
//     keys expired): s is written whole, as a new session of the Store;
//   - the Store holds a version of s that this Hub wrote itself, not
//     later than s's: a write whose answer was lost (a timeout) but that
//     was applied. s carries on from it, and writes the rest.
//
// It reports whether s is now written; otherwise the caller reloads it.
func (h *Hub) recoverLocked(s *session) bool {
	ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
	defer cancel()
	rec, members, ok, err := h.store.Load(ctx, s.id)
	switch {
	case err != nil:
		return false
	case !ok:
		s.stored, s.saved = 0, make(map[string]MemberRecord)
	case rec.Writer == h.nodeID && rec.Created.Equal(s.created) && rec.Version <= s.version && rec.Version > s.stored:
		s.stored, s.saved = rec.Version, make(map[string]MemberRecord, len(members))
		for _, r := range members {
			s.saved[r.Participant.UserID] = r
		}
	default:
		return false
	}
	return h.commitLocked(s) == nil
}

// reloadLocked replaces s's state by the stored one, after another writer
// came first. When the Store has no such session any more, or cannot be
// read, s is marked dead and leaves the Hub: the next lookup loads it anew.
func (h *Hub) reloadLocked(s *session) {
	rec, members, ok, err := h.load(s.id)
	if err == nil && ok {
		before, after := s.restoreLocked(rec, members)
		h.participants.Add(int64(after - before))
		return
	}
	h.dropLocked(s)
}

// load reads session id from the Store.
func (h *Hub) load(id string) (SessionRecord, []MemberRecord, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
	defer cancel()
	rec, members, ok, err := h.store.Load(ctx, id)
	if err != nil {
		h.storeFailed(id, err)
		return SessionRecord{}, nil, false, fmt.Errorf("session %q: load: %v: %w", id, err, ErrUnavailable)
	}
	h.storeUp()
	return rec, members, ok, nil
}

// lookup returns session id: from memory, else (with a Store) loaded from
// the Store, else, when create is set, a new one (within MaxSessions).
// It returns it unlocked; the caller locks it and checks dead.
func (h *Hub) lookup(id string, create bool) (*session, error) {
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s != nil {
		return s, nil
	}
	if h.store != nil {
		rec, members, ok, err := h.load(id)
		if err != nil {
			return nil, err
		}
		if ok {
			return h.adopt(rec, members), nil
		}
	}
	if !create {
		return nil, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	return h.getOrCreate(id)
}

// adopt makes a session from its stored state and puts it in the Hub,
// unless the Hub got one meanwhile, which it returns instead.
func (h *Hub) adopt(rec SessionRecord, members []MemberRecord) *session {
	s := newSession(rec.Session, rec.Created, h.emit, true)
	s.restoreLocked(rec, members) // not shared yet: no lock needed
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.sessions[rec.Session]; cur != nil {
		return cur
	}
	h.sessions[rec.Session] = s
	h.participants.Add(int64(s.present))
	return s
}

// LoadSessions loads every session the Store holds that the Hub does not
// hold yet, so that its timers run and its records are found: what a
// restarted server calls before it serves. It returns how many it loaded;
// without a Store, 0.
func (h *Hub) LoadSessions(ctx context.Context) (int, error) {
	if h.store == nil {
		return 0, nil
	}
	ids, err := h.store.Sessions(ctx)
	if err != nil {
		h.storeFailed("", err)
		return 0, fmt.Errorf("rooms: load sessions: %v: %w", err, ErrUnavailable)
	}
	n := 0
	for _, id := range ids {
		h.mu.Lock()
		have := h.sessions[id] != nil
		h.mu.Unlock()
		if have {
			continue
		}
		rec, members, ok, err := h.load(id)
		if err != nil {
			return n, fmt.Errorf("rooms: load sessions: %w", err)
		}
		if ok {
			h.adopt(rec, members)
			n++
		}
	}
	return n, nil
}

// Events returns the stored events of session with a version above after,
// in version order, as the Store keeps them (trimmed to its bound: a
// caller that finds the first one above after+1 missed some and takes a
// Snapshot). Without a Store it fails with ErrUnavailable.
func (h *Hub) Events(session string, after uint64) ([]Event, error) {
	if h.store == nil {
		return nil, fmt.Errorf("rooms: events of %q: no store: %w", session, ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.storeTimeout)
	defer cancel()
	evs, err := h.store.Events(ctx, session, after)
	if err != nil {
		h.storeFailed(session, err)
		return nil, fmt.Errorf("rooms: events of %q: %v: %w", session, err, ErrUnavailable)
	}
	return evs, nil
}

// StoreHealthy reports whether the last call to the Store succeeded: false
// while it is unreachable (the Hub then works from memory and writes its
// changes once it is back). Always true without a Store.
func (h *Hub) StoreHealthy() bool { return !h.storeDown.Load() }

// PingStore asks the Store whether it answers, and notes the answer for
// StoreHealthy: a readiness check calls it, so that an unreachable Store
// is noticed while nothing is being written. Without a Store, nil.
func (h *Hub) PingStore(ctx context.Context) error {
	if h.store == nil {
		return nil
	}
	if err := h.store.Ping(ctx); err != nil {
		h.storeFailed("", err)
		return fmt.Errorf("rooms: ping store: %v: %w", err, ErrUnavailable)
	}
	h.storeUp()
	return nil
}

// storeUp notes a Store call that succeeded.
func (h *Hub) storeUp() { h.storeDown.Store(false) }

// storeFailed notes a Store call that failed other than by a conflict.
func (h *Hub) storeFailed(session string, err error) {
	h.storeDown.Store(true)
	if h.onStoreError != nil {
		h.onStoreError(session, err)
	}
}
