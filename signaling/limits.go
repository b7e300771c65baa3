package signaling

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of the per-address bounds (Config.MaxSocketsPerIP, SocketRate,
// SocketBurst). One address may be a whole office behind a NAT, or a load
// test: the bounds are there to stop one address from holding the server,
// not to ration people.
const (
	DefaultMaxSocketsPerIP = 1000
	DefaultSocketRate      = 50   // new websockets per second per address, sustained
	DefaultSocketBurst     = 1000 // new websockets per address at once
)

// ipLimits bounds the websockets of each client address: how many may be
// open at once, and how fast new ones may be opened (a token bucket).
type ipLimits struct {
	maxOpen      int     // immutable; 0: no bound
	rate, burst  float64 // immutable; rate 0: no bound
	mu           sync.Mutex
	by           map[string]*ipState
	lastSweep    time.Time
	sweepEvery   time.Duration // immutable
	refusedTotal uint64        // guarded by mu
}

type ipState struct {
	open   int
	tokens float64
	at     time.Time // when tokens was computed
}

func newIPLimits(maxOpen int, rate float64, burst int) *ipLimits {
	return &ipLimits{maxOpen: maxOpen, rate: rate, burst: float64(burst), by: make(map[string]*ipState),
		sweepEvery: time.Minute}
}

// admit counts a new socket of ip, or refuses it: too many open, or
// opened too fast (retryAfter says when one more would be taken).
func (l *ipLimits) admit(ip string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	st := l.by[ip]
	if st == nil {
		st = &ipState{tokens: l.burst, at: now}
		l.by[ip] = st
	}
	if l.maxOpen > 0 && st.open >= l.maxOpen {
		l.refusedTotal++
		return false, time.Second
	}
	if l.rate > 0 {
		st.tokens = min(l.burst, st.tokens+now.Sub(st.at).Seconds()*l.rate)
		st.at = now
		if st.tokens < 1 {
			l.refusedTotal++
			return false, time.Duration((1 - st.tokens) / l.rate * float64(time.Second))
		}
		st.tokens--
	}
	st.open++
	return true, 0
}

// refused is how many sockets admit refused.
func (l *ipLimits) refused() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusedTotal
}

// release counts a socket of ip closed.
func (l *ipLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.by[ip]; st != nil {
		st.open--
	}
}

// sweep forgets, now and then, the addresses with nothing open whose
// bucket has refilled: they are as if never seen. mu held.
func (l *ipLimits) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.sweepEvery {
		return
	}
	l.lastSweep = now
	for ip, st := range l.by {
		if st.open == 0 && (l.rate == 0 || st.tokens+now.Sub(st.at).Seconds()*l.rate >= l.burst) {
			delete(l.by, ip)
		}
	}
}

// RemoteIP is the client address of r as the connection shows it: the
// default of Config.ClientIP.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ForwardedIP is the client address of a request that came through a
// reverse proxy the operator trusts: the last address of X-Forwarded-For
// (the one the proxy added), or RemoteIP when there is none. Only for
// servers that nothing but that proxy can reach.
func ForwardedIP(r *http.Request) string {
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return RemoteIP(r)
	}
	parts := strings.Split(xff[len(xff)-1], ",")
	if ip := strings.TrimSpace(parts[len(parts)-1]); ip != "" {
		return ip
	}
	return RemoteIP(r)
}
