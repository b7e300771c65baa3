package bots

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// ErrNotResumed is Resume's error when the server did not keep the bot's
// PeerConnection (it failed, or the grace period ended): the server then
// negotiates a new one, which a bot, whose PeerConnection is fixed, does
// not take. Close the bot and dial a new one.
var ErrNotResumed = errors.New("bots: the server did not resume the PeerConnection")

// Cut drops the bot's websocket the way a network failure does: no leave,
// no close frame, so the server keeps the record for its reconnect grace
// period. The PeerConnection is untouched and keeps sending and receiving
// (Resume continues with it; Close still has to be called). It returns once
// the socket's read loop has ended, so nothing more arrives on it. Not to
// be called from an OnMessage hook.
func (b *Bot) Cut() {
	b.wmu.Lock()
	b.cut = true
	if b.ws != nil {
		_ = b.ws.NetConn().Close()
	}
	b.wmu.Unlock()
	<-b.Done()
}

// Resume opens a new websocket after the last one ended (Cut, or a drop)
// and joins with the resume key and the last session version the bot
// applied: the server keeps the PeerConnection and sends the events
// missed since. It fails with ErrNotResumed when the server did not keep
// the PeerConnection, and with a *ServerError when it refused the join.
func (b *Bot) Resume(ctx context.Context) error {
	select {
	case <-b.Done():
	default:
		return errors.New("bots: Resume while the websocket is open; Cut it first")
	}
	b.mu.Lock()
	key, version := b.resumeKey, b.version
	b.mu.Unlock()
	b.welcomed = make(chan error, 1)
	join := signaling.Join{
		Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "resume"}, Batch: true,
		Token: b.cfg.Token, Session: b.cfg.Session, Alias: b.cfg.Alias,
		Resume: &signaling.Resume{Key: key, Version: version},
	}
	return b.joinFollowing(ctx, join)
}

// RestartICE asks the server for an ICE restart on the bot's one
// PeerConnection; the read loop answers the restart offer. It returns once
// the request is sent.
func (b *Bot) RestartICE() error {
	return b.Send(signaling.Envelope{Type: signaling.TypeICERestart, ID: "ice-restart"})
}

// resumed takes the welcome of a Resume (read loop). A welcome with a
// snapshot replaces the version; one without continues it with the events
// that follow.
func (b *Bot) resumed(m *signaling.Welcome) error {
	if !m.Resumed {
		return fmt.Errorf("%w (welcome without resumed)", ErrNotResumed)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resumeKey = m.ResumeKey
	if m.Snapshot != nil {
		b.version = m.Snapshot.Version
	}
	b.st.resumes++
	return nil
}

// applied records a session version the bot saw: an event's (counted as a
// gap unless it is the next one) or a snapshot's (reset). Read loop.
func (b *Bot) applied(version uint64, snapshot bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !snapshot && version != b.version+1 {
		b.st.versionGaps++
	}
	if snapshot || version > b.version {
		b.version = version
	}
}
