// Package rooms decides who may hear whom in a sanctuary session.
//
// It holds the session state that the rest of the server acts on: the
// participants of each session, their roles and connection states, the room
// each of them is in, the breakout rooms, the permission table, and a
// version number that grows by exactly one per change. It imports only the
// standard library: no media, no websocket, no other package of this
// module. Signaling applies its answers to the SFU; rooms is plain data and
// is tested as such.
//
// The model:
//
//   - A session is created by its first Join. A new session starts at
//     version 0; every change adds one, and each change is announced by
//     exactly one Event carrying the new version. Every operation (a join, a
//     move, an assignment of forty people, closing all rooms) is one atomic
//     step under the session's lock: one version, one event. An operation
//     that would change nothing (moving someone into the room it is in,
//     muting the muted) succeeds with no event and returns the current
//     version.
//   - There is at most one participant record per (session, user id). A second
//     Join of the same user takes the record over: same participant ID, role,
//     room, mute and hand, a new connection Epoch. Calls that name a
//     participant's connection carry its epoch; an old epoch gets ErrStale
//     and changes nothing, so a replaced connection can never undo its
//     successor.
//   - Every present participant is in exactly one room at every instant:
//     MainRoom or an open breakout room (breakouts.go, assign.go). Moves,
//     assignments, visits, closes and takeovers never change a role.
//     Routing, which the SFU routes by, is computed from rooms, mutes and
//     deafens (audience.go); RoutingChanges gives a reader only what changed
//     in it since it last read.
//   - Every participant has a role, decided at join (see Join) and changed
//     only by SetRole; what a role may do is decided only in permissions.go
//     (Allowed, Check, CheckTarget and the rule for moving oneself). The
//     caller of an operation is an Actor: a participant, whose current role
//     counts, or a server-side integration with the role of its token.
//   - A session outlives a moment with nobody present: when the last
//     participant leaves it is kept, idle, with its host user, rooms, bans
//     and statistics, and Tick deletes it after Options.IdleTTL. EndSession
//     ends it for everyone; Tick deletes it Options.EndedTTL later. Tick also
//     runs the breakout timers (timers.go) and the countdown of closing every
//     room, which the server keeps whoever is connected (closeall.go).
//
// Storage: by default a Hub keeps its sessions in memory only. With
// Options.Store (store.go; persist.go has the Hub's side) every change is
// written to the Store with its version before its event is delivered,
// and a session the Hub does not hold is loaded from it: a restarted
// server, or several servers on one Store, carry the same sessions on.
// The Store applies a write only at the version the writer read, so two
// Hubs can never both issue version v+1: the loser reloads the session and
// runs its operation again on the winner's state. Once a Store call has
// failed, no operation writes (nor waits on a write) until a call succeeds
// again, such as the ping each Tick makes meanwhile; Tick then writes what
// was missed. MemoryStore is a Store
// in memory (tests; several Hubs in one process); rooms/redisstore is the
// Redis one.
//
// Concurrency: a Hub is safe for concurrent use. Each session has its own
// mutex; the Hub's own lock is held only to find, create or delete a session
// entry, never while working on a session, so sessions do not contend.
// Events are delivered under the session's lock, in version order.
package rooms
