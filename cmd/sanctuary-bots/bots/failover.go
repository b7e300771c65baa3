package bots

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Rejoin is how a Keeper brings its participant back when its socket
// ends: the node URLs to join through and the bounds of its retries.
type Rejoin struct {
	// URLs are signaling websocket URLs of the nodes, tried in turn from
	// the first: the stand-in for a load balancer in front of them. Empty:
	// the Config's URL alone.
	URLs []string
	// MinDelay and MaxDelay bound the wait between two attempts: it starts
	// at MinDelay and doubles up to MaxDelay, with ±20% jitter. Zero:
	// DefaultMinDelay, DefaultMaxDelay.
	MinDelay, MaxDelay time.Duration
	// Patience bounds one rejoin, from the socket's end to a welcome;
	// zero: DefaultPatience. A Keeper that runs out of it stops (Err).
	Patience time.Duration
	// AttemptTimeout bounds one join attempt (dial, redirects, welcome,
	// offer); zero: DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// Rejoin defaults.
const (
	DefaultMinDelay       = 100 * time.Millisecond // first wait between attempts
	DefaultMaxDelay       = time.Second            // the longest wait; a lease is a few seconds
	DefaultPatience       = time.Minute            // far beyond a lease plus a reconnect
	DefaultAttemptTimeout = 10 * time.Second       // one dial, join and offer on a busy machine
)

// Keeper keeps one participant in its session the way a browser does: when
// its socket ends (not by replaced, removed or Close) it first resumes on
// the node it was on, keeping the PeerConnection; when that node is gone
// or did not keep it, it drops the PeerConnection (without a leave) and
// joins anew with the same token, through Rejoin.URLs in turn, following
// redirects, and retrying connection failures and session_moving (the
// node that died still holds the session's lease) with a bounded backoff,
// until a live node has taken the session over and welcomes it: the same
// participant record (id, role, room), with a new PeerConnection. Its
// methods are safe for concurrent use.
type Keeper struct {
	cfg Config // immutable; URL is the first node's
	re  Rejoin // immutable, defaults filled

	mu       sync.Mutex
	bot      *Bot  // the current bot; never nil after Keep
	redials  int   // bots dialled after the first (new PeerConnections)
	resumes  int   // sockets resumed on the same PeerConnection
	attempts int   // join attempts that failed, in every rejoin
	err      error // why the Keeper stopped; nil while it keeps

	closing chan struct{} // closed by Close
	stopped chan struct{} // closed when the watch goroutine ended
	once    sync.Once
}

// Keep dials a bot with c through re.URLs[0] (c.URL when re.URLs is
// empty) and keeps it in its session until Close. ctx bounds only the
// first join.
func Keep(ctx context.Context, c Config, re Rejoin) (*Keeper, error) {
	if len(re.URLs) == 0 {
		re.URLs = []string{c.URL}
	}
	re.MinDelay = cmp0(re.MinDelay, DefaultMinDelay)
	re.MaxDelay = cmp0(re.MaxDelay, DefaultMaxDelay)
	re.Patience = cmp0(re.Patience, DefaultPatience)
	re.AttemptTimeout = cmp0(re.AttemptTimeout, DefaultAttemptTimeout)
	k := &Keeper{cfg: c, re: re, closing: make(chan struct{}), stopped: make(chan struct{})}
	// The first join is retried as a rejoin is (a socket closed before the
	// welcome, session_moving while nodes settle who holds a new session),
	// through the first URL, within Patience.
	deadline := time.Now().Add(re.Patience)
	delay := re.MinDelay
	var b *Bot
	for {
		var err error
		if b, err = Dial(ctx, k.configFor(re.URLs[0])); err == nil {
			break
		}
		if fatal(err) || time.Now().Add(delay).After(deadline) {
			return nil, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		}
		delay = min(2*delay, re.MaxDelay)
	}
	k.bot = b
	go k.watch()
	return k, nil
}

// cmp0 is d, or def when d is not positive.
func cmp0(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// configFor is the bot's Config joining through url.
func (k *Keeper) configFor(url string) Config {
	c := k.cfg
	c.URL = url
	return c
}

// Bot returns the current bot: after a rejoin on another node, a new one.
func (k *Keeper) Bot() *Bot {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.bot
}

// KeeperStats counts what a Keeper did.
type KeeperStats struct {
	Redials  int // new bots (PeerConnections) after the first: rejoins on another node
	Resumes  int // sockets resumed with the PeerConnection kept
	Attempts int // failed join attempts (refused, session_moving, redirect to a dead node…)
}

// Stats returns the Keeper's counts.
func (k *Keeper) Stats() KeeperStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return KeeperStats{Redials: k.redials, Resumes: k.resumes, Attempts: k.attempts}
}

// Err returns why the Keeper stopped keeping its participant (replaced,
// removed, a join refused for good, out of patience), or nil.
func (k *Keeper) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// Close stops the Keeper and closes its bot (with a leave).
func (k *Keeper) Close() error {
	k.once.Do(func() { close(k.closing) })
	<-k.stopped
	return k.Bot().Close()
}

// ErrGivenUp: the Keeper stopped rejoining (see Keeper.Err).
var ErrGivenUp = errors.New("bots: keeper gave up")

// watch waits for the current bot's socket to end and brings it back.
func (k *Keeper) watch() {
	defer close(k.stopped)
	for {
		b := k.Bot()
		select {
		case <-k.closing:
			return
		case <-b.Done():
		}
		if st := b.Stats(); st.Replaced {
			k.stop(errors.Join(ErrGivenUp, errors.New("replaced by another connection")))
			return
		}
		if err := k.rejoin(b); err != nil {
			k.stop(err)
			return
		}
	}
}

// stop records why the Keeper stopped.
func (k *Keeper) stop(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.err = err
}

// rejoin brings the participant of b back: a resume on b's node first,
// then new bots through the URLs until one is welcomed.
func (k *Keeper) rejoin(b *Bot) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.re.Patience)
	defer cancel()
	go func() {
		select {
		case <-k.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	attempt := func(f func(context.Context) error) error {
		actx, acancel := context.WithTimeout(ctx, k.re.AttemptTimeout)
		defer acancel()
		return f(actx)
	}
	err := attempt(b.Resume)
	if err == nil {
		k.mu.Lock()
		k.resumes++
		k.mu.Unlock()
		return nil
	}
	if fatal(err) {
		return errors.Join(ErrGivenUp, err)
	}
	// The PeerConnection is not coming back: drop it without a leave (a
	// leave would end the record the next join takes over).
	b.Cut()
	_ = b.Close()
	delay := k.re.MinDelay
	for i := 0; ; i++ {
		url := k.re.URLs[i%len(k.re.URLs)]
		var nb *Bot
		err := attempt(func(actx context.Context) error {
			var err error
			nb, err = Dial(actx, k.configFor(url))
			return err
		})
		if err == nil {
			k.mu.Lock()
			k.bot, k.redials = nb, k.redials+1
			k.mu.Unlock()
			return nil
		}
		if fatal(err) {
			return errors.Join(ErrGivenUp, err)
		}
		k.mu.Lock()
		k.attempts++
		k.mu.Unlock()
		// Every node once, then wait: a load balancer would send us to a
		// live one, and a dead owner's lease takes a while to expire.
		if (i+1)%len(k.re.URLs) != 0 {
			continue
		}
		wait := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return errors.Join(ErrGivenUp, ctx.Err(), err)
		}
		delay = min(2*delay, k.re.MaxDelay)
	}
}

// fatal reports whether a join error ends the rejoining: a refusal by the
// server for this participant (unauthorised, removed, session ended…).
// Connection failures, sockets closed before a welcome, timeouts,
// ErrNotResumed and the refusals of a node that cannot serve the session
// now (session_moving, shutting_down, server_full, internal) are worth
// another attempt.
func fatal(err error) bool {
	var se *ServerError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case signaling.CodeSessionMoving, signaling.CodeShuttingDown, signaling.CodeServerFull, signaling.CodeInternal:
		return false
	}
	return true
}
