package rooms

import (
	"fmt"
	"strings"
)

// Broadcast sends text to every room of the session, with one
// EventBroadcast (Message, Actor); the layer above delivers it to everyone.
// Needs ActionBroadcast. text is trimmed of surrounding spaces and must then
// be 1..MaxMessageRunes runes of UTF-8 (ErrInvalid otherwise). Broadcasts
// are events, so they take a version and are replayed to a client that
// resumes.
func (h *Hub) Broadcast(sessionID string, a Actor, text string) (uint64, error) {
	text = strings.TrimSpace(text)
	if err := checkText("broadcast", text, 1, MaxMessageRunes); err != nil {
		return 0, fmt.Errorf("rooms: broadcast: %w", err)
	}
	return h.mutate(sessionID, "broadcast", a, func(s *session, act actor) error {
		if err := Check(act.role, ActionBroadcast); err != nil {
			return err
		}
		s.emitLocked(Event{Kind: EventBroadcast, Message: text, Actor: act.id})
		return nil
	})
}

// Alert raises an emergency alert from the actor, with one EventAlert:
// Participant is the actor's record, Room the room it is in, Message the
// text, Actor its id. Who is told the details is decided above rooms with
// ActionReceiveAlerts. Needs ActionAlert (everyone). text is at most
// MaxMessageRunes runes of UTF-8 and may be "" (ErrInvalid otherwise). An
// integration Actor has no record to raise an alert from: ErrInvalid.
func (h *Hub) Alert(sessionID string, a Actor, text string) (uint64, error) {
	if err := checkText("alert", text, 0, MaxMessageRunes); err != nil {
		return 0, fmt.Errorf("rooms: alert: %w", err)
	}
	return h.mutate(sessionID, "alert", a, func(s *session, act actor) error {
		if act.m == nil {
			return fmt.Errorf("an integration cannot raise an alert: %w", ErrInvalid)
		}
		if err := Check(act.role, ActionAlert); err != nil {
			return err
		}
		s.emitLocked(Event{Kind: EventAlert, Participant: act.m.p, Room: act.m.p.Room, Message: text, Actor: act.id})
		return nil
	})
}
