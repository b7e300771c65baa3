package bots

import (
	"fmt"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// Opus parameters the bots offer and send.
const (
	opusPayloadType = 111
	opusClockRate   = 48000 // Hz
	opusChannels    = 2
	opusFmtp        = "minptime=10;useinbandfec=1"
	// opusSamplesPerPacket is the RTP timestamp step of one 20 ms packet.
	opusSamplesPerPacket = opusClockRate / 50
	// packetInterval is the send period of a speaking bot.
	packetInterval = 20 * time.Millisecond
	// dtxEvery: a muted bot whose offer asked for Opus DTX sends one
	// frame in this many, as Chromium and Firefox muted by their tracks did
	// (10 packets each while an open microphone sent 100, 2026-11-29, in
	// web/e2e/selection.test.js, which asserts fewer than 50).
	dtxEvery = 10
)

// dtlsRetransmit is the DTLS handshake retransmission interval. pion's
// default (1 s) turns one handshake flight lost to an ICE race into a join
// a second longer; browsers retransmit after 50–100 ms, and join time is a
// measured figure, so the bots do the same.
const dtlsRetransmit = 100 * time.Millisecond

// opusCapability is the one codec of the bots.
func opusCapability() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   opusClockRate,
		Channels:    opusChannels,
		SDPFmtpLine: opusFmtp,
	}
}

// NewAPI returns the pion API of the bots: Opus (PT 111) as the only codec,
// the ssrc-audio-level header extension, RTCP sender reports (the receiver
// reports are the bots' own, reports.go), and ICE with mDNS off, over the
// given networks (none: UDP4 and UDP6; webrtc.NetworkTypeTCP4 alone makes a
// bot that reaches the server only over ICE-TCP, as behind a firewall that
// drops UDP). By default ICE gathers on every interface, loopback included,
// so bots reach a server on another machine as well as one on this machine
// (even in a network namespace that has only loopback). With loopbackOnly,
// ICE is restricted to 127.0.0.1 (sfu.ApplyLoopbackOnly): no packet leaves
// the machine, as tests and benchmarks require. One API serves any number of
// bots; share it.
func NewAPI(loopbackOnly bool, networks ...webrtc.NetworkType) (*webrtc.API, error) {
	return newAPI(loopbackOnly, nil, networks...)
}

// newAPI is NewAPI over the network n (nil: the operating system's).
func newAPI(loopbackOnly bool, n transport.Net, networks ...webrtc.NetworkType) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: opusCapability(),
		PayloadType:        opusPayloadType,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("bots: register opus: %w", err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("bots: register audio level: %w", err)
	}
	// Sender reports from pion's interceptor; receiver reports are the
	// bots' own (reports.go).
	ir := &interceptor.Registry{}
	sender, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("bots: sender reports: %w", err)
	}
	ir.Add(sender)
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)                    // a server on this machine may offer only loopback
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // the default opens a multicast socket
	if loopbackOnly {
		sfu.ApplyLoopbackOnly(&se)
	}
	if len(networks) == 0 {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
		if loopbackOnly {
			networks = networks[:1]
		}
	}
	se.SetNetworkTypes(networks)
	se.SetDTLSRetransmissionInterval(dtlsRetransmit)
	if n != nil {
		se.SetNet(n)
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se),
	), nil
}
