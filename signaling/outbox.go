package signaling

import (
	"bytes"
	"sync"
)

// outbox is one connection's queue of encoded messages for its writer
// goroutine. Anything may put into it without blocking; one mutex orders
// every put against close, so what the writer sends is a prefix of what
// was accepted: never a later event without the earlier ones.
//
// Two kinds of message, two policies:
//   - events (versioned session changes) are state the client can get back
//     from a snapshot. When more than maxEvents are waiting, the client is
//     behind: the waiting events are dropped, the outbox turns lagging and
//     takes no more events, and the writer resyncs it with a fresh snapshot
//     followed by the events after it (session.catchUp). A slow client is
//     brought up to date, never disconnected for being slow.
//   - everything else (answers, the offer, candidates, slots) is owed to
//     this client as it was said. When more than maxDirect are waiting the
//     client is not reading at all: the outbox closes.
//
// A new outbox is lagging: a connection gets no events before its welcome,
// which catches it up.
type outbox struct {
	maxEvents, maxDirect int // immutable; > 0

	mu      sync.Mutex
	msgs    []outMsg // waiting, oldest first
	events  int      // how many of msgs are events
	lagging bool     // events are refused until the writer resyncs
	resync  bool     // the writer should resync (set when events were dropped)
	closed  bool     // nothing more is accepted
	dropped uint64   // events dropped for lagging, over the outbox's life

	wake chan struct{} // 1-buffered: msgs, resync or closed changed
}

// outMsg is one encoded message.
type outMsg struct {
	b     []byte
	event bool
}

func newOutbox(maxEvents, maxDirect int) *outbox {
	return &outbox{maxEvents: maxEvents, maxDirect: maxDirect, lagging: true, wake: make(chan struct{}, 1)}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// put queues a message that is not an event. It reports false when the
// outbox is closed or has just closed because the client stopped reading.
func (o *outbox) put(b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	if len(o.msgs)-o.events >= o.maxDirect {
		o.closed = true
		o.signal()
		return false
	}
	o.msgs = append(o.msgs, outMsg{b: b})
	o.signal()
	return true
}

// putLast queues a last message (an error that closes, `replaced`,
// `removed`) and closes the outbox in the same step, so that nothing can
// follow it. It reports false when the outbox was closed already.
func (o *outbox) putLast(b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.msgs = append(o.msgs, outMsg{b: b})
	o.closed = true
	o.signal()
	return true
}

// putEvent queues an event, unless the outbox is lagging or closed. When
// it is the one event too many, it drops every waiting event and asks the
// writer to resync instead.
func (o *outbox) putEvent(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.lagging {
		return
	}
	if o.events >= o.maxEvents {
		kept := o.msgs[:0]
		for _, m := range o.msgs {
			if !m.event {
				kept = append(kept, m)
			}
		}
		clear(o.msgs[len(kept):]) // let the dropped buffers go
		o.msgs = kept
		o.dropped += uint64(o.events) + 1
		o.events = 0
		o.lagging, o.resync = true, true
		o.signal()
		return
	}
	o.msgs = append(o.msgs, outMsg{b: b, event: true})
	o.events++
	o.signal()
}

// catchUp ends lagging: it queues lead (a welcome or a snapshot) and then
// the events that follow it, all at once, and accepts events again. The
// caller holds the session lock, so no event is broadcast in between.
func (o *outbox) catchUp(lead []byte, events [][]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.msgs = append(o.msgs, outMsg{b: lead})
	for _, e := range events {
		o.msgs = append(o.msgs, outMsg{b: e, event: true})
		o.events++
	}
	o.lagging, o.resync = false, false
	o.signal()
}

// onlyEvents reports whether everything waiting is events: nothing owed
// to the client as an answer, no resync, not closed. The writer may then
// hold them for a moment to send more in one frame (Config.EventPace).
func (o *outbox) onlyEvents() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs) == o.events && !o.resync && !o.closed
}

// close stops accepting messages; what is waiting is still taken.
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		o.signal()
	}
}

// take hands the writer every waiting message, how many of them are
// events, and whether it must resync first. closed says nothing more will
// come after these.
func (o *outbox) take(into [][]byte) (msgs [][]byte, events int, resync, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.msgs {
		into = append(into, m.b)
	}
	events = o.events
	clear(o.msgs)
	if cap(o.msgs) > keepQueued {
		o.msgs = nil
	} else {
		o.msgs = o.msgs[:0]
	}
	o.events = 0
	resync = o.resync && !o.closed
	o.resync = false
	return into, events, resync, o.closed
}

// maxBatchBytes bounds one batch frame. A message larger than this (a big
// snapshot) is sent alone.
const maxBatchBytes = 256 << 10

// What a socket keeps between messages, in memory that grows with the
// largest message or burst it met: its reader's message buffer up to
// keepReadBytes, its writer's list of waiting messages up to keepQueued
// entries. Beyond that the memory goes back to the heap once used, so a
// join storm or an SDP answer does not leave every socket holding what it
// needed once. Batch frames are built in buffers shared by every writer
// (batchBuffers), which keeps those of up to keepBatchBytes.
const (
	keepReadBytes  = 4 << 10
	keepQueued     = 64
	keepBatchBytes = 64 << 10
)

var batchBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func takeBatchBuffer() *bytes.Buffer { return batchBuffers.Get().(*bytes.Buffer) }

func putBatchBuffer(b *bytes.Buffer) {
	if b.Cap() <= keepBatchBytes {
		batchBuffers.Put(b)
	}
}

var (
	batchOpen  = []byte(`{"type":"` + TypeBatch + `","messages":[`)
	batchClose = []byte(`]}`)
)

// nextFrame returns the next frame to write from msgs and the rest: one
// message as it is, or, when batching, as many consecutive messages as fit
// in maxBatchBytes wrapped in one batch message. buf is reused for the
// batch's bytes.
func nextFrame(msgs [][]byte, batching bool, buf *bytes.Buffer) (frame []byte, rest [][]byte) {
	if !batching || len(msgs) == 1 || len(msgs[0])+len(msgs[1]) > maxBatchBytes {
		return msgs[0], msgs[1:]
	}
	buf.Reset()
	buf.Write(batchOpen)
	n := 0
	for n < len(msgs) && (n == 0 || buf.Len()+len(msgs[n])+len(batchClose)+1 <= maxBatchBytes) {
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(msgs[n])
		n++
	}
	buf.Write(batchClose)
	return buf.Bytes(), msgs[n:]
}
