package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling/webhook"
)

// BenchmarkDeliveryLatency: session events (joins) delivered to a receiver
// on loopback, one op per event; it reports the time from the event (the
// payload's time, set when the session changed) to the receiver reading the
// body, p50 and p99, and fails if any event is missing or signed wrong.
func BenchmarkDeliveryLatency(b *testing.B) {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		bad  int
		done = make(chan struct{}, 1)
	)
	want := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		at := time.Now()
		var p webhook.Payload
		mu.Lock()
		defer mu.Unlock()
		if !webhook.Verify(secret, body, r.Header.Get(webhook.SignatureHeader)) || json.Unmarshal(body, &p) != nil {
			bad++
		}
		if p.Type == webhook.TypeParticipantJoined {
			lat = append(lat, at.Sub(p.Time))
			if len(lat) == want {
				done <- struct{}{}
			}
		}
	}))
	defer recv.Close()
	d, err := webhook.New(webhook.Config{URLs: []string{recv.URL}, Secret: secret, Queue: b.N + 16})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	hub := rooms.NewHub(rooms.Options{OnEvent: d.OnEvent, MaxSessionParticipants: -1, MaxParticipants: -1})
	want = b.N
	b.ResetTimer()
	for i := range b.N {
		// One join every 100 µs: a busy session, not a flood the queue drops.
		if _, err := hub.Join("lat", rooms.Identity{UserID: "u" + string(rune(0x4e00+i))}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d events arrived", len(lat), want)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if bad > 0 {
		b.Fatalf("%d deliveries badly signed", bad)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
