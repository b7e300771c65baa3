// Package rooms decides who may hear whom in a sanctuary session.
//
// It holds the session state that the rest of the server acts on: the
// participants of each session, their roles and connection states, the room
// each of them is in, the permission table, and a version number that grows by
// exactly one per change. It imports only the standard library: no media, no
// websocket, no other package of this module. Signaling applies its answers to
// the SFU; rooms is plain data and is tested as such.
//
// The model:
//
//   - A session is created by its first Join and deleted when its last
//     participant leaves. A new session starts at version 0; every change
//     (join, takeover, state change, leave) adds one, and each change is
//     announced by exactly one Event carrying the new version.
//   - There is at most one participant record per (session, user id). A second
//     Join of the same user takes the record over: same participant ID, role
//     and room, a new connection Epoch. Calls that name a participant carry the
//     epoch of the connection they come from; an old epoch gets ErrStale and
//     changes nothing, so a replaced connection can never undo its successor.
//   - Every participant is in exactly one room at every instant: MainRoom or a
//     breakout room. Audiences, which the SFU routes by, is computed from rooms.
//   - Every participant has a role, decided at join (see Join); what a role may
//     do is decided only by the table in permissions.go (Allowed, Check).
//
// Concurrency: a Hub is safe for concurrent use. Each session has its own
// mutex; the Hub's own lock is held only to find, create or delete a session
// entry, never while working on a session, so sessions do not contend.
package rooms
