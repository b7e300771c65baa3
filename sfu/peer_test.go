package sfu

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// testClient is a real pion peer on loopback that plays a participant: it
// answers the SFU's offer, sends packets whose first payload byte names it,
// and records what arrives on each slot.
type testClient struct {
	t    testing.TB
	tag  byte
	pc   *webrtc.PeerConnection
	out  *webrtc.TrackLocalStaticRTP
	stop chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once

	// sending is the sequence number of the newest packet this client
	// began to send, stored before the write.
	sending atomic.Uint32
	level   atomic.Uint32 // the audio level (-dBov) speak sends; 127 is silence
	noLevel bool          // speak sends no audio level extension at all; set before speak

	mu      sync.Mutex
	bySrc   map[byte]int
	newest  map[byte]uint16   // per source: the newest sender sequence number heard
	lastSeq map[string]uint16 // per slot track id
	ssrc    map[string]uint32
	jumps   int // sequence numbers that were not last+1 on a slot
	older   int // packets older than the newest on their slot (retransmissions)
	ssrcChg int
	got     []received                   // every packet heard, in order of arrival
	reports map[uint32]rtcp.SenderReport // the newest sender report of each slot, by SSRC
	rr      []rtcp.ReceptionReport       // the server's reception reports on what this client sends
}

// received is one packet a testClient heard: on which slot, as the SFU
// rewrote it, and which packet of which source it was (its payload).
type received struct {
	slot   string
	seq    uint16
	ts     uint32
	marker bool
	src    byte
	srcSeq uint16
}

func newTestAPI(t testing.TB) *webrtc.API {
	t.Helper()
	return newTestAPIWith(t, nil)
}

// newTestAPIWith is newTestAPI with tweak applied to its SettingEngine.
func newTestAPIWith(t testing.TB, tweak func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	return newTestAPIFeedback(t, tweak, nil)
}

// newTestAPIFeedback is newTestAPIWith with Opus offering fb (RTCP
// feedback such as NACK).
func newTestAPIFeedback(t testing.TB, tweak func(*webrtc.SettingEngine), fb []webrtc.RTCPFeedback) *webrtc.API {
	t.Helper()
	return newClientAPI(t, tweak, fb)
}

// newBareTestAPI is newTestAPI without pion's default interceptors, whose
// per-packet allocations would count in a benchmark's, and without logs,
// which would break the benchmark's lines.
func newBareTestAPI(t testing.TB) *webrtc.API {
	t.Helper()
	quiet := func(se *webrtc.SettingEngine) { se.LoggerFactory = pionLogs{log: slog.New(slog.DiscardHandler)} }
	return newClientAPI(t, quiet, nil, webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

func newClientAPI(t testing.TB, tweak func(*webrtc.SettingEngine), fb []webrtc.RTCPFeedback, opts ...func(*webrtc.API)) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, RTCPFeedback: fb},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.LoggerFactory = pionLogs{log: slog.Default()}
	ApplyLoopbackOnly(&se)
	if tweak != nil {
		tweak(&se)
	}
	return webrtc.NewAPI(append([]func(*webrtc.API){webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)}, opts...)...)
}

// connect joins a test client to r as peer id, negotiating once with
// complete candidate lists (no trickle needed in this package's tests).
func connect(t testing.TB, api *webrtc.API, r *Router, id string, tag byte) (*testClient, *Peer) {
	t.Helper()
	return connectWith(t, api, r, id, tag, PeerHandlers{})
}

// connectWith is connect with the peer's handlers h.
func connectWith(t testing.TB, api *webrtc.API, r *Router, id string, tag byte, h PeerHandlers) (*testClient, *Peer) {
	t.Helper()
	p, err := r.AddPeer(id, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Offer(); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(p.pc)

	c := &testClient{t: t, tag: tag, stop: make(chan struct{}), bySrc: map[byte]int{}, newest: map[byte]uint16{},
		lastSeq: map[string]uint16{}, ssrc: map[string]uint32{}, reports: map[uint32]rtcp.SenderReport{}}
	if c.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetRemoteDescription(*p.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	c.out, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", id)
	sender, err := c.pc.AddTrack(c.out)
	if err != nil {
		t.Fatal(err)
	}
	if tag != 0 {
		c.wg.Add(1)
		go c.readReceptionReports(sender)
	}
	c.pc.OnTrack(c.read)
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(c.pc)
	if err := p.SetAnswer(c.pc.LocalDescription().SDP); err != nil {
		t.Fatal(err)
	}
	return c, p
}

func (c *testClient) read(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	c.wg.Add(1)
	defer c.wg.Done()
	if c.tag != 0 {
		c.wg.Add(1)
		go c.readReports(recv)
	}
	if c.tag == 0 {
		// A benchmark's subscriber only drains, without allocating, so the
		// benchmark's allocations are the server's.
		buf := make([]byte, 1500)
		for {
			if _, _, err := track.Read(buf); err != nil {
				return
			}
		}
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		c.mu.Lock()
		if len(pkt.Payload) > 0 {
			c.bySrc[pkt.Payload[0]]++
		}
		id := track.ID()
		if len(pkt.Payload) >= 3 {
			src, seq := pkt.Payload[0], binary.BigEndian.Uint16(pkt.Payload[1:])
			if last, ok := c.newest[src]; !ok || int16(seq-last) > 0 {
				c.newest[src] = seq
			}
			c.got = append(c.got, received{id, pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, src, seq})
		}
		newest := true
		if last, ok := c.lastSeq[id]; ok && pkt.SequenceNumber != last+1 {
			c.jumps++
			if int16(pkt.SequenceNumber-last) <= 0 {
				c.older++
				newest = false // a retransmission: the slot's newest stays the newest
			}
		}
		if s, ok := c.ssrc[id]; ok && s != pkt.SSRC {
			c.ssrcChg++
		}
		if newest {
			c.lastSeq[id], c.ssrc[id] = pkt.SequenceNumber, pkt.SSRC
		}
		c.mu.Unlock()
	}
}

// readRTCP hands each RTCP packet read from read to keep, under c.mu,
// until read fails.
func (c *testClient) readRTCP(read func() ([]rtcp.Packet, interceptor.Attributes, error), keep func(rtcp.Packet)) {
	defer c.wg.Done()
	for {
		pkts, _, err := read()
		if err != nil {
			return
		}
		c.mu.Lock()
		for _, p := range pkts {
			keep(p)
		}
		c.mu.Unlock()
	}
}

// readReports keeps the newest sender report of each slot.
func (c *testClient) readReports(recv *webrtc.RTPReceiver) {
	c.readRTCP(recv.ReadRTCP, func(p rtcp.Packet) {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			c.reports[sr.SSRC] = *sr
		}
	})
}

// readReceptionReports keeps the reception reports the server sends about
// this client's upstream.
func (c *testClient) readReceptionReports(sender *webrtc.RTPSender) {
	c.readRTCP(sender.ReadRTCP, func(p rtcp.Packet) {
		switch r := p.(type) {
		case *rtcp.SenderReport:
			c.rr = append(c.rr, r.Reports...)
		case *rtcp.ReceiverReport:
			c.rr = append(c.rr, r.Reports...)
		}
	})
}

// receptionReport returns the newest reception report on this client's
// upstream.
func (c *testClient) receptionReport() (rtcp.ReceptionReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rr) == 0 {
		return rtcp.ReceptionReport{}, false
	}
	return c.rr[len(c.rr)-1], true
}

// report returns the newest sender report for ssrc.
func (c *testClient) report(ssrc uint32) (rtcp.SenderReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sr, ok := c.reports[ssrc]
	return sr, ok
}

// speak sends a 20 ms packet stream until stopped, at audio level dBov
// (setLevel changes it; 127, silence, is what a muted browser sends).
func (c *testClient) speak(dBov byte) {
	c.level.Store(uint32(dBov))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}}
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			pkt.SequenceNumber++
			c.sending.Store(uint32(pkt.SequenceNumber))
			pkt.Timestamp += 960
			pkt.Payload = binary.BigEndian.AppendUint16([]byte{c.tag}, pkt.SequenceNumber)
			pkt.Header.Extensions = nil
			pkt.Header.Extension = false
			if id := c.levelID(); id != 0 && !c.noLevel {
				dBov := byte(c.level.Load())
				level, _ := (&rtp.AudioLevelExtension{Level: dBov, Voice: dBov < 127}).Marshal()
				_ = pkt.Header.SetExtension(id, level)
			}
			_ = c.out.WriteRTP(pkt)
		}
	}()
}

// setLevel changes the audio level of what speak sends.
func (c *testClient) setLevel(dBov byte) { c.level.Store(uint32(dBov)) }

func (c *testClient) levelID() uint8 {
	for _, s := range c.pc.GetSenders() {
		for _, e := range s.GetParameters().HeaderExtensions {
			if e.URI == sdp.AudioLevelURI {
				return uint8(e.ID)
			}
		}
	}
	return 0
}

func (c *testClient) count(src byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bySrc[src]
}

// sentSince reports whether c began to send n packets or more after its
// packet seq.
func (c *testClient) sentSince(seq uint16, n int) bool {
	return int16(uint16(c.sending.Load())-seq) >= int16(n)
}

// heardAfter reports whether c heard a packet of src that src began to
// send after its packet seq.
func (c *testClient) heardAfter(src byte, seq uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.newest[src]
	return ok && int16(last-seq) > 0
}

func (c *testClient) close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		_ = c.pc.Close()
		c.wg.Wait()
	})
}

// waitFor polls cond until it holds or the context ends. Tests assert on
// counts; the deadline only bounds a broken run.
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestRouterForwardsAndReroutes(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	_, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 2)
	defer closeRouter()
	api := newTestAPI(t)

	a, _ := connect(t, api, r, "a", 'a')
	b, _ := connect(t, api, r, "b", 'b')
	c, _ := connect(t, api, r, "c", 'c')
	defer a.close()
	defer b.close()
	defer c.close()
	all := map[string]string{"a": "g", "b": "g", "c": "g"}
	r.SetRouting(1, Routing{Hear: all, Speak: all})
	for _, cl := range []*testClient{a, b, c} {
		cl.speak(30)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(ctx, t, "everyone hears the two others", func() bool {
		return a.count('b') > 20 && a.count('c') > 20 && b.count('a') > 20 && b.count('c') > 20 &&
			c.count('a') > 20 && c.count('b') > 20
	})
	for _, cl := range []*testClient{a, b, c} {
		if n := cl.count(cl.tag); n != 0 {
			t.Errorf("%c received %d packets of its own voice", cl.tag, n)
		}
	}

	// Move c away: a and b hear only each other, c hears nobody. Packets
	// forwarded before the move may still be on their way to a slow
	// reader; no packet a source began to send after SetRouting
	// returned may cross.
	ab := map[string]string{"a": "g", "b": "g"}
	r.SetRouting(2, Routing{Hear: ab, Speak: ab})
	r.SetRouting(1, Routing{Hear: all, Speak: all}) // older version: ignored
	aMoved, bMoved, cMoved := uint16(a.sending.Load()), uint16(b.sending.Load()), uint16(c.sending.Load())
	waitFor(ctx, t, "c sends on after the move", func() bool { return c.sentSince(cMoved, 10) })
	// Sent after ten of c's packets from after the move: once these are
	// heard, a leak of c's would have had the time to arrive too.
	aLater, bLater := uint16(a.sending.Load()), uint16(b.sending.Load())
	waitFor(ctx, t, "a and b keep hearing each other", func() bool {
		return a.heardAfter('b', bLater) && b.heardAfter('a', aLater)
	})
	if a.heardAfter('c', cMoved) || b.heardAfter('c', cMoved) || c.heardAfter('a', aMoved) ||
		c.heardAfter('b', bMoved) {
		t.Errorf("packets sent after the move crossed: a←c %v, b←c %v, c←a %v, c←b %v",
			a.heardAfter('c', cMoved), b.heardAfter('c', cMoved), c.heardAfter('a', aMoved),
			c.heardAfter('b', bMoved))
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ssrcChg != 0 {
		t.Errorf("a saw %d SSRC changes on its slots", a.ssrcChg)
	}
	if a.jumps != 0 {
		t.Errorf("a saw %d sequence discontinuities on its slots", a.jumps)
	}
}

// TestMutedSilenceLetsTheTickerSleep: four real peers for two slots, one
// talking and three muted, sending silence as browsers do. The selection
// ticker sleeps; when a muted one starts talking, the others hear it.
func TestMutedSilenceLetsTheTickerSleep(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 2)
	defer closeRouter()
	api := newTestAPI(t)
	var cls []*testClient
	for _, id := range []string{"a", "b", "c", "d"} {
		cl, _ := connect(t, api, r, id, id[0])
		defer cl.close()
		cls = append(cls, cl)
	}
	a, c, d := cls[0], cls[2], cls[3]
	all := map[string]string{"a": "g", "b": "g", "c": "g", "d": "g"}
	r.SetRouting(1, Routing{Hear: all, Speak: all})
	a.speak(30)
	for _, cl := range cls[1:] {
		cl.speak(127)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	idle := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.idle
	}
	waitFor(ctx, t, "d to hear a, and the ticker to sleep with three muted", func() bool {
		return d.count('a') > 20 && idle()
	})
	if n := e.Stats().TickersRunning; n != 0 {
		t.Errorf("the engine counts %d tickers running, its one router's sleeps", n)
	}
	ticks := e.Stats().SelectionTicks

	cFrom := uint16(c.sending.Load())
	c.setLevel(20)
	waitFor(ctx, t, "d and a to hear c once it talks", func() bool {
		return d.heardAfter('c', cFrom) && a.heardAfter('c', cFrom)
	})
	if e.Stats().SelectionTicks == ticks {
		t.Error("c was given to d without a tick")
	}
	waitFor(ctx, t, "the ticker to sleep again: two talking, two slots", idle)
}

// offerOf adds a peer named id to r and returns its offer; the peer is
// closed before it returns.
func offerOf(t *testing.T, r *Router, id string) Offer {
	t.Helper()
	p, err := r.AddPeer(id, PeerHandlers{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o, err := p.Offer()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// newTestRouter returns an engine of cfg and a router of slots on it, and
// a function that closes both (deferred, so that it runs before a
// deferred goroutine check).
func newTestRouter(t testing.TB, cfg Config, slots int) (*Engine, *Router, func()) {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := e.NewRouter(slots)
	return e, r, func() {
		r.Close()
		e.Close()
	}
}
