package rooms

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Store keeps session state outside a Hub's memory, so that a restarted
// server, or another server on the same Store, finds the sessions again.
// A Hub without a Store (Options.Store nil, the default) keeps everything
// in its own memory only.
//
// Every change of a session is written through Commit as one atomic step
// with its version: the Store applies a Commit only when the version it
// holds is Commit.Prev, so two Hubs working on one session can never both
// write version v+1; the loser gets ErrConflict, reloads and tries its
// operation again on the winner's state. Chat, rate limits and the
// connections themselves are not stored.
//
// Implementations must be safe for concurrent use. A Hub calls them with
// a session's lock held, with a context bounded by Options.StoreTimeout.
// An error other than ErrConflict means the Store could not be reached or
// answered badly: the Hub then keeps working from memory and writes again
// later (see Hub.StoreHealthy).
type Store interface {
	// Load returns the stored state of session and its present and past
	// members (in any order); ok is false when nothing is stored.
	Load(ctx context.Context, session string) (rec SessionRecord, members []MemberRecord, ok bool, err error)
	// Commit writes c atomically: the session record, the member records
	// in c.Members (replacing those of the same user id) and c.Events
	// (appended to the session's event log, which the Store trims to a
	// bound of its own). It fails with an error wrapping ErrConflict,
	// writing nothing, when the stored version is not c.Prev, or when
	// c.Prev is 0 and something is stored, or when the stored session was
	// created at another time than c.Record.Created (a new incarnation).
	// A Store shared by several nodes may refuse the write of a session
	// another node owns, with an error wrapping ErrNotOwner.
	Commit(ctx context.Context, c Commit) error
	// Delete removes session with its members and events if its stored
	// version is version; otherwise it fails with ErrConflict. Deleting
	// what is not stored succeeds.
	Delete(ctx context.Context, session string, version uint64) error
	// Sessions returns the ids of the stored sessions, in any order.
	Sessions(ctx context.Context) ([]string, error)
	// Events returns the stored events of session with a version above
	// after, in version order; the oldest may have been trimmed (the
	// caller sees a gap and takes a snapshot instead).
	Events(ctx context.Context, session string, after uint64) ([]Event, error)
	// Ping reports whether the Store answers.
	Ping(ctx context.Context) error
}

// ErrNotOwner: the Store refused a write because another node holds the
// session's lease (a Store shared by several nodes lets only the owner
// write). Nothing was written; the Hub drops the session and the caller
// sends its clients to the owner.
var ErrNotOwner = errors.New("another node owns the session")

// ErrConflict: a Store holds another version of the session than the
// writer expected: someone else wrote first. Nothing was written.
var ErrConflict = errors.New("version conflict")

// SessionRecord is the stored state of a session apart from its members:
// what a Hub needs to carry the session on. Slices are the holder's.
type SessionRecord struct {
	Session    string
	Created    time.Time // the incarnation: a session deleted and created again has another
	Version    uint64
	HostUserID string
	NextSeq    uint64   // join-order counter
	HandSeq    uint64   // last hand sequence issued
	Rooms      []Room   // open breakout rooms, in creation order, with their timers
	RoomIDs    []string // every breakout id issued, so none is issued twice
	SelfSelect bool
	ClosingAt  time.Time // pending close of all rooms; zero when none
	Banned     []string  // user ids removed from the session
	Ended      bool
	EndedAt    time.Time
	IdleSince  time.Time // zero while someone is present
	Stats      StatsRecord
	// Writer identifies the Hub that wrote this version (a random id per
	// Hub): a Hub whose write timed out but was applied knows it as its
	// own and carries on from it.
	Writer string
}

// StatsRecord are the stored statistics of a session; see SessionStats.
type StatsRecord struct {
	Peak, Joins, Breakouts, Moves, Removals int
}

// MemberRecord is one user's stored record in a session: present or the
// memory of one who left (id, epoch, mute, the role SetRole gave).
type MemberRecord struct {
	Participant Participant
	Present     bool
	Seq         uint64 // join order of the current record
	RoleSet     Role   // the role SetRole gave; "" when none
}

// Commit is one write of a session: its record at Record.Version, the
// members that changed since Prev, and the events from Prev+1 to
// Record.Version (fewer when the Hub could not keep them all while the
// Store was unreachable).
type Commit struct {
	Prev    uint64 // the version the writer read; 0 for a new session
	Record  SessionRecord
	Members []MemberRecord
	Events  []Event
}

// DefaultStoreTimeout bounds each Store call of a Hub.
const DefaultStoreTimeout = 2 * time.Second

// maxUnsaved bounds the events a session keeps for the Store while it is
// unreachable: the oldest are dropped beyond it (the event log then has a
// gap, which clients bridge with a snapshot).
const maxUnsaved = 4096

// recordLocked returns the session's record at its current version.
func (s *session) recordLocked() SessionRecord {
	rooms := make([]Room, len(s.rooms))
	for i, r := range s.rooms {
		rooms[i] = *r
	}
	ids := make([]string, 0, len(s.roomIDs))
	for id := range s.roomIDs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	banned := make([]string, 0, len(s.banned))
	for id := range s.banned {
		banned = append(banned, id)
	}
	slices.Sort(banned)
	return SessionRecord{
		Session: s.id, Created: s.created, Version: s.version, HostUserID: s.hostUserID,
		NextSeq: s.nextSeq, HandSeq: s.handSeq, Rooms: rooms, RoomIDs: ids, SelfSelect: s.selfSelect,
		ClosingAt: s.closingAt, Banned: banned, Ended: s.ended, EndedAt: s.endedAt, IdleSince: s.idleSince,
		Stats: StatsRecord{Peak: s.stats.peak, Joins: s.stats.joins, Breakouts: s.stats.breakouts,
			Moves: s.stats.moves, Removals: s.stats.removals},
	}
}

// record returns m as stored.
func (m *member) record() MemberRecord {
	return MemberRecord{Participant: m.p, Present: m.present, Seq: m.seq, RoleSet: m.roleSet}
}

// changedMembersLocked returns the records of the members that differ from
// what was last written, in user id order.
func (s *session) changedMembersLocked() []MemberRecord {
	var out []MemberRecord
	for uid, m := range s.users {
		if r := m.record(); s.saved[uid] != r {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b MemberRecord) int {
		switch {
		case a.Participant.UserID < b.Participant.UserID:
			return -1
		case a.Participant.UserID > b.Participant.UserID:
			return 1
		}
		return 0
	})
	return out
}

// restoreLocked replaces the stored part of the session's state by rec and
// members (chat and rate limits stay as they are), marks it all written,
// and drops the events not yet written or delivered. It returns how many
// present records the session had before and has now.
func (s *session) restoreLocked(rec SessionRecord, members []MemberRecord) (before, after int) {
	before = s.present
	s.created, s.version, s.hostUserID = rec.Created, rec.Version, rec.HostUserID
	s.nextSeq, s.handSeq, s.selfSelect = rec.NextSeq, rec.HandSeq, rec.SelfSelect
	s.rooms = make([]*Room, len(rec.Rooms))
	for i := range rec.Rooms {
		r := rec.Rooms[i]
		s.rooms[i] = &r
	}
	s.roomIDs = make(map[string]bool, len(rec.RoomIDs))
	for _, id := range rec.RoomIDs {
		s.roomIDs[id] = true
	}
	s.banned = make(map[string]bool, len(rec.Banned))
	for _, id := range rec.Banned {
		s.banned[id] = true
	}
	s.closingAt, s.ended, s.endedAt, s.idleSince = rec.ClosingAt, rec.Ended, rec.EndedAt, rec.IdleSince
	st := rec.Stats
	s.stats = counters{peak: st.Peak, joins: st.Joins, breakouts: st.Breakouts, moves: st.Moves, removals: st.Removals}
	s.routeEpoch = new(routingEpoch) // the new records know nothing of earlier passes
	s.users = make(map[string]*member, len(members))
	s.byID = make(map[string]*member, len(members))
	s.saved = make(map[string]MemberRecord, len(members))
	s.present = 0
	for _, r := range members {
		m := &member{p: r.Participant, present: r.Present, seq: r.Seq, roleSet: r.RoleSet}
		s.users[m.p.UserID] = m
		s.byID[m.p.ID] = m
		s.saved[m.p.UserID] = m.record()
		if m.present {
			s.present++
		}
	}
	s.stored = rec.Version
	s.unsaved, s.pending = nil, nil
	return before, s.present
}
