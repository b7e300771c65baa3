package webhook_test

import (
	"fmt"

	"github.com/sanctuary-sfu/sanctuary/signaling/webhook"
)

// A receiver checks X-Sanctuary-Signature against the raw body before it
// parses it, then de-duplicates by the body's id.
func ExampleVerify() {
	secret := []byte("s3cret")
	body := []byte(`{"id":"evt-1","type":"session.started","time":"2026-01-02T03:04:05Z","session":"demo","version":1}`)
	header := webhook.Sign(secret, body) // what the server sends
	fmt.Println(header)
	fmt.Println(webhook.Verify(secret, body, header), webhook.Verify([]byte("other"), body, header))
	// Output:
	// sha256=4003953fd63c89318b36fc51ba4eff776962bd0be5504c65f99bc6cf74bb8c72
	// true false
}
