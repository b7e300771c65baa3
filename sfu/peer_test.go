package sfu

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// testClient is a real pion peer on loopback that plays a participant: it
// answers the SFU's offer, sends packets whose first payload byte names it,
// and records what arrives on each slot.
type testClient struct {
	t    *testing.T
	tag  byte
	pc   *webrtc.PeerConnection
	out  *webrtc.TrackLocalStaticRTP
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	bySrc   map[byte]int
	lastSeq map[string]uint16 // per slot track id
	ssrc    map[string]uint32
	jumps   int // sequence numbers that were not last+1 on a slot
	ssrcChg int
}

func newTestAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	ApplyLoopbackOnly(&se)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// connect joins a test client to r as peer id, negotiating once with
// complete candidate lists (no trickle needed in this package's tests).
func connect(t *testing.T, api *webrtc.API, r *Router, id string, tag byte) (*testClient, *Peer) {
	t.Helper()
	p, err := r.AddPeer(id, PeerHandlers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Offer(); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(p.pc)

	c := &testClient{t: t, tag: tag, stop: make(chan struct{}), bySrc: map[byte]int{},
		lastSeq: map[string]uint16{}, ssrc: map[string]uint32{}}
	if c.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetRemoteDescription(*p.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	c.out, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", id)
	if _, err := c.pc.AddTrack(c.out); err != nil {
		t.Fatal(err)
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

func (c *testClient) read(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	c.wg.Add(1)
	defer c.wg.Done()
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
		if last, ok := c.lastSeq[id]; ok && pkt.SequenceNumber != last+1 {
			c.jumps++
		}
		if s, ok := c.ssrc[id]; ok && s != pkt.SSRC {
			c.ssrcChg++
		}
		c.lastSeq[id], c.ssrc[id] = pkt.SequenceNumber, pkt.SSRC
		c.mu.Unlock()
	}
}

// speak sends a 20 ms packet stream until stopped, at audio level dBov.
func (c *testClient) speak(dBov byte) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}}
		level, _ := (&rtp.AudioLevelExtension{Level: dBov, Voice: true}).Marshal()
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			pkt.SequenceNumber++
			pkt.Timestamp += 960
			pkt.Payload = binary.BigEndian.AppendUint16([]byte{c.tag}, pkt.SequenceNumber)
			pkt.Header.Extensions = nil
			pkt.Header.Extension = false
			if id := c.levelID(); id != 0 {
				_ = pkt.Header.SetExtension(id, level)
			}
			_ = c.out.WriteRTP(pkt)
		}
	}()
}

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

func (c *testClient) close() {
	close(c.stop)
	_ = c.pc.Close()
	c.wg.Wait()
}

// waitFor polls cond until it holds or the context ends. Tests assert on
// counts; the deadline only bounds a broken run.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
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

	e, err := NewEngine(Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := e.NewRouter(2)
	defer r.Close()
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

	// Move c away: a and b hear only each other, c hears nobody.
	ab := map[string]string{"a": "g", "b": "g"}
	r.SetRouting(2, Routing{Hear: ab, Speak: ab})
	r.SetRouting(1, Routing{Hear: all, Speak: all}) // older version: ignored
	aFromC, bFromC, cFromA := a.count('c'), b.count('c'), c.count('a')
	time.Sleep(200 * time.Millisecond) // packets keep flowing; none may cross
	if a.count('c') != aFromC || b.count('c') != bFromC || c.count('a') != cFromA {
		t.Errorf("packets crossed after the routing changed: a←c %d→%d, b←c %d→%d, c←a %d→%d",
			aFromC, a.count('c'), bFromC, b.count('c'), cFromA, c.count('a'))
	}
	aFromB := a.count('b')
	waitFor(ctx, t, "a keeps hearing b", func() bool { return a.count('b') > aFromB+5 })

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ssrcChg != 0 {
		t.Errorf("a saw %d SSRC changes on its slots", a.ssrcChg)
	}
	if a.jumps != 0 {
		t.Errorf("a saw %d sequence discontinuities on its slots", a.jumps)
	}
}
