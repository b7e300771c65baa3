package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
)

// lazyResponderFactory registers pion's NACK responder so that a
// PeerConnection builds one only when one of its streams negotiated NACK.
// A responder costs 8 kB from the start (the window it keeps to bound the
// rate of retransmissions) and parses every RTCP packet read; most
// subscribers negotiate no NACK for audio, and no upstream has any (the
// responder acts on slots only).
type lazyResponderFactory struct {
	f     *nack.ResponderInterceptorFactory
	built *atomic.Uint64 // responders built; may be nil
}

func (l lazyResponderFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return &lazyResponder{f: l.f, id: id, count: l.built}, nil
}

// lazyResponder stands for one PeerConnection's NACK responder: it builds
// it on the first local stream that negotiated NACK, and forwards to it
// from then on. pion binds RTCP readers as senders and receivers are made,
// before any stream; each reader starts going through the responder at
// its first read once it exists.
type lazyResponder struct {
	interceptor.NoOp
	f     *nack.ResponderInterceptorFactory
	id    string
	count *atomic.Uint64 // the factory's count of responders built; may be nil

	mu    sync.Mutex
	built interceptor.Interceptor          // nil until a stream negotiated NACK
	r     atomic.Pointer[lazyResponderRef] // built, for lock-free reads
}

type lazyResponderRef struct{ i interceptor.Interceptor }

func (l *lazyResponder) responder() interceptor.Interceptor {
	if ref := l.r.Load(); ref != nil {
		return ref.i
	}
	return nil
}

// BindLocalStream builds the responder for the first stream that
// negotiated NACK, and hands it every such stream.
func (l *lazyResponder) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !negotiatedNACK(info) {
		return w
	}
	l.mu.Lock()
	if l.built == nil {
		r, err := l.f.NewInterceptor(l.id)
		if err != nil {
			l.mu.Unlock()
			return w // pion's factory fails only on a bad option
		}
		l.built = r
		l.r.Store(&lazyResponderRef{i: r})
		if l.count != nil {
			l.count.Add(1)
		}
	}
	r := l.built
	l.mu.Unlock()
	return r.BindLocalStream(info, w)
}

func (l *lazyResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	if r := l.responder(); r != nil {
		r.UnbindLocalStream(info)
	}
}

// BindRTCPReader reads through the responder once there is one. A read
// that began before it was built hands it the packet it returns, so that
// no NACK for a stream it keeps goes unseen.
func (l *lazyResponder) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	var bound atomic.Pointer[interceptor.RTCPReader]
	bind := func(r interceptor.Interceptor) interceptor.RTCPReader {
		rr := r.BindRTCPReader(reader)
		if !bound.CompareAndSwap(nil, &rr) {
			return *bound.Load()
		}
		return rr
	}
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if rr := bound.Load(); rr != nil {
			return (*rr).Read(b, a)
		}
		if r := l.responder(); r != nil {
			return bind(r).Read(b, a)
		}
		n, a, err := reader.Read(b, a)
		r := l.responder()
		if err != nil || r == nil {
			return n, a, err
		}
		bind(r)
		again := interceptor.RTCPReaderFunc(func(q []byte, _ interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(q, b[:n]), a, nil
		})
		return r.BindRTCPReader(again).Read(b, a)
	})
}

func (l *lazyResponder) Close() error {
	if r := l.responder(); r != nil {
		return r.Close()
	}
	return nil
}

// negotiatedNACK is pion's test for a stream the responder keeps.
func negotiatedNACK(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}
