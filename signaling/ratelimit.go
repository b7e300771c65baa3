package signaling

import "time"

// rateLimiter is a token bucket for one connection's incoming messages.
// Used by the connection's reader goroutine only, so it needs no lock.
type rateLimiter struct {
	rate, burst, tokens float64
	last                time.Time
	lastReport          time.Time
}

// reportEvery spaces out rate_limited errors so a flood is not answered by
// a flood.
const reportEvery = time.Second

func newRateLimiter(rate float64, burst int) rateLimiter {
	return rateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// allow takes one token if there is one.
func (l *rateLimiter) allow(now time.Time) bool {
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// shouldReport reports whether a dropped message should be answered with
// an error: at most once per reportEvery.
func (l *rateLimiter) shouldReport(now time.Time) bool {
	if now.Sub(l.lastReport) < reportEvery {
		return false
	}
	l.lastReport = now
	return true
}
