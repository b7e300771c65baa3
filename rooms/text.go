package rooms

import (
	"fmt"
	"unicode/utf8"
)

// Text limits, in runes (Unicode code points).
const (
	MaxRoomNameRunes = 64  // Room.Name
	MaxMessageRunes  = 500 // Broadcast and Alert texts
	MaxReasonRunes   = 200 // Remove's reason
)

// checkText validates a text: valid UTF-8 of between minRunes and maxRunes
// runes. what names the text in the error, which wraps ErrInvalid.
func checkText(what, text string, minRunes, maxRunes int) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%s is not valid UTF-8: %w", what, ErrInvalid)
	}
	switch n := utf8.RuneCountInString(text); {
	case n < minRunes:
		return fmt.Errorf("%s shorter than %d characters: %w", what, minRunes, ErrInvalid)
	case n > maxRunes:
		return fmt.Errorf("%s longer than %d characters: %w", what, maxRunes, ErrInvalid)
	}
	return nil
}
