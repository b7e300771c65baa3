package rooms

import "errors"

// Sentinel errors. Functions of this package wrap them with %w and context
// (operation, session, participant); test for them with errors.Is.
var (
	// ErrNotFound: the session, participant (actor or target) or room does
	// not exist (any more). A participant that left or was removed has no
	// record and is not found.
	ErrNotFound = errors.New("not found")
	// ErrStale: the call carried a connection epoch that is not the record's
	// current one; the connection was replaced and nothing was changed.
	ErrStale = errors.New("stale epoch")
	// ErrForbidden: the role may not perform the action (see Check,
	// CheckTarget). The message names the action.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: bad input, such as an empty or overlong session or user id,
	// an unknown State, an overlong text, or an empty assignment.
	ErrInvalid = errors.New("invalid input")
	// ErrRoomFull: a move or manual assignment would put more present
	// participants in a breakout room than its Capacity.
	ErrRoomFull = errors.New("room full")
	// ErrEnded: the session was ended (EndSession); it takes no join and no
	// change any more, only reads, until Tick deletes it.
	ErrEnded = errors.New("session ended")
	// ErrRemoved: the user was removed from the session (Remove) and may not
	// join it again while the session lives.
	ErrRemoved = errors.New("removed from the session")
	// ErrSessionFull: the session has Options.MaxSessionParticipants
	// present records; a new user may not join (a takeover may).
	ErrSessionFull = errors.New("session full")
	// ErrServerFull: the Hub holds Options.MaxParticipants present records,
	// or Options.MaxSessions sessions and the join would create another.
	ErrServerFull = errors.New("server full")
	// ErrRateLimited: the participant sent chat faster than ChatRate allows
	// (after a burst of ChatBurst); the message was not posted.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the Hub's Store could not be reached to read a
	// session it does not hold in memory (or has no event log: no Store).
	ErrUnavailable = errors.New("store unavailable")
)
