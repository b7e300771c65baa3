package rooms

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Hub. The zero value is usable.
type Options struct {
	// OnEvent, when non-nil, is called for every event, in version order
	// per session, while that session's lock is held: it must not block and
	// must not call back into the Hub (that would deadlock). Events of
	// different sessions may be delivered concurrently.
	OnEvent func(Event)
	// OnExpire, when non-nil, is told of each session Tick deletes after
	// IdleTTL without anyone present, that nobody had ended, with its
	// statistics (Ended is the time of the deletion), so that those who
	// follow sessions by their events (webhooks) learn that it is over. It
	// is called with no lock held, from Tick, and may call into the Hub.
	// With a Store, only the node whose deletion succeeded calls it.
	OnExpire func(SessionStats)
	// Now returns the current time, for JoinedAt and session creation
	// times; nil means time.Now. It is called with locks held and must be
	// cheap and not call into the Hub.
	Now func() time.Time
	// WarnBefore is how long before a breakout room's timer runs out Tick
	// warns (EventRoomWarning); 0 or less means 60 s.
	WarnBefore time.Duration
	// IdleTTL is how long Tick keeps a session with no present participant
	// before deleting it, so that its host user, bans, rooms and statistics
	// survive everyone dropping for a moment; 0 or less means 5 min.
	IdleTTL time.Duration
	// EndedTTL is how long Tick keeps an ended session (for Snapshot and
	// Stats) before deleting it; 0 or less means 24 h.
	EndedTTL time.Duration
	// MaxSessionParticipants bounds the present records of one session;
	// MaxParticipants those of the Hub; MaxSessions the sessions the Hub
	// holds (live, idle or ended). A join beyond them fails with
	// ErrSessionFull or ErrServerFull; a takeover of an existing record
	// always succeeds. 0 means the default, a negative value no bound.
	MaxSessionParticipants int
	MaxParticipants        int
	MaxSessions            int
	// Store, when non-nil, keeps every session's state outside this
	// process (see Store): each change is written before its event is
	// delivered, and sessions the Hub does not hold are loaded from it.
	// Nil keeps everything in memory.
	Store Store
	// StoreTimeout bounds each call to Store; 0 or less means
	// DefaultStoreTimeout.
	StoreTimeout time.Duration
	// OnStoreError, when non-nil, is told of every failed Store call
	// other than a conflict (session may be ""), for logging. It is
	// called with locks held and must not call into the Hub.
	OnStoreError func(session string, err error)
}

// Defaults of Options.
const (
	DefaultWarnBefore = 60 * time.Second // a minute's notice before a room closes
	DefaultIdleTTL    = 5 * time.Minute  // longer than a reconnect grace period
	DefaultEndedTTL   = 24 * time.Hour   // statistics stay a day

	DefaultMaxSessionParticipants = 2000   // a large support event, mostly listening
	DefaultMaxParticipants        = 10_000 // far beyond what one node forwards for
	DefaultMaxSessions            = 2000
)

// Hub holds the sessions of one server. It is safe for concurrent use; the
// zero Hub is not usable, call NewHub.
//
// Locking: each session has its own mutex. Hub.mu guards only the sessions
// map and is held only to find, create or delete an entry. The lock order is
// session.mu before Hub.mu (Tick deletes a session while holding the
// session's lock); Hub.mu is never held while a session lock is acquired.
type Hub struct {
	onEvent    func(Event)        // immutable; may be nil
	onExpire   func(SessionStats) // immutable; may be nil
	now        func() time.Time   // immutable; never nil
	warnBefore time.Duration      // immutable; > 0
	idleTTL    time.Duration      // immutable; > 0
	endedTTL   time.Duration      // immutable; > 0

	maxSessionParticipants, maxParticipants, maxSessions int // immutable; > 0

	store        Store                           // immutable; nil: memory only
	storeTimeout time.Duration                   // immutable; > 0
	onStoreError func(session string, err error) // immutable; may be nil
	nodeID       string                          // immutable; random, names this Hub's writes
	storeDown    atomic.Bool                     // the last Store call failed

	participants atomic.Int64 // present records over all sessions

	mu       sync.Mutex
	sessions map[string]*session // guarded by mu; only live (not dead) sessions
}

// NewHub returns an empty Hub configured by o.
func NewHub(o Options) *Hub {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	orDefault := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	bound := func(n, def int) int {
		switch {
		case n == 0:
			return def
		case n < 0:
			return math.MaxInt
		}
		return n
	}
	return &Hub{
		onEvent:                o.OnEvent,
		onExpire:               o.OnExpire,
		now:                    now,
		warnBefore:             orDefault(o.WarnBefore, DefaultWarnBefore),
		idleTTL:                orDefault(o.IdleTTL, DefaultIdleTTL),
		endedTTL:               orDefault(o.EndedTTL, DefaultEndedTTL),
		maxSessionParticipants: bound(o.MaxSessionParticipants, DefaultMaxSessionParticipants),
		maxParticipants:        bound(o.MaxParticipants, DefaultMaxParticipants),
		maxSessions:            bound(o.MaxSessions, DefaultMaxSessions),
		store:                  o.Store,
		nodeID:                 randomID("h-", 16),
		storeTimeout:           orDefault(o.StoreTimeout, DefaultStoreTimeout),
		onStoreError:           o.OnStoreError,
		sessions:               make(map[string]*session),
	}
}

// JoinResult is the outcome of Join.
type JoinResult struct {
	// Participant is the record after the join; its Epoch is the epoch of
	// this connection, to be passed to SetState and Leave.
	Participant Participant
	// Replaced is true when an earlier connection of the same user held the
	// record: the record was taken over and that connection's epoch is now
	// stale. The caller should tell that connection and close it.
	Replaced bool
	// PrevEpoch is the replaced connection's epoch, when Replaced.
	PrevEpoch uint64
	// Snapshot is the session state right after the join, consistent with
	// Participant (Snapshot.Version is the version of the join's event).
	Snapshot Snapshot
}

// Join joins the user of id to session, creating the session if it does not
// exist, and returns the record for this connection. The session id and
// id.UserID must be non-empty valid UTF-8 of at most MaxIDBytes, or Join
// returns an error wrapping ErrInvalid.
//
// A user without a record gets one: a new participant ID (or, if the user
// was in this session before and left, its old ID), room MainRoom, state
// joining, event EventJoined. Its role is decided once, here:
//
//   - the session's host user is host. The first joiner whose identity
//     claims host becomes the session's host user (a session has no host
//     user until then);
//   - a joiner that claims host but is not the session's host user is
//     moderator;
//   - a joiner that claims moderator is moderator, anyone else participant.
//
// A user whose role was set by SetRole and who left gets that role back on
// rejoin, whatever its identity claims (the host user stays host); a
// moderator's mute also outlives a leave. Hand and deafen start afresh.
//
// A user that already has a record takes it over, whatever its state: same
// ID, role, room, mute, deafen, hand and join position, Epoch + 1, state
// joining, Alias from id when id.Alias is non-empty, event EventUpdated
// with Change "takeover", Replaced true. Concurrent joins of one user are
// serialised by the session lock: exactly one of them creates the record,
// the others take it over in turn.
//
// Join fails with ErrEnded when the session was ended (until Tick deletes
// it, after which a Join starts a new session), and with ErrRemoved for a
// user removed from the session by Remove: the ban is by user id and lasts
// as long as the session (this incarnation) lives. A join that would create
// a record beyond Options.MaxSessionParticipants or MaxParticipants, or a
// session beyond MaxSessions, fails with ErrSessionFull or ErrServerFull.
func (h *Hub) Join(sessionID string, id Identity) (JoinResult, error) {
	if err := checkID("session id", sessionID); err != nil {
		return JoinResult{}, fmt.Errorf("rooms: join: %w", err)
	}
	if err := checkID("user id", id.UserID); err != nil {
		return JoinResult{}, fmt.Errorf("rooms: join session %q: %w", sessionID, err)
	}
	var res JoinResult
	err := h.update(sessionID, true, func(s *session) error {
		var err error
		res, err = s.joinLocked(id, h.now(), h.admit)
		return err
	})
	if err != nil {
		return JoinResult{}, fmt.Errorf("rooms: join: %w", err)
	}
	return res, nil
}

// admit counts one more present record for a join that creates one in s,
// or refuses it over the bounds. s.mu held.
func (h *Hub) admit(s *session) error {
	if s.present >= h.maxSessionParticipants {
		return fmt.Errorf("session %q has %d participants: %w", s.id, s.present, ErrSessionFull)
	}
	if h.participants.Add(1) > int64(h.maxParticipants) {
		h.participants.Add(-1)
		return fmt.Errorf("%d participants on this server: %w", h.maxParticipants, ErrServerFull)
	}
	return nil
}

// SetState sets the connection state of participant participantID, for the
// connection of the given epoch, with EventUpdated and Change "state". It
// returns an error wrapping ErrInvalid for an unknown state, ErrNotFound
// when the session or participant does not exist, ErrEnded when the session
// was ended, and ErrStale when epoch is not the record's current epoch (the
// connection was replaced; nothing changes). Setting the state the record
// already has is not a change: no event, no new version.
func (h *Hub) SetState(sessionID, participantID string, epoch uint64, st State) error {
	if !st.Valid() {
		return fmt.Errorf("rooms: set state of %q in session %q: state %q: %w", participantID, sessionID, st, ErrInvalid)
	}
	err := h.update(sessionID, false, func(s *session) error {
		if err := s.setStateLocked(participantID, epoch, st); err != nil {
			return fmt.Errorf("session %q: %w", sessionID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rooms: set state of %q: %w", participantID, err)
	}
	return nil
}

// Leave removes participant participantID, for the connection of the given
// epoch, with event EventLeft. It returns an error wrapping ErrNotFound when
// the session or participant does not exist, ErrEnded when the session was
// ended (its records are gone already), and ErrStale when epoch is not the
// record's current epoch (nothing changes).
//
// When the last participant leaves, the session is kept, idle, with its
// version, host user, rooms, bans and statistics: a Join within
// Options.IdleTTL continues it. Tick deletes it once idle for longer; a
// later Join then creates a new one, at version 0, with no host user.
func (h *Hub) Leave(sessionID, participantID string, epoch uint64) error {
	err := h.update(sessionID, false, func(s *session) error {
		if err := s.leaveLocked(participantID, epoch, h.now()); err != nil {
			return fmt.Errorf("session %q: %w", sessionID, err)
		}
		h.participants.Add(-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rooms: leave of %q: %w", participantID, err)
	}
	return nil
}

// Snapshot returns the state of session at its current version, or an error
// wrapping ErrNotFound for an unknown session.
func (h *Hub) Snapshot(session string) (Snapshot, error) {
	s, err := h.lockSession(session)
	if err != nil {
		return Snapshot{}, fmt.Errorf("rooms: snapshot: %w", err)
	}
	defer s.mu.Unlock()
	return s.snapshotLocked(), nil
}

// Participant returns a copy of the record participantID of session, or an
// error wrapping ErrNotFound when the session or the participant does not
// exist.
func (h *Hub) Participant(session, participantID string) (Participant, error) {
	s, err := h.lockSession(session)
	if err != nil {
		return Participant{}, fmt.Errorf("rooms: participant %q: %w", participantID, err)
	}
	defer s.mu.Unlock()
	p, err := s.participantLocked(participantID)
	if err != nil {
		return Participant{}, fmt.Errorf("rooms: session %q: %w", session, err)
	}
	return p, nil
}

// Routing returns who may hear whom in session (see Routing), together
// with the version it was computed at (both read under one lock, so they
// are consistent). A reconnecting participant is in both maps; an ended
// session has no participants, so both maps are empty. The maps are the
// caller's. ErrNotFound for an unknown session.
func (h *Hub) Routing(session string) (version uint64, rt Routing, err error) {
	s, err := h.lockSession(session)
	if err != nil {
		return 0, Routing{}, fmt.Errorf("rooms: routing: %w", err)
	}
	defer s.mu.Unlock()
	return s.version, s.routingLocked(), nil
}

// Sessions returns the number of sessions the Hub holds, for metrics: live
// ones, and idle or ended ones that Tick has not deleted yet.
func (h *Hub) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// SessionIDs returns the ids of the sessions the Hub holds (live, idle or
// ended until Tick deletes them), sorted, for the operator's view.
func (h *Hub) SessionIDs() []string {
	h.mu.Lock()
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Participants returns the number of present participant records over all
// sessions (every state), for metrics. It reads a counter, takes no lock, and may lag
// a change in progress.
func (h *Hub) Participants() int {
	return int(h.participants.Load())
}

// getOrCreate returns the live session entry for id, creating it if absent
// and the Hub holds fewer than its maximum. It holds h.mu only for the map
// access.
func (h *Hub) getOrCreate(id string) (*session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil {
		if len(h.sessions) >= h.maxSessions {
			return nil, fmt.Errorf("%d sessions on this server: %w", h.maxSessions, ErrServerFull)
		}
		s = newSession(id, h.now(), h.emit, h.store != nil)
		h.sessions[id] = s
	}
	return s, nil
}

// lockSession finds session id (in memory, or loaded from the Store) and
// returns it locked, or an error wrapping ErrNotFound or ErrUnavailable.
// The caller unlocks s.mu.
func (h *Hub) lockSession(id string) (*session, error) {
	for {
		s, err := h.lookup(id, false)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if !s.dead {
			return s, nil
		}
		// Deleted by Tick after the lookup. It left the map before its
		// lock was released, so the next lookup sees either nothing or a
		// new incarnation.
		s.mu.Unlock()
	}
}

// emit delivers an event to Options.OnEvent, if set.
func (h *Hub) emit(e Event) {
	if h.onEvent != nil {
		h.onEvent(e)
	}
}
