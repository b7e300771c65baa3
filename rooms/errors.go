package rooms

import "errors"

// Sentinel errors. Functions of this package wrap them with %w and context
// (operation, session, participant); test for them with errors.Is.
var (
	// ErrNotFound: the session or participant does not exist (any more).
	ErrNotFound = errors.New("not found")
	// ErrStale: the call carried a connection epoch that is not the record's
	// current one; the connection was replaced and nothing was changed.
	ErrStale = errors.New("stale epoch")
	// ErrForbidden: the role may not perform the action (see Check).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: bad input, such as an empty or overlong session or user id,
	// or an unknown State.
	ErrInvalid = errors.New("invalid input")
)
