package rooms

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemoryStore is a Store in this process's memory: what a Hub with no
// Store keeps anyway, written through the Store seam. Several Hubs
// sharing one MemoryStore behave as several nodes sharing one database
// (tests use it so); a single server gains nothing from it. It keeps the
// newest MemoryStoreEvents events per session. The zero value is not
// usable; call NewMemoryStore.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[string]*memSession // guarded by mu
}

// MemoryStoreEvents is how many events a MemoryStore keeps per session.
const MemoryStoreEvents = 1024

// memSession is one stored session: values only, never shared with a Hub.
type memSession struct {
	rec     SessionRecord
	members map[string]MemberRecord // by user id
	events  []Event                 // the newest, oldest first
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: make(map[string]*memSession)}
}

// Load implements Store.
func (m *MemoryStore) Load(_ context.Context, session string) (SessionRecord, []MemberRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.sessions[session]
	if ms == nil {
		return SessionRecord{}, nil, false, nil
	}
	members := make([]MemberRecord, 0, len(ms.members))
	for _, r := range ms.members {
		members = append(members, r)
	}
	return cloneRecord(ms.rec), members, true, nil
}

// Commit implements Store.
func (m *MemoryStore) Commit(_ context.Context, c Commit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := c.Record.Session
	ms := m.sessions[id]
	switch {
	case ms == nil && c.Prev != 0:
		return fmt.Errorf("session %q: version %d expected, none stored: %w", id, c.Prev, ErrConflict)
	case ms != nil && (ms.rec.Version != c.Prev || !ms.rec.Created.Equal(c.Record.Created)):
		return fmt.Errorf("session %q: version %d expected, %d stored: %w", id, c.Prev, ms.rec.Version, ErrConflict)
	case ms == nil:
		ms = &memSession{members: make(map[string]MemberRecord)}
		m.sessions[id] = ms
	}
	ms.rec = cloneRecord(c.Record)
	for _, r := range c.Members {
		ms.members[r.Participant.UserID] = r
	}
	for _, e := range c.Events {
		ms.events = append(ms.events, cloneEvent(e))
	}
	if n := len(ms.events) - MemoryStoreEvents; n > 0 {
		ms.events = slices.Delete(ms.events, 0, n)
	}
	return nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(_ context.Context, session string, version uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.sessions[session]
	if ms == nil {
		return nil
	}
	if ms.rec.Version != version {
		return fmt.Errorf("session %q: delete at version %d, %d stored: %w", session, version, ms.rec.Version, ErrConflict)
	}
	delete(m.sessions, session)
	return nil
}

// Sessions implements Store.
func (m *MemoryStore) Sessions(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.sessions))
	for id := range m.sessions {
		ids = append(ids, id)
	}
	return ids, nil
}

// Events implements Store.
func (m *MemoryStore) Events(_ context.Context, session string, after uint64) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.sessions[session]
	if ms == nil {
		return nil, nil
	}
	var out []Event
	for _, e := range ms.events {
		if e.Version > after {
			out = append(out, cloneEvent(e))
		}
	}
	return out, nil
}

// cloneRecord returns r with slices of its own.
func cloneRecord(r SessionRecord) SessionRecord {
	r.Rooms, r.RoomIDs, r.Banned = slices.Clone(r.Rooms), slices.Clone(r.RoomIDs), slices.Clone(r.Banned)
	return r
}

// cloneEvent returns e with slices of its own.
func cloneEvent(e Event) Event {
	e.Rooms, e.Moves = slices.Clone(e.Rooms), slices.Clone(e.Moves)
	return e
}

// Ping implements Store: a MemoryStore always answers.
func (m *MemoryStore) Ping(context.Context) error { return nil }
