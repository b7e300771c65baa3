package rooms

import (
	"crypto/rand"
	"fmt"
	"time"
	"unicode/utf8"
)

// State is where a participant's connection is in its lifecycle:
// joining → connected → reconnecting → (connected again, or left). Left is
// not a state: a participant that left has no record.
type State string

// The connection states.
const (
	StateJoining      State = "joining"      // joined; media not yet flowing
	StateConnected    State = "connected"    // media flowing
	StateReconnecting State = "reconnecting" // websocket or ICE lost; record and room kept
)

// Valid reports whether s is one of the three states.
func (s State) Valid() bool {
	switch s {
	case StateJoining, StateConnected, StateReconnecting:
		return true
	}
	return false
}

// MainRoom is the id of every session's main room: where participants are
// when they are in no breakout room.
const MainRoom = "main"

// MaxIDBytes is the longest session id or user id Join accepts, in bytes.
const MaxIDBytes = 256

// Identity is what authentication tells about a joiner. It mirrors
// auth.Identity field for field, so that rooms need not import auth.
type Identity struct {
	UserID string // stable id of the person; required, at most MaxIDBytes
	Alias  string // display name shown to others; may be ""
	Role   Role   // the role the token claims; normalised by Join, see there
}

// Participant is one participant record of a session, as a value: the Hub
// hands out copies, and changing one changes nothing in the Hub.
type Participant struct {
	// ID is stable per (session, user): it survives takeovers, and a user
	// who leaves and rejoins while the session lives gets the same ID.
	// "p-" followed by 12 random lowercase base32 characters.
	ID       string
	UserID   string    // the Identity's UserID; at most one record per session
	Alias    string    // display name; from the latest connection's identity
	Role     Role      // never ""; kept across takeovers
	Room     string    // MainRoom or a breakout room id; always exactly one
	State    State     // lifecycle state of the current connection
	Epoch    uint64    // connection generation; grows by one on every join or takeover of this record
	JoinedAt time.Time // when this record was created (kept across takeovers)
	// Muted is a moderator's server-side mute (SetMuted): nobody hears a
	// muted participant. It is kept across takeovers, and across a leave and
	// rejoin within the session's life, so leaving does not lift it.
	Muted bool
	// Deafened: the participant chose to hear nobody (SetDeafened); others
	// still hear it. Kept across takeovers; cleared by a leave.
	Deafened bool
	// HandRaised and HandSeq: a raised hand and its place in the queue
	// (SetHand). HandSeq grows per raise within the session and is 0 while
	// the hand is down. Kept across takeovers; cleared by a leave.
	HandRaised bool
	HandSeq    uint64
}

// idAlphabet is lowercase base32 (RFC 4648 alphabet, lower-cased).
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// participantIDChars is the number of random characters in a participant
// id: 12 × 5 bits = 60 bits.
const participantIDChars = 12

// newParticipantID returns "p-" and participantIDChars random lowercase
// base32 characters from crypto/rand.
func newParticipantID() string { return randomID("p-", participantIDChars) }

// randomID returns prefix followed by n random lowercase base32 characters
// from crypto/rand.
func randomID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	out := make([]byte, len(prefix), len(prefix)+n)
	copy(out, prefix)
	for _, c := range b {
		out = append(out, idAlphabet[c&31]) // 256 is a multiple of 32: uniform
	}
	return string(out)
}

// checkID validates a session or user id: non-empty, valid UTF-8, at most
// MaxIDBytes. what names the id in the error.
func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty %s: %w", what, ErrInvalid)
	case len(id) > MaxIDBytes:
		return fmt.Errorf("%s longer than %d bytes: %w", what, MaxIDBytes, ErrInvalid)
	case !utf8.ValidString(id):
		return fmt.Errorf("%s is not valid UTF-8: %w", what, ErrInvalid)
	}
	return nil
}
