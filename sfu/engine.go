// Package sfu forwards Opus audio between pion PeerConnections.
//
// Each participant has one PeerConnection, negotiated once: one upstream
// audio track (its microphone) and K downstream slots, each a send track
// whose SSRC never changes. A Router groups the peers of one session; it is
// told a Routing (which group each peer hears and is heard in) and fills
// every subscriber's K slots with the loudest sources it may hear. Changing
// the routing re-points slots at the next packet: there is no SDP exchange
// after the first one.
//
// The package knows nothing of roles, rooms or breakouts: who may hear whom
// is a Routing of plain groups given by the caller.
//
// Hot path: one goroutine per upstream track reads a packet into a reused
// buffer, loads the list of slots carrying that source (an atomic pointer
// published copy-on-write by the Router) and writes the packet to each,
// rewritten by the slot's Munger under the slot's own mutex. No allocation,
// no lock wider than one slot.
package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"
)

// Limits and defaults.
const (
	DefaultSlots          = 3
	MaxSlots              = 16
	DefaultSelectInterval = 50 * time.Millisecond // slot selection tick per router
	opusPayloadType       = 111
	tcpReadBuffer         = 8 // ICE-TCP packets buffered per connection before reads block

	// rtpBufferBytes bounds what one SRTP stream buffers before its reader
	// (pion's default); rtcpBufferBytes does the same for RTCP, well below
	// pion's 100 kB. The RTCP of most slots is never read (drainSlotRTCP)
	// and is dropped on arrival (Peer.newStreamBuffer); this bounds the
	// streams nobody reads that pion opens for other SSRCs.
	rtpBufferBytes  = 1000 * 1000
	rtcpBufferBytes = 16 * 1024
)

// newStreamBuffer is pion's buffer for an SRTP or SRTCP read stream,
// bounded by rtpBufferBytes and rtcpBufferBytes; a full buffer drops what
// arrives.
func newStreamBuffer(t packetio.BufferPacketType) streamBuffer {
	b := streamBuffer{packetio.NewBuffer()}
	if t == packetio.RTCPBufferPacket {
		b.SetLimitSize(rtcpBufferBytes)
	} else {
		b.SetLimitSize(rtpBufferBytes)
	}
	return b
}

// streamBuffer is a packetio.Buffer as pion/srtp uses it: plain reads and
// writes, and the same with packet attributes, which srtp looks for.
// SetReadDeadline and Close come with the embedded Buffer.
type streamBuffer struct{ *packetio.Buffer }

func (b streamBuffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b streamBuffer) Write(p []byte) (int, error) { return b.Buffer.Write(p, nil) }

func (b streamBuffer) ReadWithAttributes(p []byte, a packetio.Attributes) (int, packetio.Attributes, error) {
	return b.Buffer.Read(p, a)
}

func (b streamBuffer) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	return b.Buffer.Write(p, a)
}

// dropBuffer is the buffer of a read stream nobody reads: every packet
// written to it is counted and dropped, and a read waits until the stream
// closes. It holds no packetio.Buffer (with its deadline, some 500 bytes):
// there is one per slot.
type dropBuffer struct {
	dropped *atomic.Uint64
	closed  chan struct{}
	once    sync.Once
}

func newDropBuffer(dropped *atomic.Uint64) *dropBuffer {
	return &dropBuffer{dropped: dropped, closed: make(chan struct{})}
}

func (b *dropBuffer) Write(p []byte) (int, error) {
	b.dropped.Add(1)
	return len(p), nil
}

func (b *dropBuffer) Read([]byte) (int, error) {
	<-b.closed
	return 0, io.EOF
}

func (b *dropBuffer) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// Config configures an Engine. The zero value is usable: ephemeral UDP
// ports on every interface, default selection interval.
type Config struct {
	// LoopbackOnly restricts ICE to 127.0.0.1 on "lo": gathering, remote
	// candidates and checks. Tests, benchmarks and dev mode use it.
	LoopbackOnly bool
	// UDPPort, when non-zero, serves every peer's ICE on this one UDP port
	// (ICE UDP mux) instead of an ephemeral port per peer.
	UDPPort int
	// UDPAddress is the address the mux ports (UDPPort, TCPPort) bind; ""
	// means all addresses (127.0.0.1 when LoopbackOnly).
	UDPAddress string
	// NoBatchWrites sends every packet with its own sendto even on the mux
	// port, instead of each fan-out in a few sendmmsg calls (batch.go):
	// for comparison in benchmarks.
	NoBatchWrites bool
	// NoDTX leaves usedtx out of the offer: clients send 50 packets a
	// second in silence too (for clients that mishandle Opus DTX, and for
	// comparison in benchmarks).
	NoDTX bool
	// NoDirectWrites keeps every peer on pion's write path instead of
	// sealing and sending its downstream packets directly (direct.go): for
	// comparison in benchmarks.
	NoDirectWrites bool
	// FanoutCores is how many goroutines, at most, forward one packet to
	// its subscribers when they are many (fanout.go); 0 means GOMAXPROCS,
	// 1 keeps every fan-out on its reader.
	FanoutCores int
	// TCPPort, when non-zero, also serves ICE over TCP on this one port
	// (ICE TCP mux, passive candidates), for clients whose network blocks
	// UDP.
	TCPPort int
	// NAT1To1IPs are public addresses to advertise as host candidates.
	NAT1To1IPs []string
	// SelectInterval is how often a router re-ranks sources by loudness
	// while that can change what someone hears: while a group has more
	// than K speakers with their microphones open (Router.parkLocked).
	SelectInterval time.Duration
	// Logger receives the engine's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Engine holds the pion API shared by every peer and the server-wide
// counters. It is safe for concurrent use.
type Engine struct {
	// What every peer's pion API is made of (Engine.newAPI): one API per
	// peer, so that its BufferFactory knows the peer.
	media    *webrtc.MediaEngine
	registry *interceptor.Registry
	settings webrtc.SettingEngine

	cfg     Config
	log     *slog.Logger
	udpConn *net.UDPConn // the mux socket, when UDPPort is set
	mux     *echoConn    // udpConn as pion writes to it (with the batch)
	udpMux  *udpMux      // every peer's ICE on udpConn (udpmux.go); nil without one
	net     *echoNet     // the network every peer's ICE gathers on
	batch   *writeBatch  // sendmmsg on the mux socket; nil without one

	// Fan-out workers (fanout.go), started with the engine when there is
	// more than one core.
	parallel int // goroutines one fan-out may use
	jobs     chan fanoutJob
	workers  sync.WaitGroup
	tcpLn    net.Listener // the ICE-TCP mux listener, when TCPPort is set
	tcpConns *tcpConns    // tcpLn's connections, for direct writes (direct.go)
	tcpMux   ice.TCPMux   // the ICE-TCP mux on tcpLn; nil without one
	stats    counters
	echoes   atomic.Uint64 // ICE checks handed back to pion (checkecho.go)

	// Connected peers, for their RTCP reports (reports.go), sent
	// by reportLoop until stopReports closes.
	reportMu    sync.Mutex
	reporting   map[*Peer]struct{}
	stopReports chan struct{}
	reports     sync.WaitGroup

	certMu sync.Mutex
	cert   *webrtc.Certificate // the DTLS certificate of new PeerConnections (certificate); nil until the first
}

// NewEngine builds what the pion API of every peer is made of (newAPI):
// Opus only, asking clients for DTX, with the RFC 6464 audio level header
// extension, a NACK responder where a subscriber negotiated NACK (nack.go)
// as the one interceptor, and the ICE settings of cfg. The RTCP reports are the
// engine's own (reports.go).
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.SelectInterval <= 0 {
		cfg.SelectInterval = DefaultSelectInterval
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, parallel: cfg.FanoutCores}
	if e.parallel <= 0 {
		e.parallel = parallelism()
	}
	if e.log == nil {
		e.log = slog.Default()
	}

	// usedtx=1 asks the client to send with Opus DTX: in silence, a
	// packet every few hundred milliseconds instead of 50 a second
	// (Chromium and Firefox both do). The loudness smoothing steps by the
	// source's clock for it (source.observeLevel).
	fmtp := "minptime=10;useinbandfec=1"
	if !cfg.NoDTX {
		fmtp += ";usedtx=1"
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  fmtp,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}},
		},
		PayloadType: opusPayloadType,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: register opus: %w", err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: register audio level: %w", err)
	}

	// Every PeerConnection logs through the same loggers (one per pion
	// scope), and so do its interceptors, which would otherwise make their
	// own: some 1.5 kB a participant.
	logs := pionLogs{log: e.log, scopes: &sync.Map{}}
	reg := &interceptor.Registry{}
	responder, err := nack.NewResponderInterceptor(nack.ResponderLog(logs.NewLogger("nack_responder")))
	if err != nil {
		return nil, fmt.Errorf("sfu: nack responder: %w", err)
	}
	reg.Add(lazyResponderFactory{f: responder, built: &e.stats.nackResponders})

	se := webrtc.SettingEngine{}
	se.LoggerFactory = logs
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// Loopback candidates too: a client on this machine (a load test, a
	// developer) connects even where loopback is the only interface. A
	// remote client's checks to them fail harmlessly.
	se.SetIncludeLoopbackCandidate(true)
	nominateWithoutWaiting(&se)
	keepCheckingStarvedPeers(&se)
	answerClientHelloAtOnce(&se)
	// Every ICE socket reads through a checkEcho, so that pion nominates
	// on the first check that works (checkecho.go).
	n, err := newEchoNet(&e.echoes)
	if err != nil {
		return nil, fmt.Errorf("sfu: network: %w", err)
	}
	se.SetNet(n)
	e.net = n
	if cfg.LoopbackOnly {
		ApplyLoopbackOnly(&se)
	}
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	addr := cfg.UDPAddress
	if addr == "" && cfg.LoopbackOnly {
		addr = "127.0.0.1"
	}
	if cfg.UDPPort != 0 {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr), Port: cfg.UDPPort})
		if err != nil {
			return nil, fmt.Errorf("sfu: listen udp %s:%d: %w", addr, cfg.UDPPort, err)
		}
		e.udpConn = conn
		ec := newEchoConn(conn, &e.echoes)
		if !cfg.NoBatchWrites {
			if e.batch, err = newWriteBatch(conn); err != nil {
				e.Close()
				return nil, fmt.Errorf("sfu: udp %s:%d: %w", addr, cfg.UDPPort, err)
			}
			ec.batch = e.batch
		}
		e.mux = ec
		e.udpMux = newUDPMux(ec, n, e.log)
		go e.udpMux.run()
		se.SetICEUDPMux(e.udpMux)
	}
	if cfg.TCPPort != 0 {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(addr), Port: cfg.TCPPort})
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("sfu: listen tcp %s:%d: %w", addr, cfg.TCPPort, err)
		}
		e.tcpLn = ln
		e.tcpConns = newTCPConns(ln)
		e.tcpMux = webrtc.NewICETCPMux(logs.NewLogger("tcpmux"), e.tcpConns, tcpReadBuffer)
		se.SetICETCPMux(e.tcpMux)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	}

	e.media, e.registry, e.settings = me, reg, se
	e.startWorkers()
	e.stopReports = make(chan struct{})
	e.reports.Add(1)
	go func() {
		defer e.reports.Done()
		e.reportLoop(e.stopReports)
	}()
	return e, nil
}

// newAPI returns the pion API of one peer: the engine's codecs,
// interceptors and settings, with the peer's buffers for its read streams
// (Peer.newStreamBuffer) and, for the direct write path, the DTLS hooks
// that show its SRTP secrets (srtpkeys.go). An API is a few hundred bytes;
// the media engine and the registry are shared, as pion copies or builds
// what each PeerConnection needs from them.
func (e *Engine) newAPI(p *Peer) *webrtc.API {
	se := e.settings
	se.BufferFactory = p.newStreamBuffer
	if p.secrets != nil {
		se.SetDTLSKeyLogWriter(p.secrets)
		se.SetDTLSServerHelloMessageHook(p.secrets.serverHello)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(e.media), webrtc.WithInterceptorRegistry(e.registry),
		webrtc.WithSettingEngine(se))
}

// certRenewBefore is how long before its expiry the shared DTLS
// certificate is replaced; pion's are valid for a month.
const certRenewBefore = 7 * 24 * time.Hour

// certificate returns the DTLS certificate for a PeerConnection made at
// now: one for every peer, instead of pion's default of a new key and
// certificate for each (an ECDSA key generated and a certificate signed at
// every join, and some 2 kB kept per participant). As with SFUs that keep
// one certificate per server process, what a client checks is the
// fingerprint in the offer, which binds the DTLS handshake to this
// signaling; every peer's DTLS keys are still its own, agreed in its
// handshake. A PeerConnection keeps the certificate it began with.
func (e *Engine) certificate(now time.Time) (webrtc.Certificate, error) {
	e.certMu.Lock()
	defer e.certMu.Unlock()
	if e.cert == nil || now.Add(certRenewBefore).After(e.cert.Expires()) {
		c, err := NewCertificate()
		if err != nil {
			return webrtc.Certificate{}, err
		}
		e.cert = c
	}
	return *e.cert, nil
}

// NewCertificate returns a DTLS certificate with a new ECDSA P-256 key, the
// kind pion makes for each PeerConnection by default, valid for a month.
func NewCertificate() (*webrtc.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sfu: dtls key: %w", err)
	}
	c, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("sfu: dtls certificate: %w", err)
	}
	return c, nil
}

// ICE timing. The timeouts are pion's defaults (ice/v4 agent_config.go),
// spelled out because maxUnansweredChecks is derived from them.
const (
	iceCheckInterval       = 200 * time.Millisecond // pion's tick while checking; not settable through webrtc
	iceDisconnectedTimeout = 5 * time.Second
	iceFailedTimeout       = 25 * time.Second
	iceKeepaliveInterval   = 2 * time.Second
	// maxUnansweredChecks lets the server check a candidate pair for as
	// long as its agent keeps checking at all (disconnected + failed
	// timeouts, on its 200 ms tick), twice over for the extra ticks a new
	// remote candidate forces.
	maxUnansweredChecks = 2 * (iceDisconnectedTimeout + iceFailedTimeout) / iceCheckInterval
)

// keepCheckingStarvedPeers stops pion from giving up on a candidate pair
// while the peer is merely slow.
//
// pion marks a pair failed after 7 unanswered checks (ice/v4
// agent.pingAllCandidates, defaultMaxBindingRequests): 1.6 s at one check
// per 200 ms. A failed pair is never checked again, and the peer's own
// checks arriving on it do not revive it
// (controllingSelector.HandleBindingRequest only answers them). A browser
// has one pair with us, peer-reflexive, so a browser too starved for CPU
// to answer our checks for 1.6 s right after it sent its first one (a
// loaded laptop, a busy phone; seen in the browser tests on a loaded
// machine) is answered but never nominated: its ICE sits connected and
// waiting, ours in checking, until pion fails the PeerConnection 30 s
// later and the socket closes with ice_failed. With a limit that outlasts
// the agent's own checking time, the pair is nominated on the first
// answer that comes; a pair that never answers still fails with the agent
// after 30 s, as before. The extra checks go only to pairs not yet
// answered, and stop at nomination.
func keepCheckingStarvedPeers(se *webrtc.SettingEngine) {
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepaliveInterval)
	se.SetICEMaxBindingRequests(uint16(maxUnansweredChecks))
}

// nominateWithoutWaiting lets the server's ICE agent nominate a working
// candidate pair as soon as it has one.
//
// The server offers, so its agent is the controlling one: it nominates.
// pion nominates a pair only once a minimum time per candidate type has
// passed since the checks started (ice/v4 selection.go,
// controllingSelector.isNominatable; agent_config.go: 500 ms for
// server-reflexive, 1 s for peer-reflexive candidates). A browser is
// nearly always peer-reflexive to us: its host candidates are mDNS names
// (or, with Chromium's default_public_interface_only, not signaled at
// all) and its first check outruns its trickled candidates, so pion learns
// its address from that check. Each browser join therefore waited 1 s
// between the browser's "ICE connected" and ours, and its DTLS
// ClientHello, sent at its ICE connected, waited in pion's ICE buffer
// (nothing is lost: the agent buffers non-STUN packets from a known remote
// and the mux queues them until the DTLS endpoint exists) for our DTLS
// server to start after our ICE connected.
//
// Relay pairs keep a head start (relayHeadStart) so that a direct path
// found a little later still wins over a relayed one.
func nominateWithoutWaiting(se *webrtc.SettingEngine) {
	se.SetHostAcceptanceMinWait(0)
	se.SetSrflxAcceptanceMinWait(0)
	se.SetPrflxAcceptanceMinWait(0)
	se.SetRelayAcceptanceMinWait(relayHeadStart)
}

// answerClientHelloAtOnce makes the server's DTLS answer a client's first
// ClientHello with its ServerHello, skipping the cookie round trip
// (HelloVerifyRequest, RFC 6347 section 4.2.1): one round trip less for
// every join.
//
// The server offers with setup:actpass and clients answer active, so the
// server is the DTLS server of every PeerConnection. The cookie is there
// to stop a spoofed source address from turning the server's certificate
// flight into an amplifier. Here DTLS runs over ICE, which has already
// made that check: pion's agent passes a non-STUN packet on only from a
// remote candidate it knows and sends only to the nominated pair, whose
// address answered a check signed with the ICE password from the
// signaled answer. Browsers as DTLS servers send no cookie either, which
// is why pion has the setting (pion/webrtc pull request 2407).
func answerClientHelloAtOnce(se *webrtc.SettingEngine) {
	se.SetDTLSInsecureSkipHelloVerify(true)
}

// relayHeadStart is how long, from the start of ICE checks, a relayed pair
// waits before it may be nominated. A direct pair that works at all
// succeeds within a round trip or two, so 500 ms lets it win over a relay on
// any path below a 250 ms round trip, while a client that can only be
// reached through TURN (a symmetric NAT, UDP blocked) is not made to wait
// pion's default 2 s for a direct path that will never come.
const relayHeadStart = 500 * time.Millisecond

// ApplyLoopbackOnly restricts a SettingEngine to IPv4 loopback: candidates
// are gathered on "lo" only, and remote candidates or checks from other
// addresses are ignored. Shared by the server (dev mode, tests) and the
// bots.
func ApplyLoopbackOnly(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
}

// Close releases the engine's shared sockets. Routers and peers must be
// closed first.
func (e *Engine) Close() error {
	e.stopWorkers()
	if e.stopReports != nil {
		close(e.stopReports)
		e.reports.Wait()
		e.stopReports = nil
	}
	var errs []error
	if e.udpConn != nil {
		errs = append(errs, e.udpConn.Close())
		if e.udpMux != nil {
			e.udpMux.wait()
		}
	}
	if e.tcpLn != nil {
		errs = append(errs, e.tcpLn.Close())
	}
	return errors.Join(errs...)
}

// Stats returns the server-wide media counters.
func (e *Engine) Stats() Stats {
	s := e.stats.snapshot()
	if b := e.batch; b != nil {
		s.BatchCalls, s.BatchPackets, s.BatchFailures = b.calls.Load(), b.packets.Load(), b.failures.Load()
	}
	if m := e.udpMux; m != nil {
		s.MuxDropped, s.MuxUnrouted = m.dropped.Load(), m.unrouted.Load()
	}
	return s
}

// Stats are cumulative media counters since the engine started.
type Stats struct {
	PacketsReceived  uint64 // RTP packets read from upstream tracks
	BytesReceived    uint64 // their payload bytes
	PacketsForwarded uint64 // RTP packets written to slots
	BytesForwarded   uint64 // their payload bytes
	SlotSwitches     uint64 // times a slot changed source (including to and from silence)
	SelectionTicks   uint64 // selections run by the routers' tickers (Router.tick)
	TickersRunning   int64  // routers whose ticker runs every SelectInterval now, not asleep
	StaleDrops       uint64 // packets that reached a slot after it switched away from their source
	SilenceHeld      uint64 // packets of silence received and not forwarded (source.holdSilence)
	WriteErrors      uint64 // slot writes that failed
	NotReadyDrops    uint64 // packets for a slot whose SRTP stream was not open yet; nothing was sent
	ICERestarts      uint64 // ICE restart offers made (RestartICE)
	Peers            int64  // PeerConnections open now
	BatchCalls       uint64 // sendmmsg calls on the mux socket (batch.go)
	BatchPackets     uint64 // datagrams those calls sent
	BatchFailures    uint64 // datagrams in them the kernel refused
	MuxDropped       uint64 // datagrams on the mux socket dropped because their peer's queue was full or closing (udpmux.go)
	MuxUnrouted      uint64 // datagrams on the mux socket that belonged to no peer
	FanoutSplits     uint64 // chunks of fan-outs forwarded by another core (fanout.go)
	DirectPeers      int64  // PeerConnections whose downstream takes the direct write path now (direct.go)
	ReportsSent      uint64 // sender reports sent for slots (reports.go)
	ReceptionReports uint64 // reception reports sent on upstreams
}

// counters are the live form of Stats. Updated on the hot path with atomic
// adds; a 2-core server makes contention on them negligible next to the
// SRTP and syscall cost of each packet.
type counters struct {
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	switches, staleDrops, writeErrors        atomic.Uint64
	silenceHeld                              atomic.Uint64
	ticks                                    atomic.Uint64
	notReadyDrops, iceRestarts, splits       atomic.Uint64
	peers, directPeers, tickersRunning       atomic.Int64
	reportsSent, receptionReports            atomic.Uint64
	nackResponders                           atomic.Uint64 // PeerConnections that built a NACK responder (nack.go)
}

func (c *counters) snapshot() Stats {
	return Stats{
		PacketsReceived: c.packetsIn.Load(), BytesReceived: c.bytesIn.Load(),
		PacketsForwarded: c.packetsOut.Load(), BytesForwarded: c.bytesOut.Load(),
		SlotSwitches: c.switches.Load(), SelectionTicks: c.ticks.Load(), TickersRunning: c.tickersRunning.Load(), StaleDrops: c.staleDrops.Load(), SilenceHeld: c.silenceHeld.Load(), WriteErrors: c.writeErrors.Load(),
		NotReadyDrops: c.notReadyDrops.Load(), ICERestarts: c.iceRestarts.Load(), FanoutSplits: c.splits.Load(),
		Peers: c.peers.Load(), DirectPeers: c.directPeers.Load(), ReportsSent: c.reportsSent.Load(), ReceptionReports: c.receptionReports.Load(),
	}
}
