package sfu

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// TestDirectWritePath: a listener hears a speaker through each write path
// a slot can take, and gets the engine's sender reports, which agree with
// what it was sent. Direct writes go through the peers' own sockets (no mux), the UDP
// mux with its sendmmsg batch, and an ICE-TCP connection, sealed by the
// slots themselves under both AES-GCM profiles and by pion's SRTP context
// under AES-CM; a listener that negotiated NACK, and an engine with
// NoDirectWrites, stay on pion's path.
func TestDirectWritePath(t *testing.T) {
	lim := test.TimeOut(120 * time.Second)
	defer lim.Stop()

	tcpOnly := func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	aesCM := func(se *webrtc.SettingEngine) {
		se.SetSRTPProtectionProfiles(dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	}
	aes128 := func(se *webrtc.SettingEngine) {
		se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM)
	}
	nack := []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}}
	for _, tc := range []struct {
		name     string
		cfg      func() Config
		tweak    func(*webrtc.SettingEngine) // the listener's
		fb       []webrtc.RTCPFeedback       // the listener's
		protocol webrtc.ICEProtocol          // the listener's pair
		direct   bool                        // the listener's slot writes directly
	}{
		{"own sockets", func() Config { return Config{LoopbackOnly: true} }, nil, nil, webrtc.ICEProtocolUDP, true},
		{"udp mux", func() Config { return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t)} }, nil, nil, webrtc.ICEProtocolUDP, true},
		// As deployed: the mux bound to every address, gathering on each
		// interface (udpmux.go); in the tests' namespace, loopback.
		{"udp mux on every address", func() Config { return Config{UDPPort: freeUDPPort(t)} }, nil, nil, webrtc.ICEProtocolUDP, true},
		{"ice-tcp", func() Config {
			return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t), TCPPort: freeTCPPort(t)}
		}, tcpOnly, nil, webrtc.ICEProtocolTCP, true},
		// The slots seal RTP themselves under AES-GCM (srtpseal.go), and
		// with pion's SRTP context under AES-CM.
		{"aes-128-gcm", func() Config { return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t)} }, aes128, nil, webrtc.ICEProtocolUDP, true},
		{"aes-cm", func() Config { return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t)} }, aesCM, nil, webrtc.ICEProtocolUDP, true},
		{"aes-cm over ice-tcp", func() Config {
			return Config{LoopbackOnly: true, UDPPort: freeUDPPort(t), TCPPort: freeTCPPort(t)}
		}, func(se *webrtc.SettingEngine) { tcpOnly(se); aesCM(se) }, nil, webrtc.ICEProtocolTCP, true},
		{"nack", func() Config { return Config{LoopbackOnly: true} }, nil, nack, webrtc.ICEProtocolUDP, false},
		{"off", func() Config { return Config{LoopbackOnly: true, NoDirectWrites: true} }, nil, nil, webrtc.ICEProtocolUDP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer test.CheckRoutines(t)()
			cfg := tc.cfg()
			e, r, closeRouter := newTestRouter(t, cfg, 1)
			defer closeRouter()

			speaker, _ := connect(t, newTestAPI(t), r, "speaker", 's')
			defer speaker.close()
			listener, lp := connect(t, newTestAPIFeedback(t, tc.tweak, tc.fb), r, "listener", 'l')
			defer listener.close()
			r.SetRouting(1, Routing{Hear: map[string]string{"listener": "g"}, Speak: map[string]string{"speaker": "g"}})
			speaker.speak(30) // a voice: silence would be held back after the hangover (source.holdSilence)

			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			waitFor(ctx, t, "100 packets heard", func() bool { return listener.count('s') >= 100 })

			s := lp.slots[0]
			if got := s.isDirect(); got != tc.direct {
				t.Errorf("slot writes directly: %v, want %v", got, tc.direct)
			}
			if d := lp.direct.Load(); d != nil {
				if ownSeal, wantOwn := d.gcm != nil, !strings.HasPrefix(tc.name, "aes-cm"); ownSeal != wantOwn {
					t.Errorf("slots seal RTP themselves: %v, want %v", ownSeal, wantOwn)
				}
			}
			pair, err := lp.ice.GetSelectedCandidatePair()
			if err != nil || pair == nil || pair.Local.Protocol != tc.protocol {
				t.Fatalf("listener's pair %v (%v), want %s", pair, err, tc.protocol)
			}
			wantPeers := int64(2) // the listener and the speaker
			if cfg.NoDirectWrites {
				wantPeers = 0
			}
			if got := e.Stats().DirectPeers; got != wantPeers {
				t.Errorf("DirectPeers = %d, want %d", got, wantPeers)
			}

			// A sender report whose counts agree with the packets: every
			// payload is the speaker's 3 bytes (tag, sequence number).
			s.mu.Lock()
			ssrc := s.hdr.SSRC
			s.mu.Unlock()
			waitFor(ctx, t, "a sender report", func() bool {
				sr, ok := listener.report(ssrc)
				return ok && sr.PacketCount >= 50
			})
			sr, _ := listener.report(ssrc)
			if sr.OctetCount != 3*sr.PacketCount {
				t.Errorf("sender report: %d octets in %d packets, want 3 a packet", sr.OctetCount, sr.PacketCount)
			}
			if heard := listener.count('s'); int(sr.PacketCount) > heard+100 {
				t.Errorf("sender report counts %d packets, the listener heard %d", sr.PacketCount, heard)
			}
			// The engine sends every slot's reports, on either path.
			if e.Stats().ReportsSent == 0 {
				t.Error("no sender report counted")
			}
			// And a reception report on each upstream: the speaker's says
			// what it sent, with nothing lost.
			waitFor(ctx, t, "a reception report on the speaker's upstream", func() bool {
				rr, ok := speaker.receptionReport()
				return ok && rr.LastSequenceNumber >= 50
			})
			if rr, _ := speaker.receptionReport(); rr.TotalLost != 0 || rr.FractionLost != 0 ||
				rr.LastSequenceNumber > uint32(speaker.sending.Load()) {
				t.Errorf("reception report %+v; the speaker sent up to %d, none lost", rr, speaker.sending.Load())
			}
			if e.Stats().ReceptionReports == 0 {
				t.Error("no reception report counted")
			}

			speaker.close()
			listener.close()
			closeRouter()
			if got := e.Stats().DirectPeers; got != 0 {
				t.Errorf("DirectPeers = %d after every peer closed", got)
			}
		})
	}
}

// TestReception: the reception report's counts over a wrap, a loss, a
// late packet, a duplicate, a jump that restarts the counts, a sender
// report's LSR and DLSR, and a timestamp wrap (RFC 3550 6.4.1, A.1, A.3, A.8).
func TestReception(t *testing.T) {
	const ms = int64(time.Millisecond)
	var r Reception
	if _, ok := r.Block(0); ok {
		t.Fatal("a report before any packet")
	}
	// 65530 … 10 over the wrap, 20 ms apart, 3 missing; then 5 twice.
	now := int64(time.Second)
	seq, ts := uint16(65530), uint32(1000)
	for range 17 {
		if seq != 3 {
			r.OnRTP(42, seq, ts, now)
		}
		if seq == 5 {
			r.OnRTP(42, seq, ts, now)
		}
		seq++
		ts += 960
		now += 20 * ms
	}
	b, _ := r.Block(now)
	if b.SSRC != 42 || b.LastSequenceNumber != 1<<16+10 || b.TotalLost != 1 || b.FractionLost != 1*256/17 || b.Jitter != 0 {
		t.Fatalf("after a wrap and one loss: %+v, want newest 65546, 1 lost, fraction 15, jitter 0", b)
	}
	// 3 arrives late, 160 ms after its time: lost 0, no new loss, jitter.
	r.OnRTP(42, 3, 1000+9*960, now)
	b, _ = r.Block(now)
	if b.TotalLost != 0 || b.FractionLost != 0 || b.LastSequenceNumber != 1<<16+10 || b.Jitter == 0 {
		t.Fatalf("after the late packet: %+v, want 0 lost, fraction 0, newest unchanged, some jitter", b)
	}
	// A sender report, then a report half a second later.
	r.OnSenderReport(&rtcp.SenderReport{SSRC: 42, NTPTime: 0x1122334455667788}, now)
	b, _ = r.Block(now + 500*ms)
	if b.LastSenderReport != 0x33445566 || b.Delay != 32768 {
		t.Fatalf("LSR %#x DLSR %d, want 0x33445566 and 32768 (0.5 s)", b.LastSenderReport, b.Delay)
	}
	// A sender report of another source is not this one's.
	r.OnSenderReport(&rtcp.SenderReport{SSRC: 7, NTPTime: 1 << 40}, now)
	if b, _ = r.Block(now); b.LastSenderReport != 0x33445566 {
		t.Fatalf("another source's sender report was taken: LSR %#x", b.LastSenderReport)
	}
	// A jump of 10,000 is the source starting over: the counts restart.
	r.OnRTP(42, 10+10000, 5000, now)
	if b, _ = r.Block(now); b.LastSequenceNumber != 10010 || b.TotalLost != 0 {
		t.Fatalf("after a restart: %+v, want newest 10010, 0 lost", b)
	}
	// A new SSRC restarts them too.
	r.OnRTP(43, 100, 0, now)
	if b, _ = r.Block(now); b.SSRC != 43 || b.LastSequenceNumber != 100 {
		t.Fatalf("after a new SSRC: %+v", b)
	}
	// Timestamps start anywhere: one wrapping past 2^32 on time is no jitter.
	var w Reception
	ts = 1<<32 - 5*960
	for i := range 10 {
		w.OnRTP(44, uint16(i), ts, now)
		ts += 960
		now += 20 * ms
	}
	if b, _ = w.Block(now); b.Jitter != 0 || b.TotalLost != 0 {
		t.Fatalf("over a timestamp wrap: %+v, want jitter 0, nothing lost", b)
	}
}

// TestNTPTime: RFC 3550's timestamp is seconds since 1900 and a 32-bit
// fraction.
func TestNTPTime(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 2208988800 << 32},
		{time.Unix(1, 500_000_000), 2208988801<<32 | 1<<31},
		{time.Unix(1, 250_000_000), 2208988801<<32 | 1<<30},
	} {
		if got := ntpTime(c.t); got != c.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", c.t, got, c.want)
		}
	}
}

// TestSlotReport: a slot reports nothing before its first packet, then its
// counts, and an RTP time that runs on from its newest packet's at the
// clock rate.
func TestSlotReport(t *testing.T) {
	s := &slot{hdr: rtp.Header{Version: 2, SSRC: 77}}
	if sr, ok := s.report(0, time.Now()); ok {
		t.Fatalf("a report before any packet: %+v", sr)
	}
	s.sr = srCounts{packets: 3, octets: 300, lastTS: 960, lastAt: int64(time.Second)}
	sr, ok := s.report(int64(time.Second+20*time.Millisecond), time.Now())
	if !ok || sr.SSRC != 77 || sr.PacketCount != 3 || sr.OctetCount != 300 || sr.RTPTime != 960+960 {
		t.Fatalf("report %+v, want SSRC 77, 3 packets, 300 octets, RTP time 1920", sr)
	}
}

// TestReportsMarshal: the reports the engine writes byte by byte are what
// pion's rtcp package marshals for the same packets, alone and compound,
// with a negative 24-bit loss; and writing them allocates nothing.
func TestReportsMarshal(t *testing.T) {
	block := rtcp.ReceptionReport{SSRC: 0xa1b2c3d4, FractionLost: 25, TotalLost: 0xfffffe, // −2: duplicates
		LastSequenceNumber: 0x0001fff0, Jitter: 77, LastSenderReport: 0x12345678, Delay: 65536}
	sr1 := rtcp.SenderReport{SSRC: 11, NTPTime: ntpTime(time.Unix(1_800_000_000, 5e8)), RTPTime: 48000,
		PacketCount: 50, OctetCount: 4000}
	sr2 := rtcp.SenderReport{SSRC: 12, NTPTime: sr1.NTPTime, RTPTime: 4_000_000_000, PacketCount: 1, OctetCount: 3}
	withBlock := sr1
	withBlock.Reports = []rtcp.ReceptionReport{block}
	for _, tc := range []struct {
		name string
		got  []byte
		want []rtcp.Packet
	}{
		{"sender report", appendSenderReport(nil, &sr1, nil), []rtcp.Packet{&sr1}},
		{"with a reception report", appendSenderReport(nil, &sr1, &block), []rtcp.Packet{&withBlock}},
		{"compound", appendSenderReport(appendSenderReport(nil, &sr1, &block), &sr2, nil), []rtcp.Packet{&withBlock, &sr2}},
		{"receiver report", appendReceiverReport(nil, 11, &block),
			[]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 11, Reports: []rtcp.ReceptionReport{block}}}},
	} {
		want, err := rtcp.Marshal(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tc.got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, tc.got, want)
		}
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		buf = appendSenderReport(appendSenderReport(buf[:0], &sr1, &block), &sr2, nil)
	}); n != 0 {
		t.Errorf("%v allocations a compound packet, want 0", n)
	}
}

// isDirect reports whether the slot takes the direct write path.
func (s *slot) isDirect() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.direct != nil
}
