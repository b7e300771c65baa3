package sfu

import "errors"

// Errors of the sfu package. Callers match them with errors.Is.
var (
	ErrClosed        = errors.New("sfu: router or peer closed")
	ErrDuplicatePeer = errors.New("sfu: a peer with this id is already in the router")
	ErrRenegotiation = errors.New("sfu: the peer was negotiated already; renegotiation is not supported")
	ErrNoOffer       = errors.New("sfu: answer before offer")
	ErrBadSDP        = errors.New("sfu: rejected SDP or candidate")

	errNoOpus = errors.New("peer did not accept Opus")
)
