package bots

import (
	"errors"
	"fmt"
)

// Errors of signature parsing.
var (
	// ErrNotCode3 means the Opus packet is not a code 3 (arbitrary frame
	// count) packet, so it carries no padding and no signature.
	ErrNotCode3 = errors.New("bots: opus packet is not code 3")
	// ErrNoPadding means the code 3 packet has no padding.
	ErrNoPadding = errors.New("bots: opus packet has no padding")
	// ErrTruncated means the packet ends before its declared padding or
	// signature does.
	ErrTruncated = errors.New("bots: opus packet truncated")
	// ErrBadMagic means the padding does not start with the signature magic.
	ErrBadMagic = errors.New("bots: no signature magic in opus padding")
)

// Errors of a bot's life.
var (
	// ErrUpstreamMid means AddTrack bound the microphone to another m-line
	// than the offer's upstreamMid: the offer is not what the protocol says.
	ErrUpstreamMid = errors.New("bots: microphone not bound to the upstream mid")
	// ErrClosed means the bot was closed, or the server closed its socket.
	ErrClosed = errors.New("bots: closed")
	// ErrICEFailed means the PeerConnection reached the failed state.
	ErrICEFailed = errors.New("bots: peer connection failed")
)

// ServerError is an `error` message the server answered a join or a
// command with.
type ServerError struct {
	Code    string // stable code, see signaling.Code*
	Message string // human text
}

// Error implements error.
func (e *ServerError) Error() string {
	return fmt.Sprintf("bots: server error %s: %s", e.Code, e.Message)
}
