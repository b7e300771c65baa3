package bots

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
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

// NewAPI returns the loopback-only pion API of the bots: Opus (PT 111) as
// the only codec, the ssrc-audio-level header extension, RTCP sender and
// receiver reports, and ICE restricted to UDP4 on the loopback interface
// with loopback candidates included and mDNS off, so no packet ever leaves
// 127.0.0.1. One API serves any number of bots; share it.
func NewAPI() (*webrtc.API, error) {
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
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("bots: rtcp reports: %w", err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true) // without it: no candidates on lo, ICE hangs
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // the default opens a multicast socket
	se.SetDTLSRetransmissionInterval(dtlsRetransmit)
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se),
	), nil
}
