package bots

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Websocket limits.
const (
	wsWriteTimeout = 5 * time.Second        // a write that takes longer fails
	wsReadLimit    = 1 << 20                // bytes; an offer with 16 slots is ~10 KB
	pongWait       = 10 * time.Second       // to write a pong before giving up on it
	closeTimeout   = 500 * time.Millisecond // for the leave and close frames on Close
)

// Config describes one bot.
type Config struct {
	URL     string // signaling websocket, e.g. ws://127.0.0.1:8080/ws
	Token   string // JWT sent in join
	Session string // session to join (may be empty when the token names one)
	Alias   string // optional display alias
	Index   int    // this bot's index in its run; written into every packet
	RunID   uint32 // the run's id; packets of other runs count as foreign
	Speak   bool   // speak from the moment ICE connects
	Level   uint8  // audio level in -dBov (0 loudest, 127 silence)
	// Muted, with Speak, is a microphone muted by its track that keeps
	// sending, as a browser's does: digital silence (level 127, whatever
	// Level says), for the whole run; 50 packets a second, or one in
	// dtxEvery when the offer asks for Opus DTX, as browsers then do. The
	// server holds them back after the first half second, and nobody is
	// owed them (Stats.Muted).
	Muted bool
	// API is the pion API to use; nil means a fresh NewAPI(LoopbackOnly).
	// Share one across the bots of a process.
	API *webrtc.API
	// Certificate is the DTLS certificate of the bot's PeerConnection; nil
	// means pion's default, a new key and certificate for each. Share one
	// across the bots of a process (sfu.NewCertificate), as a server does
	// across its peers: each handshake still agrees keys of its own.
	Certificate *webrtc.Certificate
	// LoopbackOnly restricts ICE to 127.0.0.1 when API is nil.
	LoopbackOnly bool
	// RelayOnly makes the bot's media go through the TURN server the
	// welcome names (ICE transport policy relay), as behind a NAT that
	// lets nothing else through. Without one, Dial fails.
	RelayOnly bool
	// OnMessage, when set, is called from the bot's read goroutine with
	// every server message (its type and raw JSON) before the bot handles
	// it. It must not block, nor call Close (which waits for that
	// goroutine).
	OnMessage func(msgType string, raw []byte)
	// OnPacket, when set, is called from a track reader goroutine with
	// every packet received, after it was counted: the slot it came on
	// (-1 for a track that is no slot), its RTP header, and its signature
	// (signed false when it carries none). It must not block nor keep h,
	// which is reused for the next packet.
	OnPacket func(slot int, h *rtp.Header, sig Signature, signed bool)
	// OnSend, when set, is called from the speaker goroutine with the
	// signature of every packet the local track accepted, after it was
	// counted. It must not block.
	OnSend func(sig Signature)
	// Chat, when set, is the participant's chat across its sockets: Dial
	// attaches it to the new bot and sends its chatSince in the join. To
	// rejoin after a cut, end the old bot's socket (Cut or Close) before
	// dialing the new one.
	Chat *Chat
}

// Bot is one load-test participant: a websocket, a PeerConnection with one
// upstream track, and counters. Its methods are safe for concurrent use.
type Bot struct {
	cfg   Config                      // immutable
	pc    *webrtc.PeerConnection      // immutable after Dial; never nil
	track *webrtc.TrackLocalStaticRTP // the microphone; immutable
	start time.Time                   // websocket dial start; immutable

	// ws is the current websocket: set before its read loop starts, and
	// replaced only by Resume once the previous one's read loop ended.
	// Reads of it from other goroutines hold wmu.
	ws  *websocket.Conn
	wmu sync.Mutex // serialises websocket writes (gorilla allows one writer); guards ws and cut
	cut bool       // Cut ended the socket: Close sends no leave

	clientID string // immutable: orders this bot's joins (join's clientId)
	attempt  uint64 // joins sent; Dial and Resume only
	url      string // the websocket URL joins go to: Config.URL, or where a redirect sent the bot; written by Dial and Resume under mu

	sig signalState // owned by the read loop goroutine

	// cand holds local candidates gathered before the first answer was
	// sent; pion gathers as soon as the answer is set locally.
	cand struct {
		mu       sync.Mutex
		answered bool                  // the first answer is sent
		queued   []signaling.Candidate // to send after it, in order
	}

	welcomed chan error // read loop → Dial: welcome (nil) or join error; cap 1
	answered chan error // read loop → Dial: first offer answered; cap 1

	connected   chan struct{} // closed when the PeerConnection is connected
	failed      chan struct{} // closed when the PeerConnection failed
	done        chan struct{} // closed when the current socket's read loop ended; guarded by mu
	closing     chan struct{} // closed by Close
	wake        chan struct{} // nudges the speaker; cap 1
	connectOnce sync.Once
	failOnce    sync.Once
	closeOnce   sync.Once
	closeErr    error
	wg          sync.WaitGroup // every goroutine the bot started

	level    atomic.Uint32                 // -dBov, 0..127
	speaking atomic.Bool                   // send packets; written under speakMu
	speakMu  sync.Mutex                    // held by the speaker from checking speaking to the write
	extID    atomic.Uint32                 // negotiated audio-level id; 0: none
	dtx      atomic.Bool                   // the offer asked for Opus DTX (usedtx=1): muted, send as DTX does
	audience atomic.Pointer[audience]      // nil: every other bot of the run
	window   atomic.Pointer[measureWindow] // nil: no window set

	mu     sync.Mutex // guards closed, participantID, slotMids and st
	closed bool       // no more goroutines may start
	// participantID is the server's id for this bot, from welcome.
	participantID string
	resumeKey     string   // from the welcome; sent by Resume
	version       uint64   // the newest session version applied (welcome snapshot, events)
	slotMids      []string // slot i's mid, from the latest offer
	st            counters
	rx            []*sfu.Reception // per slot, for the receiver reports (reports.go); nil until heard
}

// measureWindow is a send-time window, in Unix nanoseconds, inclusive.
type measureWindow struct{ from, to int64 }

func (w *measureWindow) contains(t int64) bool { return w != nil && t >= w.from && t <= w.to }

// Dial connects a bot: it opens the websocket, sends join, waits for the
// welcome, answers the server's offer and returns once the answer is sent.
// ICE and DTLS continue in the background (see WaitConnected). ctx bounds
// only these steps; the bot lives until Close. A join refused by the
// server returns a *ServerError.
func Dial(ctx context.Context, c Config) (*Bot, error) {
	api := c.API
	if api == nil {
		var err error
		if api, err = NewAPI(c.LoopbackOnly); err != nil {
			return nil, err
		}
	}
	b, err := newBot(c, api)
	if err != nil {
		return nil, err
	}
	b.start = time.Now()
	join := signaling.Join{
		Envelope: signaling.Envelope{Type: signaling.TypeJoin, ID: "join"}, Batch: true,
		Token: c.Token, Session: c.Session, Alias: c.Alias,
	}
	if err := b.joinFollowing(ctx, join); err != nil {
		if b.ws == nil {
			_ = b.pc.Close()
		} else {
			_ = b.Close()
		}
		return nil, err
	}
	if err := b.await(ctx, "offer", b.answered); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// maxRedirects bounds the redirects one join follows (a node that does
// not own the session names the one that does: one is the normal case).
const maxRedirects = 3

// joinFollowing opens a socket, sends join and waits for its welcome,
// following redirects to the node that owns the session (the bot keeps
// joining there, Resume too).
func (b *Bot) joinFollowing(ctx context.Context, join signaling.Join) error {
	for hop := 0; ; hop++ {
		if err := b.openSocket(ctx, join); err != nil {
			return err
		}
		err := b.await(ctx, "welcome", b.welcomed)
		var r *redirectError
		if !errors.As(err, &r) {
			return err
		}
		<-b.Done() // the server closes a redirected socket
		if hop == maxRedirects {
			return fmt.Errorf("bots: more than %d redirects, the last to %s", maxRedirects, r.url)
		}
		b.mu.Lock()
		b.url = r.url
		b.st.redirects++
		b.mu.Unlock()
		b.welcomed = make(chan error, 1)
	}
}

// redirectError is the read loop's report of a redirect answering a join.
type redirectError struct{ url string }

func (e *redirectError) Error() string { return "bots: redirected to " + e.url }

// openSocket dials a websocket, sends join on it and starts its read loop.
func (b *Bot) openSocket(ctx context.Context, join signaling.Join) error {
	if b.url == "" {
		b.mu.Lock()
		b.url = b.cfg.URL
		b.mu.Unlock()
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, b.url, nil)
	if err != nil {
		return fmt.Errorf("bots: dial %s: %w", b.url, err)
	}
	ws.SetReadLimit(wsReadLimit)
	// Answer the server's pings with the patience of a real client: gorilla's
	// default handler gives a pong one second and then fails the read,
	// which on a loaded load-test machine drops healthy bots.
	ws.SetPingHandler(func(data string) error {
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(pongWait))
		return nil
	})
	done := make(chan struct{})
	b.wmu.Lock()
	b.ws = ws
	b.cut = false
	b.wmu.Unlock()
	b.mu.Lock()
	b.done = done
	b.mu.Unlock()
	b.sig.welcomed = false
	b.attempt++
	join.ClientID, join.Attempt = b.clientID, b.attempt
	if b.cfg.Chat != nil {
		join.ChatSince = b.cfg.Chat.attach(b)
	}
	if err := b.Send(join); err != nil {
		return err
	}
	b.wg.Add(1)
	go b.readLoop(ws, done)
	return nil
}

// await waits for one step of a join: the read loop's report on ch, the
// socket's end, or ctx's.
func (b *Bot) await(ctx context.Context, name string, ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-b.Done():
		return fmt.Errorf("bots: socket closed waiting for %s: %w", name, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("bots: waiting for %s: %w", name, ctx.Err())
	}
}

// newBot builds the bot and its PeerConnection, with handlers set.
func newBot(c Config, api *webrtc.API) (*Bot, error) {
	b := &Bot{
		cfg:       c,
		welcomed:  make(chan error, 1),
		answered:  make(chan error, 1),
		connected: make(chan struct{}),
		failed:    make(chan struct{}),
		closing:   make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
	b.clientID = fmt.Sprintf("bot-%d-%x", c.Index, rand.Uint64())
	b.st.receivedBySource = make(map[int]uint64)
	b.st.receivedInWindow = make(map[int]uint64)
	b.level.Store(uint32(min(c.Level, levelSilence)))
	if c.Muted {
		b.level.Store(levelSilence)
	}
	b.speaking.Store(c.Speak)
	var err error
	b.track, err = webrtc.NewTrackLocalStaticRTP(opusCapability(), "mic", fmt.Sprintf("bot-%d", c.Index))
	if err != nil {
		return nil, fmt.Errorf("bots: track: %w", err)
	}
	pcc := webrtc.Configuration{ICETransportPolicy: b.policy()}
	if c.Certificate != nil {
		pcc.Certificates = []webrtc.Certificate{*c.Certificate}
	}
	if b.pc, err = api.NewPeerConnection(pcc); err != nil {
		return nil, fmt.Errorf("bots: peer connection: %w", err)
	}
	b.pc.OnICECandidate(b.onICECandidate)
	b.pc.OnICEConnectionStateChange(b.onICEState)
	b.pc.OnConnectionStateChange(b.onConnectionState)
	b.pc.OnTrack(b.onTrack)
	return b, nil
}

// goTracked starts f in a goroutine Close waits for, unless the bot is
// closing; it reports whether f was started.
func (b *Bot) goTracked(f func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
	return true
}

// ParticipantID returns the id the server gave this bot in its welcome.
func (b *Bot) ParticipantID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.participantID
}

// URL returns the websocket URL the bot joins at: Config.URL, or the node a
// redirect sent it to.
func (b *Bot) URL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.url
}

// Index returns the bot's index in its run.
func (b *Bot) Index() int { return b.cfg.Index }

// SelectedPair is the ICE candidate pair the bot's media uses, once ICE
// has selected one: which network (udp or tcp) and which candidate types
// (host, relay…) carry it.
func (b *Bot) SelectedPair() (*webrtc.ICECandidatePair, error) {
	sctp := b.pc.SCTP()
	if sctp == nil {
		return nil, errors.New("bots: no transport yet")
	}
	return sctp.Transport().ICETransport().GetSelectedCandidatePair()
}

// WaitConnected waits until the PeerConnection is connected (ICE and DTLS
// up). It fails when the connection failed, the bot was closed or the
// socket ended first, or ctx ends.
func (b *Bot) WaitConnected(ctx context.Context) error {
	select {
	case <-b.connected:
		return nil
	default:
	}
	select {
	case <-b.connected:
		return nil
	case <-b.failed:
		return ErrICEFailed
	case <-b.closing:
		return ErrClosed
	case <-b.Done():
		return fmt.Errorf("bots: socket closed before media connected: %w", ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("bots: waiting for media: %w", ctx.Err())
	}
}

// Done is closed when the bot's current websocket ended: the server closed
// it (after `replaced`, for instance), it failed, Cut or Close was called.
// After a Resume, Done is the new socket's.
func (b *Bot) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// Send marshals v as JSON and writes it to the websocket. Any protocol
// message may be sent, so tests can exercise other commands.
func (b *Bot) Send(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bots: encode: %w", err)
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	_ = b.ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := b.ws.WriteMessage(websocket.TextMessage, raw); err != nil {
		return fmt.Errorf("bots: send: %w", err)
	}
	return nil
}

// SetLevel sets the audio level of the packets sent from now on, in -dBov
// (0 loudest, 127 silence; larger values count as 127).
func (b *Bot) SetLevel(dBov uint8) { b.level.Store(uint32(min(dBov, levelSilence))) }

// SetSpeaking starts or stops sending. While stopped the bot sends
// nothing (as Opus DTX would): once SetSpeaking(false) returns, no packet
// is sent until SetSpeaking(true). On resume the sequence number continues
// by one and the timestamp jumps by the time spent silent, with the marker
// bit set.
func (b *Bot) SetSpeaking(on bool) {
	b.speakMu.Lock()
	b.speaking.Store(on)
	b.speakMu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// SetAudience sets the bot indices this bot expects to hear; a packet from
// any other source counts as foreign. nil restores the default, every
// other bot of the run; an empty non-nil slice expects silence.
func (b *Bot) SetAudience(indices []int) { b.SetAudienceFrom(indices, time.Time{}) }

// SetAudienceFrom changes the expected audience as of from (zero: now).
// The bot keeps the recent history of its audiences: a packet is expected
// when its source was in an audience that was in force at some instant
// between the packet's send time and its arrival. Tests widen the audience
// to old ∪ new room-mates before sending a move, and narrow it with from =
// the time the server's acknowledgement arrived: the server re-routes
// before it answers, so a packet sent after that from a source outside the
// new audience, which no audience in force since then includes, is a leak.
func (b *Bot) SetAudienceFrom(indices []int, from time.Time) {
	if from.IsZero() {
		from = time.Now()
	}
	a := &audience{start: from.UnixNano(), all: indices == nil, prev: b.audience.Load()}
	if indices != nil {
		a.set = make(map[int]bool, len(indices))
		for _, i := range indices {
			a.set[i] = true
		}
	}
	if a.prev == nil {
		a.prev = &audience{all: true} // the default before any call
	}
	a.trim(audienceHistory)
	b.audience.Store(a)
}

// audienceHistory bounds the audiences a bot remembers; packets are in
// flight for milliseconds, far less than this many changes take.
const audienceHistory = 64

// audience is one expected audience, in force from start until the start
// of the next one; prev is the one before. Nodes are immutable once
// published.
type audience struct {
	set   map[int]bool
	all   bool  // every other bot of the run
	start int64 // unix ns
	prev  *audience
}

// trim drops the history beyond n nodes.
func (a *audience) trim(n int) {
	for i := 1; a != nil; i++ {
		if i == n {
			a.prev = nil
			return
		}
		a = a.prev
	}
}

// expects reports whether a packet of src sent at sentAt and received at
// recvAt may arrive: src was in an audience in force at some instant of
// [sentAt, recvAt].
func (a *audience) expects(src int, sentAt, recvAt int64) bool {
	if a == nil {
		return true
	}
	end := int64(math.MaxInt64)
	for n := a; n != nil; end, n = n.start, n.prev {
		if end <= sentAt {
			return false // this audience and older ones ended before the packet was sent
		}
		if n.start <= recvAt && (n.all || n.set[src]) {
			return true
		}
	}
	return false
}

// SetWindow sets the measurement window: from now on, packets whose send
// time lies in [from, to] are counted apart (Stats.SentInWindow,
// Stats.ReceivedInWindowBySource) and only they feed the latency
// histogram, and every slot's packets and sources are recorded
// (Stats.SlotRecords). Set it before from; setting it resets the window
// counts, the records and the latency histogram.
func (b *Bot) SetWindow(from, to time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.window.Store(&measureWindow{from: from.UnixNano(), to: to.UnixNano()})
	b.st.sentInWindow = 0
	clear(b.st.receivedInWindow)
	b.st.latency = Histogram{}
	// Room for the window, the time until it and a second of drain at one
	// packet per interval; the records grow beyond that if they must.
	b.st.startRecords(int(max(time.Until(to)+time.Second, 0) / packetInterval))
}

// Close sends a best-effort leave, closes the websocket and the
// PeerConnection, and waits for every goroutine the bot started. It may be
// called more than once, but not from an OnMessage hook.
func (b *Bot) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.closing)
		b.wmu.Lock()
		if ws := b.ws; ws != nil {
			if !b.cut {
				deadline := time.Now().Add(closeTimeout)
				_ = ws.SetWriteDeadline(deadline)
				_ = ws.WriteJSON(signaling.Envelope{Type: signaling.TypeLeave})
				_ = ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), deadline)
			}
			_ = ws.Close()
		}
		b.wmu.Unlock()
		b.closeErr = b.pc.GracefulClose()
		b.wg.Wait()
		if errors.Is(b.closeErr, webrtc.ErrConnectionClosed) {
			b.closeErr = nil
		}
	})
	return b.closeErr
}
