package signaling

import (
	"bytes"
	"errors"
	"io"
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
// from a bounded queue. Anything may enqueue; nothing blocks on a slow
// client: when the queue is full the client is closed, and it resumes.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	opened time.Time
	limit  rateLimiter // reader goroutine only

	send      chan []byte
	closing   chan struct{} // closed once by close
	closeOnce sync.Once
	writerEnd chan struct{}

	// Set by join, on the reader goroutine, before anything else can see
	// the conn through its session.
	sess  *session
	pid   string
	epoch uint64
	peer  *sfu.Peer

	// welcomed is set under sess.mu when the welcome is enqueued; events
	// are sent only to welcomed conns.
	welcomed bool

	candMu    sync.Mutex
	offerSent bool     // the offer is enqueued
	pending   [][]byte // messages for after the offer, held back until it is

	leaving bool // the client asked to leave: no grace period

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
		send:      make(chan []byte, s.cfg.SendQueue),
		closing:   make(chan struct{}),
		writerEnd: make(chan struct{}),
	}
}

// run serves the socket until it closes, then cleans up.
func (c *conn) run() {
	go c.writer()
	c.reader()
	c.close()
	<-c.writerEnd
	_ = c.ws.Close()
	c.cleanup()
}

// enqueue queues one encoded message without blocking. A full queue means
// the client cannot keep up: it is closed (it resumes with a new socket).
func (c *conn) enqueue(msg []byte) {
	select {
	case <-c.closing:
	case c.send <- msg:
	default:
		c.s.log.Warn("send queue full, closing client", "session", c.sessionID(), "participant", c.pid)
		c.close()
	}
}

func (c *conn) sendMsg(v any) { c.enqueue(encode(v)) }

// fail sends an error and closes the socket once the error is written.
func (c *conn) fail(id, code, message string) {
	c.sendError(id, code, message)
	c.close()
}

func (c *conn) sendError(id, code, message string) {
	c.sendMsg(Error{Envelope: Envelope{Type: TypeError, ID: id}, Code: code, Message: message})
}

// close starts closing: the writer flushes what is queued, sends a close
// frame and ends; the reader then fails and run cleans up.
func (c *conn) close() {
	c.closeOnce.Do(func() { close(c.closing) })
}

func (c *conn) sessionID() string {
	if c.sess == nil {
		return ""
	}
	return c.sess.id
}

// reader reads and dispatches messages until the socket fails or closes.
func (c *conn) reader() {
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
			return
		}
		buf.Reset()
		n, err := buf.ReadFrom(io.LimitReader(r, int64(cfg.MaxMessageBytes)+1))
		if err != nil {
			return
		}
		if n > int64(cfg.MaxMessageBytes) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return // over the hard limit: gorilla closes the socket
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
		c.dispatch(buf.Bytes())
		select {
		case <-c.closing:
			return
		default:
		}
	}
}

// writer is the only goroutine writing to the socket.
func (c *conn) writer() {
	defer close(c.writerEnd)
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	write := func(kind int, msg []byte) error {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		return c.ws.WriteMessage(kind, msg)
	}
	for {
		select {
		case msg := <-c.send:
			if write(websocket.TextMessage, msg) != nil {
				c.close()
				return
			}
		case <-ping.C:
			if write(websocket.PingMessage, nil) != nil {
				c.close()
				return
			}
		case <-c.closing:
			for {
				select {
				case msg := <-c.send:
					if write(websocket.TextMessage, msg) != nil {
						return
					}
				default:
					_ = write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
					// Unblock the reader if the client does not answer the close.
					_ = c.ws.SetReadDeadline(time.Now().Add(time.Second))
					return
				}
			}
		}
	}
}

// afterOffer enqueues a message that must follow the offer (trickled
// candidates, slot assignments): until the offer is enqueued it is held
// back, in order.
func (c *conn) afterOffer(msg []byte) {
	c.candMu.Lock()
	defer c.candMu.Unlock()
	if !c.offerSent {
		c.pending = append(c.pending, msg)
		return
	}
	c.enqueue(msg)
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
