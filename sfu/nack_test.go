package sfu

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestLazyResponder drives the NACK responder that is built on demand,
// without pion PeerConnections: nothing is built for a stream without
// NACK; the first stream with NACK builds it; a NACK read by an RTCP
// reader bound before that is answered, both when the read began after
// the responder was built and when it was already waiting.
func TestLazyResponder(t *testing.T) {
	f, err := nack.NewResponderInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	var built atomic.Uint64
	i, err := lazyResponderFactory{f: f, built: &built}.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()

	// Two RTCP readers bound before any stream, fed by hand.
	feeds := [2]chan []byte{make(chan []byte), make(chan []byte)}
	var readers [2]interceptor.RTCPReader
	for k := range readers {
		feed := feeds[k]
		readers[k] = i.BindRTCPReader(interceptor.RTCPReaderFunc(
			func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
				return copy(b, <-feed), a, nil
			}))
	}
	// Reader 1 is waiting before the responder exists.
	waiting := make(chan error, 1)
	go func() {
		_, _, err := readers[1].Read(make([]byte, 1500), nil)
		waiting <- err
	}()

	var mu sync.Mutex
	sent := map[uint16]int{} // sequence number → times written
	w := interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		mu.Lock()
		sent[h.SequenceNumber]++
		mu.Unlock()
		return 0, nil
	})
	timesSent := func(seq uint16) int {
		mu.Lock()
		defer mu.Unlock()
		return sent[seq]
	}

	plain := &interceptor.StreamInfo{SSRC: 1}
	if got := i.BindLocalStream(plain, w); built.Load() != 0 {
		t.Fatalf("a stream without NACK built a responder (writer %T)", got)
	}
	const ssrc = 2
	stream := i.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc,
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, w)
	if built.Load() != 1 {
		t.Fatalf("%d responders built for a stream with NACK, want 1", built.Load())
	}
	for seq := uint16(1); seq <= 10; seq++ {
		if _, err := stream.Write(&rtp.Header{SSRC: ssrc, SequenceNumber: seq}, []byte{0}, nil); err != nil {
			t.Fatal(err)
		}
	}

	nackFor := func(seq uint16) []byte {
		b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc,
			Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The waiting read returns a NACK: it is answered.
	feeds[1] <- nackFor(3)
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "packet 3 sent again", func() bool { return timesSent(3) == 2 })
	// A read begun after: answered too.
	go func() { feeds[0] <- nackFor(7) }()
	if _, _, err := readers[0].Read(make([]byte, 1500), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "packet 7 sent again", func() bool { return timesSent(7) == 2 })
	if n := timesSent(5); n != 1 {
		t.Errorf("packet 5, never NACKed, was sent %d times", n)
	}
}
