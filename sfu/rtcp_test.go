package sfu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// TestSlotRTCPReadOnlyWhereNACKNegotiated: a subscriber that negotiated
// NACK for Opus gets a slot whose RTCP is read, and a NACK it sends is
// answered with the packet again; one that did not gets no reader for its
// slots' RTCP, whose reports are dropped on arrival instead of buffered,
// on the slot's own stream: pion never takes them for undeclared ones
// (openSlotRTCP).
func TestSlotRTCPReadOnlyWhereNACKNegotiated(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true, Logger: logger}, 1)
	defer closeRouter()

	speaker, _ := connect(t, newTestAPI(t), r, "speaker", 's')
	defer speaker.close()
	// The listeners NACK packets they did receive (simplest to pick), so
	// their SRTP must accept a packet twice: replay protection off.
	acceptRepeats := func(se *webrtc.SettingEngine) { se.DisableSRTPReplayProtection(true) }
	plain, plainPeer := connect(t, newTestAPIWith(t, acceptRepeats), r, "plain", 'p')
	defer plain.close()
	nacking, nackPeer := connect(t, newTestAPIFeedback(t, acceptRepeats, []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}}),
		r, "nacking", 'n')
	defer nacking.close()
	r.SetRouting(1, Routing{
		Hear:  map[string]string{"plain": "g", "nacking": "g"},
		Speak: map[string]string{"speaker": "g"},
	})
	speaker.speak(20)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	waitFor(ctx, t, "both listeners hear 20 packets", func() bool {
		return plain.count('s') >= 20 && nacking.count('s') >= 20
	})
	if !nackPeer.slots[0].draining.Load() {
		t.Error("the slot of a subscriber that negotiated NACK has no RTCP reader")
	}
	if plainPeer.slots[0].draining.Load() {
		t.Error("the slot of a subscriber without NACK has an RTCP reader")
	}
	// pion's receiver reports, once a second, on the slot it hears.
	waitFor(ctx, t, "the plain listener's reports on its slot dropped", func() bool {
		return plainPeer.rtcpDropped.Load() >= 2
	})
	if l := logs.String(); strings.Contains(l, "unhandled RTCP") {
		t.Errorf("reports on a slot went to pion's undeclared streams:\n%s", l)
	}

	// Ask for a packet received a while ago, from each listener.
	nack := func(c *testClient) uint16 {
		c.mu.Lock()
		seq, ssrc := c.lastSeq["slot-0"]-5, c.ssrc["slot-0"]
		c.mu.Unlock()
		if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{
			SenderSSRC: 1, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq}),
		}}); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	nack(nacking)
	waitFor(ctx, t, "the NACKed packet again", func() bool {
		nacking.mu.Lock()
		defer nacking.mu.Unlock()
		return nacking.older > 0
	})

	// The same NACK from the subscriber without NACK goes unanswered: no
	// old packet arrives while 50 new ones do.
	nack(plain)
	before := plain.count('s')
	waitFor(ctx, t, "50 more packets", func() bool { return plain.count('s') >= before+50 })
	plain.mu.Lock()
	older := plain.older
	plain.mu.Unlock()
	if older != 0 {
		t.Errorf("a subscriber that did not negotiate NACK got %d retransmissions", older)
	}
	if n := nackPeer.rtcpDropped.Load(); n != 0 {
		t.Errorf("%d RTCP packets of a slot that is read were dropped", n)
	}
	// Of the three PeerConnections, only the one that negotiated NACK
	// built a responder.
	if n := e.stats.nackResponders.Load(); n != 1 {
		t.Errorf("%d NACK responders built, want 1", n)
	}
}

// TestDropBuffer: a dropBuffer takes every write, counts it and keeps
// nothing; a read waits for Close and then ends with io.EOF.
func TestDropBuffer(t *testing.T) {
	var dropped atomic.Uint64
	b := newDropBuffer(&dropped)
	for range 3 {
		if n, err := b.Write(make([]byte, 80)); n != 80 || err != nil {
			t.Fatalf("write: %d, %v; want 80, nil", n, err)
		}
	}
	if got := dropped.Load(); got != 3 {
		t.Errorf("%d writes counted, want 3", got)
	}
	read := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 100))
		read <- err
	}()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-read; !errors.Is(err, io.EOF) {
		t.Errorf("read after close: %v, want EOF", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// syncBuffer is a bytes.Buffer that pion's goroutines may log to while a
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
