package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// conn is one websocket. Its reader goroutine (run) alone reads and
// dispatches messages; its writer goroutine alone writes to the socket,
// from the outbox. Anything may enqueue; nothing blocks on a slow client: a
// client that falls behind on events is resynced with a snapshot, one that
// stops reading altogether is closed (and resumes with a new socket).
type conn struct {
	s      *Server
	ws     *websocket.Conn
	opened time.Time
	limit  rateLimiter // reader goroutine only

	out       *outbox
	closing   chan struct{} // closed once by close
	closeOnce sync.Once
	cause     atomic.Pointer[string] // why the socket closed, first reason wins; logged at the end
	writerEnd chan struct{}
	batching  atomic.Bool // the client accepts batch frames (join's "batch")

	// Set by join, on the reader goroutine, before anything else can see
	// the conn through its session.
	sess    *session
	pid     string
	epoch   uint64
	peer    *sfu.Peer // the record's PeerConnection, created for this socket or kept from the last
	link    *peerLink // routes peer's callbacks to the socket holding the record
	resumed bool      // the join kept the PeerConnection of an earlier socket

	// The answer to join: exactly one per join, carrying its id. A
	// `replaced` that comes before the welcome is that answer.
	ansMu    sync.Mutex
	joinID   string
	answered bool

	candMu    sync.Mutex
	offerSent bool     // the offer is enqueued
	pending   [][]byte // messages for after the offer, held back until it is

	leaving bool // the client asked to leave: no grace period

	connected    atomic.Bool  // the PeerConnection is connected (as its last state change said)
	mediaMu      sync.Mutex   // guards mediaTimer
	mediaTimer   *time.Timer  // fails the socket if media does not connect in time
	roleNow      atomic.Value // rooms.Role: kept current from events, for alert delivery
	lastReaction time.Time    // reader goroutine only
}

// role is the participant's current role, as the events told it.
func (c *conn) role() rooms.Role {
	r, _ := c.roleNow.Load().(rooms.Role)
	return r
}

func (c *conn) setRole(r rooms.Role) { c.roleNow.Store(r) }

func newConn(s *Server, ws *websocket.Conn) *conn {
	return &conn{
		s: s, ws: ws, opened: time.Now(),
		limit:     newRateLimiter(s.cfg.Rate, s.cfg.Burst),
		out:       newOutbox(s.cfg.SendQueue, s.cfg.SendQueue),
		closing:   make(chan struct{}),
		writerEnd: make(chan struct{}),
	}
}

// run serves the socket until it closes, then cleans up. The cleanup runs
// whatever happened, a panic included.
func (c *conn) run() {
	go c.writer()
	var readErr error
	defer func() {
		c.closeFor("read: " + errText(readErr))
		<-c.writerEnd
		_ = c.ws.Close()
		if c.sess != nil {
			c.s.log.Info("socket closed", "session", c.sess.id, "participant", c.pid,
				"cause", *c.cause.Load(), "after", time.Since(c.opened).Round(time.Millisecond))
		}
		c.cleanup()
	}()
	readErr = c.reader()
}

// errText is err's text, or "closed by the server" for nil (the reader
// saw the socket closing).
func errText(err error) string {
	if err == nil {
		return "closed by the server"
	}
	return err.Error()
}

// enqueue queues one encoded message that is not an event, without
// blocking. A client with too many such messages unread is not reading: it
// is closed (it resumes with a new socket).
func (c *conn) enqueue(msg []byte) {
	if !c.out.put(msg) {
		select {
		case <-c.closing:
		default:
			c.s.log.Warn("client stopped reading, closing it", "session", c.sessionID(), "participant", c.pid)
		}
		c.closeFor("client stopped reading")
	}
}

func (c *conn) sendMsg(v any) { c.enqueue(encode(v)) }

// fail sends an error as the socket's last message and closes it once the
// error is written.
func (c *conn) fail(id, code, message string) {
	c.closeWith("error "+code, encode(Error{Envelope: Envelope{Type: TypeError, ID: id}, Code: code, Message: message}))
}

// closeWith queues msg as the socket's last message and starts closing
// (for the reason why, logged at the end): nothing is queued after it. On a
// socket already closing, msg is dropped.
func (c *conn) closeWith(why string, msg []byte) {
	c.cause.CompareAndSwap(nil, &why)
	c.closeOnce.Do(func() {
		close(c.closing)
		c.out.putLast(msg)
	})
}

func (c *conn) sendError(id, code, message string) {
	c.sendMsg(Error{Envelope: Envelope{Type: TypeError, ID: id}, Code: code, Message: message})
}

// closeFor records why the socket closes, unless a reason was recorded
// already, and closes it.
func (c *conn) closeFor(why string) {
	c.cause.CompareAndSwap(nil, &why)
	c.close()
}

// close starts closing: the outbox takes nothing more, the writer flushes
// what is queued, sends a close frame and ends; the reader then fails and
// run cleans up. Prefer closeFor, which says why.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.closing) // first: a put refused from now on is not an overflow
		c.out.close()
	})
}

func (c *conn) sessionID() string {
	if c.sess == nil {
		return ""
	}
	return c.sess.id
}

// reader reads and dispatches messages until the socket fails or closes.
// Until a join succeeds the socket has AuthTimeout to send one; after it,
// ReadTimeout of silence (pongs count) closes it, and the PeerConnection's
// own ConnectTimeout decides whether media came up. It returns the read
// error that ended it, or nil when the socket was closing.
func (c *conn) reader() error {
	cfg := &c.s.cfg
	c.ws.SetReadLimit(int64(cfg.HardLimitBytes))
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.AuthTimeout))
	c.ws.SetPongHandler(func(string) error {
		if c.sess != nil {
			return c.ws.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		}
		return nil
	})
	var buf bytes.Buffer // one message, reused
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			if c.sess == nil && isTimeout(err) {
				c.fail("", CodeAuthTimeout, "no join within "+cfg.AuthTimeout.String())
			}
			return err
		}
		buf.Reset()
		n, err := buf.ReadFrom(io.LimitReader(r, int64(cfg.MaxMessageBytes)+1))
		if err != nil {
			return err
		}
		if n > int64(cfg.MaxMessageBytes) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err // over the hard limit: gorilla closes the socket
			}
			c.sendError("", CodeTooLarge, "messages are limited to "+strconv.Itoa(cfg.MaxMessageBytes)+" bytes")
			continue
		}
		if c.sess != nil {
			_ = c.ws.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		}
		if !c.limit.allow(time.Now()) {
			if c.limit.shouldReport(time.Now()) {
				c.sendError("", CodeRateLimited, "too many messages; some were dropped")
			}
			continue
		}
		if kind != websocket.TextMessage {
			c.sendError("", CodeBadMessage, "messages are JSON text frames")
			continue
		}
		joined := c.sess != nil
		c.dispatchSafely(buf.Bytes())
		if buf.Cap() > keepReadBytes {
			buf = bytes.Buffer{} // a large message (an SDP answer) does not stay with the socket
		}
		if !joined && c.sess != nil {
			// The join deadline is over: from now on silence decides.
			_ = c.ws.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		}
		select {
		case <-c.closing:
			return nil
		default:
		}
	}
}

// dispatchSafely dispatches one message; a panic in its handler is logged
// with its stack, answered internal, and closes this socket (its cleanup
// then runs as for any close). No other socket is affected.
func (c *conn) dispatchSafely(raw []byte) {
	defer func() {
		if v := recover(); v != nil {
			var env Envelope
			_ = json.Unmarshal(raw, &env)
			c.s.log.Error("panic in a message handler", "session", c.sessionID(), "participant", c.pid,
				"type", env.Type, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.fail(env.ID, CodeInternal, "the server failed on this message; reconnect to resume")
		}
	}()
	c.dispatch(raw)
}

// writer is the only goroutine writing to the socket. It sends what the
// outbox holds, batched into one frame when the client accepts batches,
// and resyncs a client that fell behind on events.
//
// Events are paced for a client that takes batches: an event that finds
// the socket quiet for Config.EventPace goes at once, and those that come
// sooner wait for the pace and go together. In a join storm (each join is
// an event to everyone, and another when its media connects) that is one
// write, one wake-up and one read on each side where there were as many as
// events. Anything else (an answer, the offer, a candidate, slots) goes at
// once and takes the waiting events with it, in order.
func (c *conn) writer() {
	defer close(c.writerEnd)
	defer func() {
		if v := recover(); v != nil {
			c.s.log.Error("panic in a socket writer", "session", c.sessionID(), "participant", c.pid,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.closeFor("panic in the writer")
			_ = c.ws.SetReadDeadline(time.Now()) // unblock the reader
		}
	}()
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	write := func(kind int, msg []byte) error {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		return c.ws.WriteMessage(kind, msg)
	}
	var (
		msgs       [][]byte
		lastEvents time.Time // when the last frame that carried events was written
		pace       = time.NewTimer(time.Hour)
		held       bool // events wait for pace
	)
	pace.Stop()
	defer pace.Stop()
	for {
		select {
		case <-c.out.wake:
			if since := time.Since(lastEvents); since < c.s.cfg.EventPace && c.batching.Load() && c.out.onlyEvents() {
				if !held {
					pace.Reset(c.s.cfg.EventPace - since)
					held = true
				}
				continue
			}
		case <-pace.C:
			held = false
		case <-ping.C:
			if err := write(websocket.PingMessage, nil); err != nil {
				c.closeFor("write ping: " + err.Error())
				_ = c.ws.SetReadDeadline(time.Now())
				return
			}
			continue
		}
		if held { // a message that is not an event goes now, and the events with it
			pace.Stop()
			held = false
		}
		var (
			events         int
			resync, closed bool
		)
		msgs, events, resync, closed = c.out.take(msgs[:0])
		if resync {
			c.resync()
			more, moreEvents, _, nowClosed := c.out.take(nil)
			msgs, events, closed = append(msgs, more...), events+moreEvents, closed || nowClosed
		}
		if events > 0 {
			lastEvents = time.Now()
		}
		var batch *bytes.Buffer // taken only to write a batch
		if len(msgs) > 1 && c.batching.Load() {
			batch = takeBatchBuffer()
		}
		for rest := msgs; len(rest) > 0; {
			var frame []byte
			frame, rest = nextFrame(rest, batch != nil, batch)
			if err := write(websocket.TextMessage, frame); err != nil {
				c.closeFor("write: " + err.Error())
				_ = c.ws.SetReadDeadline(time.Now())
				return
			}
			c.s.frames.Add(1)
		}
		if batch != nil {
			putBatchBuffer(batch)
		}
		c.s.messages.Add(uint64(len(msgs)))
		clear(msgs)
		if cap(msgs) > keepQueued {
			msgs = nil // the burst of a join storm does not stay with the socket
		}
		if closed {
			_ = write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			// Unblock the reader if the client does not answer the close.
			_ = c.ws.SetReadDeadline(time.Now().Add(time.Second))
			return
		}
	}
}

// resync brings a client that fell behind on events up to date: a snapshot
// message (no id), then the events after it. Runs on the writer goroutine.
func (c *conn) resync() {
	for range maxCatchUpTries {
		snap, err := c.s.hub.Snapshot(c.sess.id)
		if err != nil {
			c.fail("", CodeSessionNotFound, "the session is gone")
			return
		}
		lead := encode(SnapshotMessage{Envelope: Envelope{Type: TypeSnapshot}, Snapshot: toWireSnapshot(snap)})
		if c.sess.catchUp(c, snap.Version, lead, false) {
			c.s.resyncs.Add(1)
			return
		}
	}
	c.closeFor("resync gave up")
}

// afterOffer enqueues a message that must follow the offer (trickled
// candidates, slot assignments): until the offer is enqueued it is held
// back, in order.
func (c *conn) afterOffer(msg []byte) {
	c.candMu.Lock()
	defer c.candMu.Unlock()
	select {
	case <-c.closing:
		return // nothing more goes out; do not hoard
	default:
	}
	if !c.offerSent {
		c.pending = append(c.pending, msg)
		return
	}
	c.enqueue(msg)
}

// holdForOffer makes afterOffer hold messages back again until the next
// offerDone: ICE restart candidates must not overtake their offer.
func (c *conn) holdForOffer() {
	c.candMu.Lock()
	defer c.candMu.Unlock()
	c.offerSent = false
}

// offerDone releases the messages held back by afterOffer.
func (c *conn) offerDone() {
	c.candMu.Lock()
	defer c.candMu.Unlock()
	c.offerSent = true
	for _, m := range c.pending {
		c.enqueue(m)
	}
	c.pending = nil
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
