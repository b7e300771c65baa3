package sfu

import (
	"fmt"
	"log/slog"
	"strconv"
	"testing"
)

// BenchmarkPeerOffer is the server's own work in a join before the
// client answers: a PeerConnection with its upstream and K slots, and the
// offer (CreateOffer, SetLocalDescription, the candidates of the engine's
// UDP mux), then the peer's close. One op is one join's offer; the
// allocations are what a join leaves for the collector.
func BenchmarkPeerOffer(b *testing.B) {
	for _, k := range []int{2, 10} {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			_, r, closeRouter := newTestRouter(b, Config{LoopbackOnly: true, UDPPort: freeUDPPort(b),
				Logger: slog.New(slog.DiscardHandler)}, k)
			defer closeRouter()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p, err := r.AddPeer("p"+strconv.Itoa(i), PeerHandlers{})
				if err != nil {
					b.Fatal(err)
				}
				o, err := p.Offer()
				if err != nil {
					b.Fatal(err)
				}
				if len(o.SlotMids) != k {
					b.Fatalf("%d slots offered, want %d", len(o.SlotMids), k)
				}
				p.Close()
			}
		})
	}
}
